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

// ---- configuration ----

void read_stream(Keys& k, telem::StreamConfig& c) {
  if (const json* v = k.find("storage")) {
    const std::string s = k.string("storage", *v);
    if (s != "memory" && s != "disk") k.fail(k.path("storage"), "must be \"memory\" or \"disk\", got '" + s + "'");
    c.storage = s == "memory" ? telem::Storage::memory : telem::Storage::disk;
  }
  if (const json* v = k.find("max_bytes")) c.max_bytes = k.bytes("max_bytes", *v);
  if (const json* v = k.find("max_msgs")) c.max_msgs = static_cast<std::uint64_t>(k.number("max_msgs", *v, 0));
  if (c.max_bytes == 0 && c.max_msgs == 0)
    k.fail(k.path("max_bytes"), "a stream needs a bound: max_bytes or max_msgs above 0");
  if (const json* v = k.find("segment")) c.segment_bytes = k.bytes("segment", *v);
  if (const json* v = k.find("ttl")) c.ttl_s = k.duration("ttl", *v);
  if (const json* v = k.find("overflow")) {
    const std::string s = k.string("overflow", *v);
    if (s == "drop_oldest") c.overflow = telem::Overflow::drop_oldest;
    else if (s == "reject_new") c.overflow = telem::Overflow::reject_new;
    else if (s == "priority_evict") c.overflow = telem::Overflow::priority_evict;
    else k.fail(k.path("overflow"), "must be drop_oldest, reject_new or priority_evict, got '" + s + "'");
  }
  if (const json* v = k.find("priority")) {
    const double p = k.number("priority", *v, 0);
    if (p > 9 || p != static_cast<int>(p)) k.fail(k.path("priority"), "must be an integer from 0 to 9");
    c.priority = static_cast<int>(p);
  }
  if (const json* v = k.find("fsync_interval")) c.fsync_interval_s = k.duration("fsync_interval", *v);
  if (const json* v = k.find("keep_qos0_offline")) {
    if (!v->is_boolean()) k.fail(k.path("keep_qos0_offline"), "must be true or false");
    c.keep_qos0_offline = v->get<bool>();
  }
}

