// The real agent's pulls (net/, issue 14): the agents library's NodeAgent, unchanged, pulling layers through
// HttpRegistry from a real OCI registry (Debian's docker-registry, the CNCF distribution registry, started here on a
// free port), into a LayerStore on disk, verified by SHA-256. A proxy between them cuts, corrupts or strips the Range
// of a response, so resume, digest checks and servers that ignore Range are shown on real HTTP.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "fleetsim/agents/node_agent.hpp"
#include "fleetsim/net/asio_ports.hpp"
#include "fleetsim/net/http_registry.hpp"
#include "fleetsim/net/layer_store.hpp"
#include "fleetsim/net/token_bucket.hpp"
#include "net_test_support.hpp"

namespace fleetsim::net {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using asio::ip::tcp;
using namespace fleetsim::net::testing;

// ---- SHA-256 and the layer store -------------------------------------------------------------------------------

TEST(Sha256, MatchesTheFips180Vectors) {
  EXPECT_EQ(Sha256::of(""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256::of("abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 million;  // one million 'a', fed in uneven pieces
  const std::string piece(999, 'a');
  for (int i = 0; i < 1001; ++i) million.update(piece.data(), piece.size());
  million.update(piece.data(), 1000000 - 999 * 1001);
  EXPECT_EQ(million.finish(), "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(LayerStore, ADigestThatCouldNameAnotherFileIsRefused) {
  LayerStore store(fresh_dir("store"));
  for (const std::string& bad : std::vector<std::string>{"sha256:../../etc/passwd", "md5:0123", "sha256:" + std::string(63, 'a'),
                                "sha256:" + std::string(64, 'A'), "sha256:" + std::string(65, 'a'), std::string()})
    EXPECT_THROW(store.open(bad, 0), BadDigest) << bad;
  EXPECT_NO_THROW(check_digest("sha256:" + std::string(64, 'f')));
}

TEST(LayerStore, AResumeKeepsOnlyWhatTheFileHoldsAndTheDigestCoversTheWholeLayer) {
  const fs::path root = fresh_dir("store");
  LayerStore store(root);
  const std::string content = random_bytes(100000, 1);
  const std::string digest = Sha256::of(content);
  {
    auto w = store.open(digest, 0);
    w->write(content.data(), 60000);
    w->close();
  }
  EXPECT_EQ(store.held(digest), 60000u);
  EXPECT_FALSE(store.complete(digest));
  {
    auto w = store.open(digest, 1000000);  // asked for more than it holds: resumes where the file ends
    EXPECT_EQ(w->bytes(), 60000u);
  }
  auto w = store.open(digest, 25000);  // cut back to 25000 bytes, hashed again
  EXPECT_EQ(w->bytes(), 25000u);
  EXPECT_EQ(store.held(digest), 25000u);
  w->write(content.data() + 25000, content.size() - 25000);
  EXPECT_TRUE(w->commit());
  EXPECT_TRUE(store.complete(digest));
  EXPECT_EQ(file_bytes(store.path(digest)), content);
  ASSERT_EQ(store.list().size(), 1u);
  EXPECT_EQ(store.list()[0].bytes, content.size());

  // The same bytes under another digest: commit refuses them and the partial file is gone.
  const std::string other = "sha256:" + std::string(64, '0');
  auto bad = store.open(other, 0);
  bad->write(content.data(), content.size());
  EXPECT_FALSE(bad->commit());
  EXPECT_EQ(bad->actual_digest(), digest);
  EXPECT_EQ(store.held(other), 0u);
  EXPECT_FALSE(store.complete(other));

  LayerStore again(root);  // a restarted agent finds the complete layer
  EXPECT_TRUE(again.complete(digest));
  again.remove(digest);
  EXPECT_TRUE(again.list().empty());
}

TEST(HttpUrl, ParsesHostPortAndTargetAndRefusesTheRest) {
  const HttpUrl u = HttpUrl::parse("http://registry.local:5000/mirror");
  EXPECT_EQ(u.host, "registry.local");
  EXPECT_EQ(u.port, "5000");
  EXPECT_EQ(u.target, "/mirror");
  EXPECT_EQ(HttpUrl::parse("http://r").port, "80");
  for (const std::string bad : {"https://r:443", "ftp://r", "http://", "http://r:0", "http://r:99999", "http://r:5x", "http://:80"})
    EXPECT_THROW(HttpUrl::parse(bad), std::invalid_argument) << bad;
}

// ---- a real registry -------------------------------------------------------------------------------------------

// A TCP proxy in front of the registry. Each connection reads the request head, records it, optionally strips its
// Range header, then relays the response, optionally cut after `cut_after` bytes or with the byte at `flip_at`
// inverted (offsets count the response's bytes, headers included).
class Proxy {
 public:
  struct Rule {
    std::size_t cut_after = std::numeric_limits<std::size_t>::max();
    std::size_t flip_at = std::numeric_limits<std::size_t>::max();
    bool strip_range = false;
    bool stall = false;  // at cut_after: stop relaying but keep both connections open (a link gone silent)
    bool redirect = false;  // answer 307 to the registry itself, with a small HTML body as Go's http.Redirect does
  };
  Proxy(asio::io_context& io, unsigned short upstream, std::function<Rule(std::size_t)> rule)
      : io_(io), acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), upstream_(upstream),
        rule_(std::move(rule)) {
    accept();
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }
  std::vector<std::string> requests;  // request heads as the client sent them

 private:
  struct Link : std::enable_shared_from_this<Link> {
    Link(asio::io_context& io, Rule r) : client(io), server(io), rule(r) {}
    tcp::socket client, server;
    asio::streambuf head;
    std::array<char, 16384> chunk{};
    std::size_t relayed = 0;
    Rule rule;
    void close() {
      boost::system::error_code ec;
      client.close(ec);
      server.close(ec);
    }
    void relay() {
      server.async_read_some(asio::buffer(chunk), [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
        if (ec) return self->close();
        std::size_t send = n;
        bool cut = false;
        if (self->relayed + n > self->rule.cut_after) {
          send = self->rule.cut_after - self->relayed;
          cut = true;
        }
        if (cut && self->rule.stall) {
          self->relayed += send;
          asio::async_write(self->client, asio::buffer(self->chunk.data(), send), [self](const boost::system::error_code&, std::size_t) {
            // Hold both connections open: this wait ends only when the client closes its end.
            self->client.async_wait(tcp::socket::wait_error, [self](const boost::system::error_code&) {});
          });
          return;
        }
        if (self->rule.flip_at >= self->relayed && self->rule.flip_at < self->relayed + send)
          self->chunk[self->rule.flip_at - self->relayed] = static_cast<char>(~self->chunk[self->rule.flip_at - self->relayed]);
        self->relayed += send;
        asio::async_write(self->client, asio::buffer(self->chunk.data(), send),
                          [self, cut](const boost::system::error_code& wec, std::size_t) {
                            if (wec || cut) return self->close();
                            self->relay();
                          });
      });
    }
  };

  void accept() {
    auto link = std::make_shared<Link>(io_, rule_(accepted_++));
    acceptor_.async_accept(link->client, [this, link](const boost::system::error_code& ec) {
      if (ec) return;
      accept();
      asio::async_read_until(link->client, link->head, "\r\n\r\n", [this, link](const boost::system::error_code& rec, std::size_t n) {
        if (rec) return link->close();
        std::string head(asio::buffers_begin(link->head.data()), asio::buffers_begin(link->head.data()) + static_cast<std::ptrdiff_t>(n));
        link->head.consume(n);
        requests.push_back(head);
        if (link->rule.redirect) {
          const std::string target = head.substr(4, head.find(' ', 4) - 4);
          const std::string body = "<a href=\"" + target + "\">Temporary Redirect</a>.\n\n";
          auto answer = std::make_shared<std::string>("HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:" +
                                                      std::to_string(upstream_) + target + "\r\nContent-Type: text/html\r\n"
                                                      "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
          asio::async_write(link->client, asio::buffer(*answer), [link, answer](const boost::system::error_code&, std::size_t) {});
          return;
        }
        if (link->rule.strip_range) {
          const auto at = head.find("Range: ");
          if (at != std::string::npos) head.erase(at, head.find("\r\n", at) + 2 - at);
        }
        boost::system::error_code cec;
        link->server.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), upstream_), cec);
        if (cec) return link->close();
        auto forwarded = std::make_shared<std::string>(std::move(head));
        asio::async_write(link->server, asio::buffer(*forwarded), [link, forwarded](const boost::system::error_code& wec, std::size_t) {
          if (wec) return link->close();
          link->relay();
        });
      });
    });
  }
  asio::io_context& io_;
  tcp::acceptor acceptor_;
  unsigned short upstream_;
  std::function<Rule(std::size_t)> rule_;
  std::size_t accepted_ = 0;  // connections, counting the one being waited for
};

// One node: the agents library's NodeAgent on Asio timers, pulling through HttpRegistry into its own LayerStore.
// Its channel records the status reports; its container "starts" at once (the process runtime is tested apart).
class PullingNode final : public agents::NodeChannel, public agents::ContainerRuntime {
 public:
  PullingNode(asio::io_context& io, const std::string& registry_url, agents::NodeAgentConfig config)
      : io_(io), dir_(fresh_dir("node")), store_(dir_), random_(7, "node"),
        timers_(io, [this](agents::TimerId t) { agent_->on_timer(t); }),
        registry_(io, HttpRegistryConfig{registry_url, "fleet/pos", std::chrono::milliseconds(5000), 3}, store_,
                  [this](agents::TransferId id, const agents::FetchResult& r) { agent_->on_fetch_done(id, r); }) {
    agent_ = std::make_unique<agents::NodeAgent>(config, agents::NodeAgentPorts{clock_, random_, timers_, *this, registry_, *this});
  }
  ~PullingNode() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void send_to_orchestrator(const agents::Message& m) override {
    if (const auto* s = std::get_if<agents::StatusReport>(&m)) reports.push_back(*s);
  }
  void start_container(const agents::Release& r) override {
    asio::post(io_, [this, app = r.app] { agent_->on_container_event(app, agents::ContainerEvent::started); });
  }
  void stop_container(const std::string&) override {}

  // Sends the desired state and runs the io_context until the node reports `until` (or failed), at most 30 s.
  agents::StatusReport deploy(const std::vector<agents::Layer>& layers, agents::NodeAppState until) {
    agents::Release release;
    release.app = "pos";
    release.revision = ++revision_;
    release.version = "1." + std::to_string(revision_);
    release.layers = layers;
    agent_->on_message(agents::DesiredState{revision_, release, false});
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      step(io_);
      if (!reports.empty() && reports.back().revision == revision_ &&
          (reports.back().state == until || reports.back().state == agents::NodeAppState::failed))
        return reports.back();
    }
    ADD_FAILURE() << "no '" << agents::to_string(until) << "' report within 30 s";
    return {};
  }
  LayerStore& store() { return store_; }
  HttpRegistry& registry() { return registry_; }
  agents::NodeAgent& agent() { return *agent_; }
  std::vector<agents::StatusReport> reports;

 private:
  asio::io_context& io_;
  fs::path dir_;
  LayerStore store_;
  SteadyClock clock_;
  SeededRandom random_;
  AsioTimers timers_;
  HttpRegistry registry_;
  std::unique_ptr<agents::NodeAgent> agent_;
  agents::Revision revision_ = 0;
};

agents::NodeAgentConfig node_config() {
  agents::NodeAgentConfig config;
  config.id = 1;
  config.disk_bytes = 64ULL << 20;
  config.retry_initial_s = 0.02;  // real seconds: keep the retries quick
  config.retry_max_s = 0.1;
  return config;
}

class RealRegistry : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { registry_ = std::make_unique<ScratchRegistry>(); }
  static void TearDownTestSuite() { registry_.reset(); }
  void SetUp() override { ASSERT_EQ(registry_->error(), "") << registry_->error(); }
  agents::Layer push(const std::string& bytes) {
    return {push_blob(registry_->url(), "fleet/pos", bytes), bytes.size()};
  }
  static std::unique_ptr<ScratchRegistry> registry_;
  asio::io_context io_;
};
std::unique_ptr<ScratchRegistry> RealRegistry::registry_;

