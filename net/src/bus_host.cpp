#include "fleetsim/net/bus_host.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <deque>
#include <fstream>
#include <optional>
#include <stdexcept>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "fleetsim/net/asio_ports.hpp"
#include "fleetsim/net/control.hpp"
#include "fleetsim/net/http_registry.hpp"
#include "http_server.hpp"
#include "json_keys.hpp"

namespace fleetsim::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
namespace telem = agents::telemetry;

namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}


// ---- the disk store of one stream: segment files of JSON lines, and the mark below which all is done ----

struct Stored {
  double t = 0;
  std::string payload;  // the message's JSON, as the sensor sent it (re-serialised)
};

struct DiskStream {
  std::filesystem::path dir;
  std::vector<std::pair<std::uint64_t, std::filesystem::path>> segments;  // (first seq, file), in order
  std::FILE* open = nullptr;  // the last segment, for appending
  std::uint64_t open_bytes = 0;
  std::uint64_t segment_limit = 4 << 20;
  std::uint64_t done = 0;        // every message with seq <= done was delivered or dropped
  std::uint64_t done_saved = 0;  // what the mark file says
  std::uint64_t reserved = 0;    // every sequence number below this may have been given: a restart starts at it
  bool unsynced = false;
};

// Sequence numbers are reserved on disk this many at a time (one small synced write per block), so that a restarted
// bus, memory streams included, numbers above every message it ever sent: the ingest's high-water mark would take a
// number given again for a duplicate and drop the message.
constexpr std::uint64_t kSeqBlock = 1 << 16;

// A small file's first line as a number; nullopt (and a warning) if it is missing or unreadable.
std::optional<std::uint64_t> read_number(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string text;
  std::getline(in, text);
  try {
    std::size_t used = 0;
    const std::uint64_t v = std::stoull(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  spdlog::warn("{}: not a number ('{}'): read as 0 (a crash during its write; messages may be sent again)", path.string(), text);
  return std::nullopt;
}

std::filesystem::path segment_path(const std::filesystem::path& dir, std::uint64_t first) {
  char name[40];
  std::snprintf(name, sizeof name, "%020" PRIu64 ".seg", first);
  return dir / name;
}

void write_file_atomically(const std::filesystem::path& path, const std::string& text, bool sync) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot write " + tmp.string());
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && (!sync || ::fdatasync(fd) == 0);
  ::close(fd);
  if (!ok) throw std::runtime_error("cannot write " + tmp.string());
  std::filesystem::rename(tmp, path);
}

// An HTTP POST on the io_context; the callback gets whether a 2xx answer came back within the timeout.
class Poster : public std::enable_shared_from_this<Poster> {
 public:
  using Done = std::function<void(bool ok, const std::string& why)>;
  Poster(asio::io_context& io, HttpUrl url, std::string body, double timeout_s, Done done)
      : resolver_(io), stream_(io), deadline_(io), url_(std::move(url)), timeout_(timeout_s), done_(std::move(done)) {
    request_ = {http::verb::post, url_.target, 11};
    request_.set(http::field::host, url_.host + ":" + url_.port);
    request_.set(http::field::user_agent, "fleetsim-bus");
    request_.set(http::field::content_type, "application/json");
    request_.keep_alive(false);
    request_.body() = std::move(body);
    request_.prepare_payload();
  }
  void start() {
    const auto timeout = std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(timeout_));
    // The whole exchange, name resolution included (the stream's own timeout covers only its operations).
    deadline_.expires_after(timeout);
    deadline_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      self->resolver_.cancel();
      self->finish(false, "no answer within " + std::to_string(self->timeout_) + " s");
    });
    stream_.expires_after(timeout);
    resolver_.async_resolve(url_.host, url_.port, [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type r) {
      if (ec) return self->finish(false, "resolve " + self->url_.host + ": " + ec.message());
      self->stream_.async_connect(r, [self](beast::error_code ec2, const tcp::endpoint&) {
        if (ec2) return self->finish(false, "connect: " + ec2.message());
        http::async_write(self->stream_, self->request_, [self](beast::error_code ec3, std::size_t) {
          if (ec3) return self->finish(false, "send: " + ec3.message());
          http::async_read(self->stream_, self->buffer_, self->response_, [self](beast::error_code ec4, std::size_t) {
            if (ec4) return self->finish(false, "answer: " + ec4.message());
            const unsigned status = self->response_.result_int();
            self->finish(status / 100 == 2, "HTTP " + std::to_string(status) + " " + self->response_.body().substr(0, 200));
          });
        });
      });
    });
  }
  void abandon() { done_ = nullptr; }

 private:
  void finish(bool ok, const std::string& why) {
    deadline_.cancel();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    if (auto done = std::move(done_)) done(ok, why);
  }
  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  asio::steady_timer deadline_;
  HttpUrl url_;
  double timeout_;
  Done done_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
  beast::flat_buffer buffer_;
};

}  // namespace

