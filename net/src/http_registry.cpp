#include "fleetsim/net/http_registry.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <stdexcept>
#include <utility>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "fleetsim/net/token_bucket.hpp"

namespace fleetsim::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

HttpUrl HttpUrl::parse(const std::string& url) {
  const std::string scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0)
    throw std::invalid_argument("'" + url + "' is not an http:// URL (https is not supported: terminate TLS in front)");
  HttpUrl out;
  const std::size_t slash = url.find('/', scheme.size());
  const std::string authority = url.substr(scheme.size(), slash == std::string::npos ? std::string::npos : slash - scheme.size());
  out.target = slash == std::string::npos ? "/" : url.substr(slash);
  const std::size_t colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    out.host = authority.substr(0, colon);
    out.port = authority.substr(colon + 1);
  } else {
    out.host = authority;
  }
  const bool port_ok = !out.port.empty() && out.port.size() <= 5 &&
                       std::all_of(out.port.begin(), out.port.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
                       std::stoul(out.port) > 0 && std::stoul(out.port) < 65536;
  if (out.host.empty() || !port_ok) throw std::invalid_argument("'" + url + "' has no host or a bad port");
  return out;
}

namespace {

std::string join(const std::string& base, const std::string& rest) {
  if (!base.empty() && base.back() == '/') return base.substr(0, base.size() - 1) + rest;
  return base + rest;
}

// "bytes <first>-<last>/<total>": the first byte, or -1 when the header is not that.
long long content_range_first(const std::string& value) {
  if (value.compare(0, 6, "bytes ") != 0) return -1;
  try {
    std::size_t used = 0;
    const long long first = std::stoll(value.substr(6), &used);
    return value.size() > 6 + used && value[6 + used] == '-' ? first : -1;
  } catch (const std::exception&) {
    return -1;
  }
}

}  // namespace

// One pull: resolve, connect, GET with Range, stream the body into the store, verify.
class HttpRegistry::Fetch : public std::enable_shared_from_this<HttpRegistry::Fetch> {
 public:
  Fetch(HttpRegistry& owner, agents::TransferId id, agents::Layer layer, std::uint64_t begin, HttpUrl url)
      : owner_(&owner), id_(id), layer_(std::move(layer)), begin_(begin), url_(std::move(url)),
        resolver_(owner.io_), stream_(owner.io_), wait_(owner.io_) {}