TEST_F(RealRegistry, TheAgentPullsEveryLayerAndStoresExactlyItsVerifiedBytes) {
  // Goal: layers of the declared sizes arrive whole and verified; method: three blobs (1 byte, 1 MiB, 3 MiB + 7)
  // pushed to docker-registry, pulled by an unchanged NodeAgent: each stored file hashes to its digest, the agent
  // counts the sum of the sizes as fetched, and a second release sharing two layers pulls only the new one.
  const std::vector<std::string> blobs{random_bytes(1, 2), random_bytes(1 << 20, 3), random_bytes((3 << 20) + 7, 4)};
  std::vector<agents::Layer> layers;
  for (const auto& b : blobs) layers.push_back(push(b));
  PullingNode node(io_, registry_->url(), node_config());
  const auto report = node.deploy(layers, agents::NodeAppState::healthy);
  ASSERT_EQ(report.state, agents::NodeAppState::healthy) << report.detail;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < blobs.size(); ++i) {
    ASSERT_TRUE(node.store().complete(layers[i].digest));
    EXPECT_EQ(file_bytes(node.store().path(layers[i].digest)), blobs[i]);
    total += blobs[i].size();
  }
  EXPECT_EQ(node.agent().bytes_fetched(), total);
  EXPECT_EQ(node.agent().bytes_wasted(), 0u);

  const std::string extra = random_bytes(4096, 5);
  const auto next = node.deploy({layers[0], layers[1], push(extra)}, agents::NodeAppState::healthy);
  ASSERT_EQ(next.state, agents::NodeAppState::healthy) << next.detail;
  EXPECT_EQ(node.agent().bytes_fetched(), total + extra.size());
}

