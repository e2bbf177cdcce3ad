// The agents' Registry port over HTTP: layers pulled as blobs from any OCI distribution registry
// (GET /v2/<repository>/blobs/<digest>, docs: opencontainers/distribution-spec "Pulling blobs"), resumed with a
// `Range: bytes=<offset>-` request, written to the node's LayerStore and verified by SHA-256 before they count.
// Plain HTTP only (a registry behind a TLS-terminating proxy, or on the site's network); redirects to blob storage
// are followed. Every result comes back later, from the io_context, never inside start_fetch.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "fleetsim/agents/ports.hpp"
#include "fleetsim/models/pull_connections.hpp"
#include "fleetsim/net/layer_store.hpp"
#include "fleetsim/net/netns.hpp"

namespace fleetsim::net {

// "http://host[:port][/path]". https and anything else is an error naming the URL.
struct HttpUrl {
  std::string host;
  std::string port = "80";
  std::string target = "/";  // path and query
  static HttpUrl parse(const std::string& url);
  std::string str() const { return "http://" + host + ":" + port + target; }
};

struct HttpRegistryConfig {
  std::string url;         // the registry's base URL, e.g. http://registry.local:5000
  std::string repository;  // the image's name in the registry, e.g. fleet/pos
  // A pull that receives nothing for this long fails (a silent link); the agent retries with back-off.
  std::chrono::milliseconds idle_timeout{30000};
  unsigned max_redirects = 3;
  // Emulated latency (fleetsim emulate on loopback, where the real round trips are ~0): each pull waits, before it
  // connects, the round trips the simulator charges it (models::PullConnections: a new connection's setup_rtts and
  // the request; a kept-alive one only the request), and the response's way back. rtt_s = 0: no wait, the
  // network's own latency only.
  double rtt_s = 0;
  double setup_rtts = 2;
  double keep_alive_s = 90;
  // Where each pull's socket is opened (a site's network namespace, behind its shaped link); unset: where the io
  // thread is.
  SocketOpener open_socket{};
};

class TokenBucket;

class HttpRegistry final : public agents::Registry {
 public:
  using Done = std::function<void(agents::TransferId, const agents::FetchResult&)>;
  HttpRegistry(boost::asio::io_context& io, HttpRegistryConfig config, LayerStore& store, Done done);
  ~HttpRegistry() override;
  HttpRegistry(const HttpRegistry&) = delete;
  HttpRegistry& operator=(const HttpRegistry&) = delete;

  agents::TransferId start_fetch(const agents::Layer& layer, std::uint64_t offset) override;
  void cancel_fetch(agents::TransferId id) override;
  void remove_layer(const std::string& digest) override;
  std::size_t active() const { return fetches_.size(); }
  // The path to the registry is cut (fleetsim emulate's partition of a site): every pull in flight fails now,
  // keeping the bytes it stored for a resume, as the simulator fails them at a cut; a new pull fails at once (from
  // the io_context) until the path is back.
  void set_reachable(bool reachable);
  static const char* const kUnreachable;
  // Pulls read no faster than this bucket lets them (shared by the nodes of a site: its uplink); nullptr: no limit.
  void limit(std::shared_ptr<TokenBucket> bucket) { bucket_ = std::move(bucket); }

  class Fetch;

 private:
  void finished(agents::TransferId id, const agents::FetchResult& result);
  boost::asio::io_context& io_;
  HttpRegistryConfig config_;
  HttpUrl base_;
  LayerStore& store_;
  Done done_;
  std::map<agents::TransferId, std::shared_ptr<Fetch>> fetches_;
  agents::TransferId next_ = 1;
  std::shared_ptr<TokenBucket> bucket_;
  models::PullConnections connections_;  // only with config_.rtt_s > 0
  std::chrono::steady_clock::time_point epoch_ = std::chrono::steady_clock::now();
  bool reachable_ = true;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Uploads a blob to an OCI distribution registry (POST .../blobs/uploads/, then PUT ...&digest=, monolithic);
// returns its digest. Blocking, with a timeout: for setting up an emulated fleet's registry and for tests.
std::string push_blob(const std::string& registry_url, const std::string& repository, const std::string& bytes,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(60000));

}  // namespace fleetsim::net
