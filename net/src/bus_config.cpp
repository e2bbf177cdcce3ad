// fleetsim-bus's configuration (a JSON file, strict: every key named in its errors) and a sensor's line as the bus
// reads it (docs/DAEMONS.md, docs/PROTOCOL.md "Telemetry").
#include <algorithm>
#include <cstdint>
#include <string>

#include "fleetsim/net/bus_host.hpp"
#include "fleetsim/net/http_registry.hpp"
#include "json_keys.hpp"

namespace fleetsim::net {

namespace telem = agents::telemetry;

namespace {

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


}  // namespace

BusHostConfig parse_bus_config(const std::string& text, const std::string& origin) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
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
  } catch (const json::exception& e) {
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

}  // namespace fleetsim::net