TEST_F(RealRegistry, ACutPullResumesWithARangeRequestFromTheBytesOnDisk) {
  // Goal: an interrupted pull continues where the file ends (HTTP Range, 206), nothing is pulled twice; method: the
  // proxy cuts the first response after 1 MiB of a 4 MiB blob: the second request asks for bytes=<stored>-, where
  // stored is the body bytes that arrived (1 MiB less the response head), and the layer ends verified.
  const std::string blob = random_bytes(4 << 20, 6);
  const agents::Layer layer = push(blob);
  Proxy proxy(io_, registry_->port(), [](std::size_t n) {
    Proxy::Rule rule;
    if (n == 0) rule.cut_after = 1 << 20;
    return rule;
  });
  PullingNode node(io_, proxy.url(), node_config());
  const auto report = node.deploy({layer}, agents::NodeAppState::healthy);
  ASSERT_EQ(report.state, agents::NodeAppState::healthy) << report.detail;
  ASSERT_EQ(proxy.requests.size(), 2u);
  EXPECT_EQ(proxy.requests[0].find("Range:"), std::string::npos);
  const auto at = proxy.requests[1].find("Range: bytes=");
  ASSERT_NE(at, std::string::npos) << proxy.requests[1];
  const std::uint64_t resumed = std::stoull(proxy.requests[1].substr(at + 13));
  EXPECT_GT(resumed, (1u << 20) - 1024u);  // the response head is well under 1 KiB
  EXPECT_LT(resumed, 1u << 20);
  EXPECT_EQ(file_bytes(node.store().path(layer.digest)), blob);
  EXPECT_EQ(node.agent().bytes_fetched(), blob.size());
  EXPECT_EQ(node.agent().bytes_wasted(), 0u);
}