// ---- the bus ----

struct BusHost::Parts final : agents::Clock, agents::Random, telem::UplinkPort {
  Parts(asio::io_context& io_context, BusHostConfig c)
      : io(io_context),
        config(std::move(c)),
        ingest(HttpUrl::parse(config.ingest_url)),
        random(1, "bus/" + config.site, "backoff"),
        timers(io, [this](agents::TimerId id) { broker->on_timer(id); }),
        acceptor(io) {
    broker = std::make_unique<telem::Broker>(config.bus, config.streams, config.per_stream,
                                             telem::BrokerPorts{*this, timers, *this, *this});
    payloads.resize(config.streams.size());
    disks.resize(config.streams.size());
    evicted_seen.resize(config.streams.size(), 0);
    for (std::size_t s = 0; s < config.streams.size(); ++s) {
      disks[s].dir = config.data_dir / config.streams[s];
      std::filesystem::create_directories(disks[s].dir);
      std::uint64_t next = read_number(disks[s].dir / "next").value_or(1);
      if (disk(s)) next = std::max(next, read_back(s));
      broker->resume_at(s, std::max<std::uint64_t>(next, 1));
      reserve(s);
      collect(s);
    }
    const tcp::endpoint endpoint(asio::ip::make_address(config.listen_host), config.listen_port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen();
    port = acceptor.local_endpoint().port();
  }
  ~Parts() override {
    *alive = false;
    if (inflight) inflight->abandon();
    for (auto& d : disks)
      if (d.open) std::fclose(d.open);
  }

  // Clock: Unix seconds, so that message times and TTLs mean the same after a restart.
  agents::Time now() const override { return unix_now(); }
  double uniform01() override { return random.uniform01(); }

  bool disk(std::size_t s) const { return broker->stream_config(s).storage == telem::Storage::disk; }

  // Reads a disk stream's mark and segments, restores every message above the mark into the broker; returns the
  // sequence number after every one its segments and mark know of.
  std::uint64_t read_back(std::size_t s) {
    DiskStream& d = disks[s];
    if (const auto seg = broker->stream_config(s).segment_bytes; seg > 0) d.segment_limit = seg;
    d.done = read_number(d.dir / "done").value_or(0);
    d.done_saved = d.done;
    for (const auto& entry : std::filesystem::directory_iterator(d.dir)) {
      const auto& p = entry.path();
      if (p.extension() != ".seg") continue;
      try {
        d.segments.emplace_back(std::stoull(p.stem().string()), p);
      } catch (const std::exception&) {
        throw ConfigError(p.string() + ": not a segment of fleetsim-bus (its name is not its first sequence number)");
      }
    }
    std::sort(d.segments.begin(), d.segments.end());
    std::uint64_t last_seq = d.done;
    for (std::size_t i = 0; i < d.segments.size(); ++i) {
      const auto& path = d.segments[i].second;
      std::ifstream in(path, std::ios::binary);
      const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
      std::size_t begin = 0, line_no = 0;
      for (std::size_t nl; (nl = text.find('\n', begin)) != std::string::npos; begin = nl + 1) {
        ++line_no;
        const std::string where = path.string() + ":" + std::to_string(line_no);
        json m;
        try {
          m = json::parse(text.substr(begin, nl - begin));
        } catch (const json::exception&) {
          // The newest segment's last line may be garbage a power cut left (a block of zeros): a torn write.
          if (i + 1 == d.segments.size() && nl + 1 == text.size()) {
            spdlog::warn("{}: its last line is not a message (a crash while writing it): dropped", where);
            std::filesystem::resize_file(path, begin);
            break;
          }
          throw ConfigError(where + ": not JSON");
        }
        if (!m.is_object() || !m.contains("seq") || !m["seq"].is_number_unsigned() || !m.contains("t") ||
            !m["t"].is_number() || !m.contains("payload"))
          throw ConfigError(where + ": not a stored message (seq, t, p, q, payload)");
        const auto seq = m["seq"].get<std::uint64_t>();
        if (seq <= last_seq) {
          if (seq > d.done) throw ConfigError(where + ": sequence " + std::to_string(seq) + " is not above the one before");
          continue;  // delivered or dropped before the restart
        }
        last_seq = seq;
        std::string payload = m["payload"].dump();
        const double t = m["t"].get<double>();
        if (broker->restore(s, seq, static_cast<std::uint32_t>(payload.size()), t, m.value("p", 5), m.value("q", 1))) {
          payloads[s].emplace(seq, Stored{t, std::move(payload)});
          ++restored;
        }
      }
      if (begin < text.size()) {  // a write a crash cut short: the message was never stored
        if (i + 1 != d.segments.size()) throw ConfigError(path.string() + ": its last line is incomplete, and it is not the newest segment");
        spdlog::warn("{}: its last line is incomplete (a crash while writing it): dropped", path.string());
        std::filesystem::resize_file(path, begin);
      }
    }
    if (!d.segments.empty()) {
      d.open = std::fopen(d.segments.back().second.c_str(), "a");
      if (d.open == nullptr) throw ConfigError(d.segments.back().second.string() + ": cannot be opened for writing");
      d.open_bytes = std::filesystem::file_size(d.segments.back().second);
    }
    return last_seq + 1;
  }

  // Reserves the next block of sequence numbers on disk before any of it is given (see kSeqBlock).
  void reserve(std::size_t s) {
    DiskStream& d = disks[s];
    d.reserved = broker->next_seq(s) + kSeqBlock;
    write_file_atomically(d.dir / "next", std::to_string(d.reserved) + "\n", config.sync_to_disk);
  }

  // One message from a sensor; an error (a string) if the line is not one.
  std::optional<std::string> on_line(const std::string& line) {
    auto parsed = parse_sensor_line(line, config.streams);
    if (auto* error = std::get_if<std::string>(&parsed)) return *error;
    SensorMessage& m = std::get<SensorMessage>(parsed);
    const std::size_t s = m.stream;
    int priority = m.priority;
    const int qos = m.qos;
    std::string payload = std::move(m.payload);
    if (priority < 0) priority = broker->stream_config(s).priority;
    const double t = now();
    const std::uint64_t seq = broker->next_seq(s);
    std::optional<std::string> problem;
    try {
      if (seq >= disks[s].reserved) reserve(s);
    } catch (const std::exception& e) {  // the disk is full or gone: take no message we could number twice
      return "not taken: " + std::string(e.what());
    }
    broker->produce(s, 1, static_cast<std::uint32_t>(payload.size()), t, t, priority, qos);
    if (broker->next_seq(s) != seq) {  // kept (else the broker counted why not: rejected, too large, ...)
      if (disk(s)) try {
          append(s, seq, t, priority, qos, payload);
        } catch (const std::exception& e) {
          problem = "kept in memory only (lost if the bus restarts before it is sent): " + std::string(e.what());
          spdlog::error("stream={} seq={}: {}", config.streams[s], seq, *problem);
        }
      payloads[s].emplace(seq, Stored{t, std::move(payload)});
    }
    collect(s);
    return problem;
  }

  void append(std::size_t s, std::uint64_t seq, double t, int priority, int qos, const std::string& payload) {
    DiskStream& d = disks[s];
    if (d.open == nullptr || d.open_bytes >= d.segment_limit) {
      if (d.open) {  // what it holds reaches the disk before the next segment takes over
        if (d.unsynced && config.sync_to_disk) ::fdatasync(::fileno(d.open));
        std::fclose(d.open);
        d.open = nullptr;
      }
      const auto path = segment_path(d.dir, seq);
      d.open = std::fopen(path.c_str(), "a");
      if (d.open == nullptr) throw std::runtime_error("cannot write " + path.string());
      d.segments.emplace_back(seq, path);
      d.open_bytes = 0;
    }
    std::string line = "{\"seq\":" + std::to_string(seq) + ",\"t\":" + json(t).dump() + ",\"p\":" + std::to_string(priority) +
                       ",\"q\":" + std::to_string(qos) + ",\"payload\":" + payload + "}\n";
    if (std::fwrite(line.data(), 1, line.size(), d.open) != line.size() || std::fflush(d.open) != 0)
      throw std::runtime_error("cannot write " + d.segments.back().second.string() + " (disk full?)");
    d.open_bytes += line.size();
    d.unsynced = true;
    schedule_flush();
  }

  // What the broker no longer holds (delivered, evicted, expired) leaves the payloads; the mark follows.
  void collect(std::size_t s) {
    auto& p = payloads[s];
    const std::uint64_t first = broker->first_unacked_seq(s);
    p.erase(p.begin(), p.lower_bound(first));
    const auto& st = broker->stats(s);
    const std::uint64_t evicted = st.dropped[static_cast<std::size_t>(telem::DropReason::evicted)];
    if (evicted != evicted_seen[s] && broker->stream_config(s).overflow == telem::Overflow::priority_evict) {
      // Priority eviction takes from the middle, not the front: keep only what the runs hold.
      std::map<std::uint64_t, Stored> kept;
      for (const auto& r : broker->runs(s))
        for (std::uint64_t q = r.first_seq; q < r.first_seq + r.count; ++q)
          if (auto it = p.find(q); it != p.end()) kept.emplace(q, std::move(it->second));
      p.swap(kept);
    }
    evicted_seen[s] = evicted;
    if (disk(s) && first - 1 != disks[s].done) {
      disks[s].done = first - 1;
      schedule_flush();
    }
  }

  // Once the io_context is done with what it read: disk writes reach the disk, marks are saved, finished segments go.
  void schedule_flush() {
    if (flush_posted) return;
    flush_posted = true;
    asio::post(io, [this, a = alive] {
      if (*a) flush();
    });
  }
  void flush() {
    flush_posted = false;
    try {
      flush_disks();
    } catch (const std::exception& e) {  // logged and tried again at the next flush; the messages are in memory
      spdlog::error("the store in {}: {}", config.data_dir.string(), e.what());
    }
  }
  void flush_disks() {
    for (std::size_t s = 0; s < disks.size(); ++s) {
      DiskStream& d = disks[s];
      if (!disk(s)) continue;
      const double interval = broker->stream_config(s).fsync_interval_s;
      if (d.unsynced && config.sync_to_disk && d.open != nullptr) {
        if (interval > 0) {
          arm_sync(s, interval);
        } else {
          ::fdatasync(::fileno(d.open));
          d.unsynced = false;
        }
      }
      if (d.done != d.done_saved) {
        write_file_atomically(d.dir / "done", std::to_string(d.done) + "\n", config.sync_to_disk);
        d.done_saved = d.done;
        // A segment whose every message is at or below the mark is finished (never the one being written).
        while (d.segments.size() > 1 && d.segments[1].first - 1 <= d.done) {
          std::filesystem::remove(d.segments.front().second);
          d.segments.erase(d.segments.begin());
        }
      }
    }
  }
  void arm_sync(std::size_t s, double interval) {
    if (sync_timers.count(s)) return;
    auto timer = std::make_unique<asio::steady_timer>(io, std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                              std::chrono::duration<double>(interval)));
    timer->async_wait([this, s, a = alive](const boost::system::error_code& ec) {
      if (ec || !*a) return;
      sync_timers.erase(s);
      if (disks[s].open && disks[s].unsynced) ::fdatasync(::fileno(disks[s].open));
      disks[s].unsynced = false;
    });
    sync_timers[s] = std::move(timer);
  }