void read_forwarder(Keys& k, telem::ForwarderConfig& f) {
  if (const json* v = k.find("batch_interval")) f.batch_interval_s = k.duration("batch_interval", *v);
  if (!(f.batch_interval_s >= 0.01)) k.fail(k.path("batch_interval"), "must be at least 10ms");
  if (const json* v = k.find("max_batch")) f.max_batch_bytes = k.bytes("max_batch", *v);
  if (const json* v = k.find("max_batch_msgs")) f.max_batch_msgs = static_cast<std::uint64_t>(k.number("max_batch_msgs", *v, 0));
  if (f.max_batch_bytes == 0 && f.max_batch_msgs == 0)
    k.fail(k.path("max_batch"), "a batch needs a bound: max_batch or max_batch_msgs above 0");
  if (const json* v = k.find("compression"))
    if (k.number("compression", *v, 0) != 1.0)
      k.fail(k.path("compression"), "fleetsim-bus sends batches uncompressed (1); compression is a parameter of the "
                                    "simulated bus only");
  if (const json* v = k.find("upload_cap")) {
    try {
      f.upload_cap_bytes_per_s = models::parse_rate(k.string("upload_cap", *v)).bytes_per_s;
    } catch (const models::UnitError& e) {
      k.fail(k.path("upload_cap"), e.what());
    }
  }
  if (const json* v = k.find("retry_initial")) f.retry_initial_s = k.duration("retry_initial", *v);
  if (const json* v = k.find("retry_max")) f.retry_max_s = k.duration("retry_max", *v);
  if (!(f.retry_initial_s > 0)) k.fail(k.path("retry_initial"), "must be positive");
  if (f.retry_max_s < f.retry_initial_s) k.fail(k.path("retry_max"), "must be at least retry_initial");
  if (const json* v = k.find("retry_limit")) f.retry_limit = static_cast<unsigned>(k.number("retry_limit", *v, 0));
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

BusHostConfig parse_bus_config(const std::string& text, const std::string& origin) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw ConfigError(origin + ": not JSON: " + e.what());
  }
  BusHostConfig c;
  Keys k(j, "", origin);
  if (const json* v = k.find("site")) c.site = k.string("site", *v);
  if (c.site.empty()) k.fail("site", "must not be empty");
  if (const json* v = k.find("listen")) {
    Keys l(*v, "listen", origin);
    if (const json* h = l.find("host")) c.listen_host = l.string("host", *h);
    if (const json* p = l.find("port")) {
      const double port = l.number("port", *p, 0);
      if (port > 65535 || port != static_cast<unsigned short>(port)) l.fail("listen.port", "must be an integer from 0 to 65535");
      c.listen_port = static_cast<unsigned short>(port);
    }
    l.done();
  }
  c.ingest_url = k.string("ingest_url", k.need("ingest_url"));
  try {
    HttpUrl::parse(c.ingest_url);
  } catch (const std::exception& e) {
    k.fail("ingest_url", e.what());
  }
  c.data_dir = k.string("data_dir", k.need("data_dir"));
  c.streams = strings(k, "streams", k.need("streams"));
  for (std::size_t i = 0; i < c.streams.size(); ++i)
    for (std::size_t m = 0; m < i; ++m)
      if (c.streams[i] == c.streams[m]) k.fail("streams", "'" + c.streams[i] + "' is named twice");
  for (const auto& s : c.streams)
    if (s.empty() || s.find_first_of("/\\. \t") != std::string::npos)
      k.fail("streams", "'" + s + "': a stream name is a plain word (it names a directory)");
  if (const json* v = k.find("upload_timeout")) c.upload_timeout_s = k.duration("upload_timeout", *v);
  if (!(c.upload_timeout_s > 0)) k.fail("upload_timeout", "must be positive");
  if (const json* v = k.find("sync_to_disk")) {
    if (!v->is_boolean()) k.fail("sync_to_disk", "must be true or false");
    c.sync_to_disk = v->get<bool>();
  }
  json bus = json::object();
  if (const json* v = k.find("bus")) bus = *v;
  Keys b(bus, "bus", origin);
  if (const json* v = b.find("preset")) {
    const std::string name = b.string("preset", *v);
    auto p = telem::preset(name);
    if (!p) {
      std::string known;
      for (const auto& n : telem::preset_names()) known += (known.empty() ? "" : ", ") + n;
      b.fail("bus.preset", "unknown preset '" + name + "' (known: " + known + ")");
    }
    c.bus = *p;
  }
  read_stream(b, c.bus.stream);
  read_forwarder(b, c.bus.forwarder);
  if (const json* v = b.find("streams")) {
    if (!v->is_object()) b.fail("bus.streams", "must be an object of stream name: { ... }");
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (std::find(c.streams.begin(), c.streams.end(), it.key()) == c.streams.end())
        b.fail("bus.streams." + it.key(), "not one of the streams listed under 'streams'");
      telem::StreamConfig sc = c.bus.stream;
      Keys s(it.value(), "bus.streams." + it.key(), origin);
      read_stream(s, sc);
      s.done();
      c.per_stream[it.key()] = sc;
    }
  }
  b.done();
  k.done();
  return c;
}

BusHostConfig load_bus_config(const std::filesystem::path& path) { return parse_bus_config(read_config_file(path), path.string()); }