TEST_F(RealRegistry, CorruptedBytesAreThrownAwayAndThePullStartsAgainFromZero) {
  // Goal: bytes that do not hash to the digest never count; method: the proxy inverts one byte of the first
  // response's body: the store deletes the layer, the agent counts the whole blob as wasted, and the retry asks for
  // the layer from byte 0 (no Range) and stores the true bytes.
  const std::string blob = random_bytes(300000, 7);
  const agents::Layer layer = push(blob);
  Proxy proxy(io_, registry_->port(), [](std::size_t n) {
    Proxy::Rule rule;
    if (n == 0) rule.flip_at = 200000;
    return rule;
  });
  PullingNode node(io_, proxy.url(), node_config());
  const auto report = node.deploy({layer}, agents::NodeAppState::healthy);
  ASSERT_EQ(report.state, agents::NodeAppState::healthy) << report.detail;
  ASSERT_EQ(proxy.requests.size(), 2u);
  EXPECT_EQ(proxy.requests[1].find("Range:"), std::string::npos) << proxy.requests[1];
  EXPECT_EQ(file_bytes(node.store().path(layer.digest)), blob);
  EXPECT_EQ(node.agent().bytes_fetched(), 2 * blob.size());
  EXPECT_EQ(node.agent().bytes_wasted(), blob.size());
}