  // UplinkPort: the batch, with each message's payload, POSTed to the ingest.
  void send_batch(const telem::Batch& batch) override {
    std::string body = "{\"site\":" + json(config.site).dump() + ",\"batch\":" + std::to_string(batch.id) + ",\"messages\":[";
    bool first = true;
    for (const auto& r : batch.runs) {
      const auto& p = payloads[r.stream];
      const std::string stream = json(config.streams[r.stream]).dump();
      for (std::uint64_t q = r.first_seq; q < r.first_seq + r.count; ++q) {
        auto it = p.find(q);
        if (it == p.end()) {
          spdlog::error("stream={} seq={}: in a batch but its payload is gone (a bug): sent as null", config.streams[r.stream], q);
        }
        body += (first ? "" : ",") + std::string("{\"stream\":") + stream + ",\"seq\":" + std::to_string(q) + ",\"t\":" +
                json(it == p.end() ? r.event_time(q - r.first_seq) : it->second.t).dump() +
                ",\"payload\":" + (it == p.end() ? std::string("null") : it->second.payload) + "}";
        first = false;
      }
    }
    body += "]}";
    const std::uint64_t id = batch.id;
    const std::uint64_t messages = batch.messages;
    inflight = std::make_shared<Poster>(io, ingest, std::move(body), config.upload_timeout_s,
                                        [this, id, messages, a = alive](bool ok, const std::string& why) {
                                          if (!*a) return;
                                          inflight.reset();
                                          if (ok)
                                            spdlog::debug("batch={} messages={} acknowledged", id, messages);
                                          else
                                            spdlog::info("batch={} messages={} failed: {}", id, messages, why);
                                          broker->on_batch_result(id, ok);
                                          for (std::size_t s = 0; s < payloads.size(); ++s) collect(s);
                                        });
    // Started from the io_context, never inside the broker's call.
    asio::post(io, [p = inflight] { p->start(); });
  }