  // After `wait_s` (emulated latency), or at once.
  void start(double wait_s) {
    if (!(wait_s > 0)) return resolve();
    wait_.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(wait_s)));
    wait_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec && self->owner_) self->resolve();
    });
  }
  // The path is cut: the pull fails now, keeping what it stored for a resume.
  void cut(const std::string& why) {
    if (owner_) fail(why);
  }

  void cancel() {
    owner_ = nullptr;
    if (writer_) writer_->close();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    resolver_.cancel();
    wait_.cancel();
  }

 private:
  void resolve() {
    buffer_.clear();  // a redirect's body may be in it: the next connection starts clean
    stream_.expires_after(owner_->config_.idle_timeout);
    resolver_.async_resolve(url_.host, url_.port,
                            [self = shared_from_this()](const beast::error_code& ec, tcp::resolver::results_type results) {
                              if (!self->owner_) return;
                              if (ec) return self->fail("cannot resolve " + self->url_.host + ": " + ec.message());
                              self->connect(results);
                            });
  }

  void connect(const tcp::resolver::results_type& results) {
    stream_.expires_after(owner_->config_.idle_timeout);
    if (owner_->config_.open_socket) {  // the socket lives where the node does: one address, tried once
      beast::error_code ignored;
      stream_.socket().close(ignored);  // a redirect's connection
      try {
        owner_->config_.open_socket(stream_.socket());
      } catch (const std::exception& e) {
        return fail(std::string("cannot open a socket: ") + e.what());
      }
      stream_.async_connect(results.begin()->endpoint(), [self = shared_from_this()](const beast::error_code& ec) {
        if (!self->owner_) return;
        if (ec) return self->fail("cannot connect to " + self->url_.host + ":" + self->url_.port + ": " + ec.message());
        self->send();
      });
      return;
    }
    stream_.async_connect(results, [self = shared_from_this()](const beast::error_code& ec, const tcp::endpoint&) {
      if (!self->owner_) return;
      if (ec) return self->fail("cannot connect to " + self->url_.host + ":" + self->url_.port + ": " + ec.message());
      self->send();
    });
  }

  void send() {
    request_ = {};
    request_.method(http::verb::get);
    request_.target(url_.target);
    request_.version(11);
    request_.set(http::field::host, url_.host + ":" + url_.port);
    request_.set(http::field::user_agent, "fleetsim-agent");
    request_.set(http::field::accept, "application/octet-stream");
    if (begin_ > 0) request_.set(http::field::range, "bytes=" + std::to_string(begin_) + "-");
    stream_.expires_after(owner_->config_.idle_timeout);
    http::async_write(stream_, request_, [self = shared_from_this()](const beast::error_code& ec, std::size_t) {
      if (!self->owner_) return;
      if (ec) return self->fail("request failed: " + ec.message());
      self->read_header();
    });
  }

  void read_header() {
    parser_.emplace();
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());  // checked against the layer's size below
    stream_.expires_after(owner_->config_.idle_timeout);
    http::async_read_header(stream_, buffer_, *parser_, [self = shared_from_this()](const beast::error_code& ec, std::size_t) {
      if (!self->owner_) return;
      if (ec) return self->fail("no response: " + ec.message());
      self->on_header();
    });
  }

  void on_header() {
    const auto& response = parser_->get();
    const unsigned status = response.result_int();
    if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
      const std::string location(response[http::field::location]);
      if (location.empty()) return fail("HTTP " + std::to_string(status) + " without a Location");
      if (++redirects_ > owner_->config_.max_redirects) return fail("more than " + std::to_string(owner_->config_.max_redirects) + " redirects");
      try {
        if (location.front() == '/') {
          url_.target = location;
        } else {
          url_ = HttpUrl::parse(location);
        }
      } catch (const std::invalid_argument& e) {
        return fail(std::string("redirect: ") + e.what());
      }
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream_.close();
      return resolve();
    }
    std::uint64_t from = 0;  // the first byte of the layer this body carries
    if (status == 206) {
      const long long first = content_range_first(std::string(response[http::field::content_range]));
      if (first != static_cast<long long>(begin_))
        return fail("206 with Content-Range '" + std::string(response[http::field::content_range]) + "' for a request from byte " + std::to_string(begin_));
      from = begin_;
    } else if (status != 200) {
      std::string why = "HTTP " + std::to_string(status) + " " + std::string(response.reason());
      if (status == 404) why += " (blob unknown to the registry)";
      if (auto retry = response[http::field::retry_after]; !retry.empty()) why += ", Retry-After " + std::string(retry);
      return fail(why);
    }  // 200 to a ranged request: the server ignored the Range, the body is the whole layer
    if (auto length = parser_->content_length(); length && *length != layer_.size_bytes - from)
      return fail("the registry sends " + std::to_string(*length) + " bytes from byte " + std::to_string(from) +
                  ", the layer has " + std::to_string(layer_.size_bytes));
    try {
      writer_ = owner_->store_.open(layer_.digest, from);
    } catch (const std::exception& e) {
      return fail(e.what());
    }
    if (writer_->bytes() != from) return fail("the store holds fewer bytes than the resume needs");
    read_body();
  }

  void read_body() {
    if (parser_->is_done()) return finish_body();
    auto& body = parser_->get().body();
    body.data = chunk_.data();
    body.size = chunk_.size();
    stream_.expires_after(owner_->config_.idle_timeout);
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (!self->owner_) return;
      const std::size_t got = self->chunk_.size() - self->parser_->get().body().size;
      if (ec == http::error::need_buffer) ec = {};
      if (got > 0) {
        self->received_ += got;
        if (self->writer_->bytes() + got > self->layer_.size_bytes)
          return self->fail("the registry sent more bytes than the layer has");
        try {
          self->writer_->write(self->chunk_.data(), got);
        } catch (const std::exception& e) {
          return self->fail(e.what());
        }
      }
      if (ec) {
        const std::string why = ec == beast::error::timeout ? "no bytes for " + std::to_string(self->owner_->config_.idle_timeout.count()) + " ms" : ec.message();
        return self->fail("transfer cut after " + std::to_string(self->received_) + " bytes: " + why);
      }
      // Behind an emulated link, the next read waits until the link would have carried these bytes (TCP's flow
      // control then slows the sender down, as a real bottleneck does).
      if (self->owner_->bucket_ && got > 0)
        return self->owner_->bucket_->consume(got, [self] {
          if (self->owner_) self->read_body();
        });
      self->read_body();
    });
  }

  void finish_body() {
    if (writer_->bytes() != layer_.size_bytes)
      return fail("the response ended at byte " + std::to_string(writer_->bytes()) + " of " + std::to_string(layer_.size_bytes));
    bool verified = false;
    try {
      verified = writer_->commit();
    } catch (const std::exception& e) {  // the disk refused the last bytes or the rename: nothing is stored
      writer_.reset();
      owner_->store_.remove(layer_.digest);
      return done(agents::FetchResult{false, received_, std::string("storing the layer failed: ") + e.what(), std::uint64_t{0}});
    }
    if (!verified) {
      agents::FetchResult result{false, received_, "digest mismatch: the bytes received hash to " + writer_->actual_digest(), std::uint64_t{0}};
      return done(result);
    }
    done(agents::FetchResult{true, received_, {}, layer_.size_bytes});
  }

  void fail(const std::string& why) {
    // Every byte arrived before the error (a chunked body cut before its end, a timeout waiting for it): the layer
    // is judged by its digest, never reported as held without being verified.
    if (writer_ && writer_->bytes() == layer_.size_bytes) return finish_body();
    std::uint64_t stored = begin_;
    if (writer_) {
      writer_->close();
      stored = writer_->bytes();
    }
    done(agents::FetchResult{false, received_, why, stored});
  }

  void done(const agents::FetchResult& result) {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    HttpRegistry* owner = std::exchange(owner_, nullptr);
    if (owner) owner->finished(id_, result);
  }

  HttpRegistry* owner_;
  agents::TransferId id_;
  agents::Layer layer_;
  std::uint64_t begin_;
  HttpUrl url_;
  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  asio::steady_timer wait_;  // emulated latency before the connection
  beast::flat_buffer buffer_;
  http::request<http::empty_body> request_;
  boost::optional<http::response_parser<http::buffer_body>> parser_;
  std::array<char, 1 << 16> chunk_{};
  std::unique_ptr<LayerWriter> writer_;
  std::uint64_t received_ = 0;
  unsigned redirects_ = 0;
};