TEST_F(RealRegistry, AServerThatIgnoresRangeSendsTheWholeLayerAndTheAgentCountsTheWaste) {
  // Goal: a 200 to a ranged request (a server or proxy without Range support) restarts the layer cleanly; method:
  // cut after 1 MiB, then strip the Range header: the whole blob comes again, is stored verified, and what the first
  // attempt stored is counted as wasted.
  const std::string blob = random_bytes(2 << 20, 8);
  const agents::Layer layer = push(blob);
  Proxy proxy(io_, registry_->port(), [](std::size_t n) {
    Proxy::Rule rule;
    if (n == 0) rule.cut_after = 1 << 20;
    rule.strip_range = n > 0;
    return rule;
  });
  PullingNode node(io_, proxy.url(), node_config());
  const auto report = node.deploy({layer}, agents::NodeAppState::healthy);
  ASSERT_EQ(report.state, agents::NodeAppState::healthy) << report.detail;
  ASSERT_EQ(proxy.requests.size(), 2u);
  EXPECT_NE(proxy.requests[1].find("Range:"), std::string::npos);
  EXPECT_EQ(file_bytes(node.store().path(layer.digest)), blob);
  const std::uint64_t first = node.agent().bytes_fetched() - blob.size();
  EXPECT_GT(first, 0u);
  EXPECT_EQ(node.agent().bytes_wasted(), first);
}

TEST_F(RealRegistry, ARedirectWithABodyIsFollowedToTheBlob) {
  // Goal: a registry that hands blobs to storage with a redirect (307, with a small HTML body, as Go's http.Redirect
  // writes one) is followed, the body of the redirect never mistaken for the next response; method: the proxy
  // redirects to the registry itself: one request through it, the layer stored verified.
  const std::string blob = random_bytes(200000, 51);
  const agents::Layer layer = push(blob);
  Proxy redirecting(io_, registry_->port(), [](std::size_t) {
    Proxy::Rule rule;
    rule.redirect = true;
    return rule;
  });
  PullingNode node(io_, redirecting.url(), node_config());
  const auto report = node.deploy({layer}, agents::NodeAppState::healthy);
  ASSERT_EQ(report.state, agents::NodeAppState::healthy) << report.detail;
  EXPECT_EQ(redirecting.requests.size(), 1u);
  EXPECT_EQ(file_bytes(node.store().path(layer.digest)), blob);
  EXPECT_EQ(node.agent().bytes_fetched(), blob.size());
}