std::variant<SensorMessage, std::string> parse_sensor_line(std::string_view line, const std::vector<std::string>& streams) {
  json m;
  try {
    m = json::parse(line);
  } catch (const json::parse_error& e) {
    return std::string("not JSON: ") + e.what();
  }
  if (!m.is_object()) return std::string("must be a JSON object with 'stream' and 'payload'");
  SensorMessage out;
  bool named = false;
  for (auto it = m.begin(); it != m.end(); ++it) {
    const std::string& key = it.key();
    if (key == "stream") {
      if (!it->is_string()) return std::string("key 'stream': must be a string");
      const auto found = std::find(streams.begin(), streams.end(), it->get<std::string>());
      if (found == streams.end()) {
        std::string known;
        for (const auto& n : streams) known += (known.empty() ? "" : ", ") + n;
        return "key 'stream': no stream '" + it->get<std::string>() + "' (this bus has: " + known + ")";
      }
      out.stream = static_cast<std::size_t>(found - streams.begin());
      named = true;
    } else if (key == "priority") {
      if (!it->is_number_integer() || it->get<std::int64_t>() < 0 || it->get<std::int64_t>() > 9)
        return std::string("key 'priority': must be an integer from 0 to 9");
      out.priority = static_cast<int>(it->get<std::int64_t>());
    } else if (key == "qos") {
      if (!it->is_number_integer() || (it->get<std::int64_t>() != 0 && it->get<std::int64_t>() != 1))
        return std::string("key 'qos': must be 0 or 1");
      out.qos = static_cast<int>(it->get<std::int64_t>());
    } else if (key != "payload") {
      return "key '" + key + "': unknown (a message has stream, payload, and optionally priority and qos)";
    }
  }
  if (!named) return std::string("key 'stream': missing");
  if (!m.contains("payload")) return std::string("key 'payload': missing");
  out.payload = m["payload"].dump();
  return out;
}