  void accept() {
    acceptor.async_accept([this, a = alive](const boost::system::error_code& ec, tcp::socket socket) {
      if (!*a || !acceptor.is_open()) return;
      if (!ec) {
        auto lines = std::make_shared<std::uint64_t>(0);
        auto holder = std::make_shared<std::weak_ptr<LineConnection>>();
        auto connection = std::make_shared<LineConnection>(
            std::move(socket),
            [this, a, lines, holder](const std::string& line) {
              if (!*a) return;
              ++*lines;
              if (auto error = on_line(line)) {
                ++rejected_lines;
                spdlog::debug("sensor line {}: {}", *lines, *error);
                if (auto self = holder->lock()) self->send(json{{"line", *lines}, {"error", *error}}.dump());
              }
            },
            nullptr);
        *holder = connection;
        sensors.push_back(connection);
        sensors.erase(std::remove_if(sensors.begin(), sensors.end(), [](const auto& w) { return w.expired(); }), sensors.end());
        connection->start();
      }
      accept();
    });
  }

  asio::io_context& io;
  BusHostConfig config;
  HttpUrl ingest;
  models::RandomStream random;
  AsioTimers timers;
  tcp::acceptor acceptor;
  unsigned short port = 0;
  std::unique_ptr<telem::Broker> broker;
  std::vector<std::map<std::uint64_t, Stored>> payloads;  // by stream: seq -> payload, what the broker holds
  std::vector<DiskStream> disks;
  std::vector<std::uint64_t> evicted_seen;
  std::map<std::size_t, std::unique_ptr<asio::steady_timer>> sync_timers;
  std::shared_ptr<Poster> inflight;
  std::vector<std::weak_ptr<LineConnection>> sensors;
  std::uint64_t restored = 0;
  std::uint64_t rejected_lines = 0;
  bool flush_posted = false;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
};