TEST_F(RealRegistry, AnUnknownBlobFailsThePullWithTheRegistrysAnswer) {
  // Goal: a blob the registry does not have fails after max_fetch_attempts with the HTTP status in the detail.
  agents::NodeAgentConfig config = node_config();
  config.max_fetch_attempts = 2;
  PullingNode node(io_, registry_->url(), config);
  const auto report = node.deploy({{"sha256:" + std::string(64, 'e'), 10}}, agents::NodeAppState::healthy);
  EXPECT_EQ(report.state, agents::NodeAppState::failed);
  EXPECT_EQ(report.reason, agents::FailureReason::pull_failed);
  EXPECT_NE(report.detail.find("HTTP 404"), std::string::npos) << report.detail;
}

TEST_F(RealRegistry, GarbageCollectionDeletesTheFilesAndACancelledPullReportsNothing) {
  // Goal: the agent's GC frees real disk, and a cancelled pull never calls back; method: revisions 1-3 (600 KiB
  // each) fill a 1800 KiB budget; revision 4 fits once revision 1's layer is collected (neither running, 3, nor kept
  // for rollback, 2), and its file is gone; then a pull cancelled mid-way leaves its partial bytes and no result.
  std::vector<agents::Layer> layers;
  for (unsigned i = 0; i < 4; ++i) layers.push_back(push(random_bytes(600 << 10, 11 + i)));
  agents::NodeAgentConfig config = node_config();
  config.disk_bytes = 1800 << 10;
  PullingNode node(io_, registry_->url(), config);
  for (unsigned i = 0; i < 3; ++i)
    ASSERT_EQ(node.deploy({layers[i]}, agents::NodeAppState::healthy).state, agents::NodeAppState::healthy);
  EXPECT_TRUE(node.store().complete(layers[0].digest));
  const auto fourth = node.deploy({layers[3]}, agents::NodeAppState::healthy);
  ASSERT_EQ(fourth.state, agents::NodeAppState::healthy) << fourth.detail;
  EXPECT_EQ(node.store().held(layers[0].digest), 0u);
  for (unsigned i = 1; i < 4; ++i) EXPECT_TRUE(node.store().complete(layers[i].digest)) << i;

  const std::string big = random_bytes(8 << 20, 14);
  const agents::Layer lb = push(big);
  Proxy slow(io_, registry_->port(), [](std::size_t) {
    Proxy::Rule rule;
    rule.cut_after = 2 << 20;  // goes silent after 2 MiB: the pull cannot finish
    rule.stall = true;
    return rule;
  });
  std::vector<agents::FetchResult> results;
  LayerStore store(fresh_dir("cancel"));
  HttpRegistry registry(io_, HttpRegistryConfig{slow.url(), "fleet/pos", std::chrono::milliseconds(5000), 3}, store,
                        [&](agents::TransferId, const agents::FetchResult& r) { results.push_back(r); });
  const auto id = registry.start_fetch(lb, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (store.held(lb.digest) < (1u << 20) && std::chrono::steady_clock::now() < deadline) step(io_);
  EXPECT_GE(store.held(lb.digest), 1u << 20) << "the pull did not get going";
  registry.cancel_fetch(id);
  run_for(io_, std::chrono::milliseconds(200));
  EXPECT_TRUE(results.empty());
  EXPECT_EQ(registry.active(), 0u);
  EXPECT_FALSE(store.complete(lb.digest));
}

TEST_F(RealRegistry, ThePullsOfASiteShareItsEmulatedUplinkAsTheyWouldARealOne) {
  // Goal: behind an emulated uplink (TokenBucket), a site's pulls take at least bytes / rate together, and share it;
  // method: three nodes pull 1 MiB each through one 4 MB/s bucket (64 KiB burst): the last finishes no sooner than
  // (3 MiB - 64 KiB) / 4 MB/s = 0.77 s (a lower bound no machine can beat; the upper bound is loose, it is real
  // time on a shared machine), and the first no sooner than half of that (they share, not queue).
  const std::string blob = random_bytes(1 << 20, 41);
  const agents::Layer layer = push(blob);
  auto uplink = std::make_shared<TokenBucket>(io_, 4e6, 64 << 10);
  std::vector<std::unique_ptr<PullingNode>> nodes;
  for (int i = 0; i < 3; ++i) {
    nodes.push_back(std::make_unique<PullingNode>(io_, registry_->url(), node_config()));
    nodes.back()->registry().limit(uplink);
  }
  agents::Release release;
  release.app = "pos";
  release.revision = 1;
  release.layers = {layer};
  const auto start = std::chrono::steady_clock::now();
  for (auto& n : nodes) n->agent().on_message(agents::DesiredState{1, release, false});
  std::vector<double> done(3, -1);
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(20) &&
         std::any_of(done.begin(), done.end(), [](double d) { return d < 0; })) {
    step(io_);
    for (int i = 0; i < 3; ++i)
      if (done[i] < 0 && !nodes[i]->reports.empty() && nodes[i]->reports.back().state == agents::NodeAppState::healthy)
        done[i] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  const double bound = (3.0 * (1 << 20) - (64 << 10)) / 4e6;
  for (int i = 0; i < 3; ++i) {
    ASSERT_GE(done[i], 0) << "node " << i << " did not finish";
    EXPECT_EQ(file_bytes(nodes[i]->store().path(layer.digest)), blob);
  }
  EXPECT_GE(*std::max_element(done.begin(), done.end()), bound);
  EXPECT_LT(*std::max_element(done.begin(), done.end()), 3 * bound);
  EXPECT_GE(*std::min_element(done.begin(), done.end()), 0.5 * bound);
}

TEST_F(RealRegistry, ASilentLinkFailsThePullAfterTheIdleTimeoutAndKeepsItsBytesForTheResume) {
  // Goal: a link that goes quiet (no RST, no FIN: a partition) fails the pull after idle_timeout, not never; the
  // bytes that arrived are on disk and reported, so the retry resumes. Method: the proxy goes silent after 512 KiB
  // of a 1 MiB blob; with a 300 ms idle timeout the result comes between 0.3 s and 5 s later, stored_bytes equals the
  // partial file's size, and it is the body bytes received.
  const std::string blob = random_bytes(1 << 20, 21);
  const agents::Layer layer = push(blob);
  Proxy silent(io_, registry_->port(), [](std::size_t) {
    Proxy::Rule rule;
    rule.cut_after = 512 << 10;
    rule.stall = true;
    return rule;
  });
  LayerStore store(fresh_dir("silent"));
  std::vector<agents::FetchResult> results;
  HttpRegistry registry(io_, HttpRegistryConfig{silent.url(), "fleet/pos", std::chrono::milliseconds(300), 3}, store,
                        [&](agents::TransferId, const agents::FetchResult& r) { results.push_back(r); });
  const auto started = std::chrono::steady_clock::now();
  registry.start_fetch(layer, 0);
  while (results.empty() && std::chrono::steady_clock::now() - started < std::chrono::seconds(5)) step(io_);
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(results.size(), 1u) << "no result within 5 s";
  EXPECT_GE(took, std::chrono::milliseconds(300)) << results[0].error << " " << results[0].bytes_received;
  EXPECT_FALSE(results[0].ok);
  EXPECT_NE(results[0].error.find("no bytes for 300 ms"), std::string::npos) << results[0].error;
  ASSERT_TRUE(results[0].stored_bytes.has_value());
  EXPECT_EQ(*results[0].stored_bytes, store.held(layer.digest));
  EXPECT_EQ(*results[0].stored_bytes, results[0].bytes_received);
  EXPECT_GT(results[0].bytes_received, (512u << 10) - 1024u);
  EXPECT_EQ(registry.active(), 0u);
}

}  // namespace
}  // namespace fleetsim::net