IngestBatch parse_ingest_batch(const json& body, const std::string& where) {
  if (!body.is_object() || !body.contains("site") || !body["site"].is_string() || !body.contains("messages") ||
      !body["messages"].is_array())
    throw std::invalid_argument(where + ": a batch is {\"site\": ..., \"batch\": ..., \"messages\": [...]}");
  IngestBatch b;
  b.site = body["site"].get<std::string>();
  for (std::size_t i = 0; i < body["messages"].size(); ++i) {
    const json& m = body["messages"][i];
    if (!m.is_object() || !m.contains("stream") || !m["stream"].is_string() || !m.contains("seq") ||
        !m["seq"].is_number_unsigned() || m["seq"].get<std::uint64_t>() == 0 || !m.contains("payload"))
      throw std::invalid_argument(where + ": messages[" + std::to_string(i) +
                                  "]: a message is {\"stream\": name, \"seq\": n >= 1, \"t\": time, \"payload\": ...}");
    b.messages.push_back({m["stream"].get<std::string>(), m["seq"].get<std::uint64_t>(), m});
  }
  return b;
}

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
        } catch (const json::parse_error&) {
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

// ---- the ingest ----

struct IngestServer::Parts {
  std::filesystem::path out_path;
  std::string path;
  std::FILE* out = nullptr;
  telem::CloudReceiver receiver;
  std::map<std::string, std::uint32_t> sites;
  std::map<std::pair<std::uint32_t, std::string>, std::uint32_t> streams;
  std::uint64_t accepted = 0, duplicates = 0, batches = 0;
  bool available = true;
  std::unique_ptr<HttpServer> http;

  std::uint32_t site_index(const std::string& name) { return sites.emplace(name, static_cast<std::uint32_t>(sites.size())).first->second; }
  std::uint32_t stream_index(std::uint32_t site, const std::string& name) {
    std::uint32_t next = 0;
    for (const auto& [key, v] : streams)
      if (key.first == site) ++next;
    return streams.emplace(std::make_pair(site, name), next).first->second;
  }

  // One batch: the messages above each (site, stream)'s mark are appended; returns (accepted, duplicates).
  std::pair<std::uint64_t, std::uint64_t> take(const json& body, const std::string& where, bool write) {
    const IngestBatch batch = parse_ingest_batch(body, where);
    // The marks move only once what they accept is on disk: a failed write leaves them, and the file, as they were
    // (the bus sends the batch again and it is accepted then).
    const telem::CloudReceiver marks_before = receiver;
    const std::uint32_t site = site_index(batch.site);
    std::uint64_t acc = 0, dup = 0;
    const double received = unix_now();
    std::string lines;
    for (const auto& m : batch.messages) {
      telem::Batch b;
      telem::MessageRun r;
      r.stream = stream_index(site, m.stream);
      r.first_seq = m.seq;
      r.count = 1;
      r.msg_bytes = 1;
      b.runs.push_back(r);
      const auto result = receiver.receive(site, b);
      dup += result.duplicates;
      if (result.accepted.empty()) continue;
      ++acc;
      if (write) {
        json line = m.message;
        line["site"] = batch.site;
        line["received_t"] = received;
        lines += line.dump() + "\n";
      }
    }
    if (write && !lines.empty()) {
      std::error_code size_error;
      const std::uintmax_t size_before = std::filesystem::file_size(out_path, size_error);  // all flushed before
      if (std::fwrite(lines.data(), 1, lines.size(), out) != lines.size() || std::fflush(out) != 0 ||
          ::fdatasync(::fileno(out)) != 0) {
        receiver = marks_before;
        std::clearerr(out);
        if (!size_error) std::filesystem::resize_file(out_path, size_before, size_error);
        throw std::runtime_error("cannot write " + out_path.string() + " (disk full?): the batch is not taken");
      }
    }
    return {acc, dup};
  }
};

IngestServer::IngestServer(asio::io_context& io, const std::string& host, unsigned short port, std::filesystem::path out,
                           std::string path)
    : parts_(std::make_unique<Parts>()) {
  Parts& p = *parts_;
  p.out_path = std::move(out);
  p.path = std::move(path);
  // What was accepted before sets the marks again: a restarted ingest refuses what it already has.
  if (std::filesystem::exists(p.out_path)) {
    std::ifstream in(p.out_path, std::ios::binary);
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    std::size_t begin = 0, line_no = 0;
    for (std::size_t nl; (nl = text.find('\n', begin)) != std::string::npos; begin = nl + 1) {
      ++line_no;
      json m;
      try {
        m = json::parse(text.substr(begin, nl - begin));
      } catch (const json::parse_error&) {
        throw ConfigError(p.out_path.string() + ":" + std::to_string(line_no) + ": not JSON");
      }
      try {
        p.take(json{{"site", m.value("site", json())}, {"messages", json::array({m})}}, p.out_path.string() + ":" + std::to_string(line_no), false);
      } catch (const std::invalid_argument& e) {
        throw ConfigError(e.what());
      }
    }
    if (begin < text.size()) std::filesystem::resize_file(p.out_path, begin);
  }
  if (!p.out_path.parent_path().empty()) std::filesystem::create_directories(p.out_path.parent_path());
  p.out = std::fopen(p.out_path.c_str(), "a");
  if (p.out == nullptr) throw ConfigError(p.out_path.string() + ": cannot be opened for writing");
  p.http = std::make_unique<HttpServer>(
      io, tcp::endpoint(asio::ip::make_address(host), port),
      [this](const HttpRequest& r) {
        Parts& q = *parts_;
        auto error = [](unsigned status, const std::string& what) {
          return HttpResponse{status, json{{"error", what}}.dump(), "application/json", {}};
        };
        const std::string target = r.target.substr(0, r.target.find('?'));
        if (target == "/healthz") return HttpResponse{200, "ok\n", "text/plain", {}};
        if (target != q.path) return error(404, "no route " + r.method + " " + target);
        if (r.method != "POST") return error(405, r.method + " " + target + ": not allowed (POST)");
        if (!q.available) return error(503, "unavailable");
        json body;
        try {
          body = json::parse(r.body);
        } catch (const json::parse_error& e) {
          return error(400, std::string("request body: not JSON: ") + e.what());
        }
        std::pair<std::uint64_t, std::uint64_t> got;
        try {
          got = q.take(body, "request body", true);
        } catch (const std::invalid_argument& e) {
          return error(400, e.what());
        }
        q.accepted += got.first;
        q.duplicates += got.second;
        ++q.batches;
        return HttpResponse{200, json{{"accepted", got.first}, {"duplicates", got.second}}.dump(), "application/json", {}};
      },
      std::size_t{256} << 20);
}

IngestServer::~IngestServer() {
  stop();
  if (parts_->out) std::fclose(parts_->out);
}
unsigned short IngestServer::port() const { return parts_->http->port(); }
void IngestServer::set_available(bool available) { parts_->available = available; }
std::uint64_t IngestServer::accepted() const { return parts_->accepted; }
std::uint64_t IngestServer::duplicates() const { return parts_->duplicates; }
std::uint64_t IngestServer::batches() const { return parts_->batches; }
void IngestServer::stop() { parts_->http->stop(); }

}  // namespace fleetsim::net