BusHost::BusHost(asio::io_context& io, BusHostConfig config) : parts_(std::make_unique<Parts>(io, std::move(config))) {}
BusHost::~BusHost() { stop(); }

unsigned short BusHost::port() const { return parts_->port; }

void BusHost::start() {
  parts_->broker->start();
  parts_->accept();
  spdlog::info("site={} streams={} restored={} listening={} ingest={}", parts_->config.site, parts_->config.streams.size(),
               parts_->restored, parts_->port, parts_->config.ingest_url);
}

void BusHost::stop() {
  Parts& p = *parts_;
  boost::system::error_code ignored;
  p.acceptor.close(ignored);
  for (auto& weak : p.sensors)
    if (auto c = weak.lock()) c->close();
  p.sensors.clear();
  if (*p.alive) p.flush();
}

const telem::Broker& BusHost::broker() const { return *parts_->broker; }
std::size_t BusHost::stream_index(const std::string& name) const {
  const auto& s = parts_->config.streams;
  const auto it = std::find(s.begin(), s.end(), name);
  if (it == s.end()) throw std::out_of_range("no stream " + name);
  return static_cast<std::size_t>(it - s.begin());
}
std::uint64_t BusHost::restored() const { return parts_->restored; }
std::uint64_t BusHost::rejected_lines() const { return parts_->rejected_lines; }

}  // namespace fleetsim::net