const char* const HttpRegistry::kUnreachable = "the path to the registry is cut";

HttpRegistry::HttpRegistry(asio::io_context& io, HttpRegistryConfig config, LayerStore& store, Done done)
    : io_(io), config_(std::move(config)), base_(HttpUrl::parse(config_.url)), store_(store), done_(std::move(done)),
      connections_(config_.setup_rtts, config_.keep_alive_s) {
  if (config_.repository.empty()) throw std::invalid_argument("registry " + config_.url + ": no repository");
}

HttpRegistry::~HttpRegistry() {
  for (auto& [id, fetch] : fetches_) fetch->cancel();
}

agents::TransferId HttpRegistry::start_fetch(const agents::Layer& layer, std::uint64_t offset) {
  const agents::TransferId id = next_++;
  // Never resume beyond what the store holds (an agent that lost count must not leave a hole in the file).
  std::uint64_t begin = 0;
  std::string invalid;
  try {
    if (store_.complete(layer.digest)) {  // content-addressed and verified when it was stored: nothing to move
      const std::uint64_t size = layer.size_bytes;
      asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_), id, size] {
        if (alive.lock()) done_(id, agents::FetchResult{true, 0, {}, size});
      });
      return id;
    }
    begin = std::min(offset, store_.held(layer.digest));
  } catch (const BadDigest& e) {
    invalid = e.what();
  } catch (const std::filesystem::filesystem_error& e) {
    invalid = std::string("the layer store: ") + e.what();
  }
  if (!invalid.empty()) {
    asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_), id, invalid] {
      if (alive.lock()) done_(id, agents::FetchResult{false, 0, invalid, std::uint64_t{0}});
    });
    return id;
  }
  if (!reachable_) {
    asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_), id, begin] {
      if (alive.lock()) done_(id, agents::FetchResult{false, 0, kUnreachable, begin});
    });
    return id;
  }
  HttpUrl url = base_;
  url.target = join(base_.target, "/v2/" + config_.repository + "/blobs/" + layer.digest);
  auto fetch = std::make_shared<Fetch>(*this, id, layer, begin, std::move(url));
  fetches_.emplace(id, fetch);
  const double now = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_).count();
  // The set-up and the request's way there, then the response's way back (a simulated transfer pays it as latency).
  fetch->start(config_.rtt_s > 0 ? connections_.open_request(now, config_.rtt_s) + config_.rtt_s / 2 : 0.0);
  return id;
}

void HttpRegistry::cancel_fetch(agents::TransferId id) {
  auto it = fetches_.find(id);
  if (it == fetches_.end()) return;
  it->second->cancel();
  fetches_.erase(it);
}

void HttpRegistry::set_reachable(bool reachable) {
  reachable_ = reachable;
  if (reachable) return;
  connections_.close_all();  // the cut closes the idle connections too
  std::vector<std::shared_ptr<Fetch>> in_flight;
  for (const auto& [id, fetch] : fetches_) in_flight.push_back(fetch);
  for (const auto& fetch : in_flight) fetch->cut(kUnreachable);
}

void HttpRegistry::remove_layer(const std::string& digest) {
  try {
    store_.remove(digest);
  } catch (const BadDigest&) {
    // never stored: nothing to remove
  }
}

void HttpRegistry::finished(agents::TransferId id, const agents::FetchResult& result) {
  auto it = fetches_.find(id);
  if (it == fetches_.end()) return;
  auto keep = it->second;  // the handler that called us holds it too; erase, then report
  fetches_.erase(it);
  if (result.ok && config_.rtt_s > 0)
    connections_.finish_request(std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_).count());
  done_(id, result);
}

}  // namespace fleetsim::net
