// cloud { ... } and site { ... }: the cloud's registry and orchestrator, and the site templates with their uplink,
// LAN, hardware, agent settings, outages, sensors, inference and telemetry bus.
#include <algorithm>

#include "fields.hpp"
#include "loader_sections.hpp"

namespace fleetsim::sim::loader {
namespace {

using namespace fleetsim::models;
namespace telem = fleetsim::agents::telemetry;

void read_wire(Fields& f, WireSpec& wire) {
  // An IP packet holds at most 64 KiB: a larger segment or header is a unit mistake ("1448KiB").
  constexpr std::uint64_t kMaxPacket = 65535;
  wire.mss = f.bytes("mss", wire.mss);
  if (wire.mss.count == 0) f.fail_at("mss", "must be positive");
  if (wire.mss.count > kMaxPacket) f.fail_at("mss", "must be at most 65535B (one IP packet)");
  wire.overhead = f.bytes("overhead", wire.overhead);
  if (wire.overhead.count > kMaxPacket) f.fail_at("overhead", "must be at most 65535B (one IP packet)");
}

void read_uplink(Fields up, SiteTemplate& s) {
  s.uplink_down = up.rate("down");
  s.uplink_up = up.rate("up", s.uplink_down);
  s.uplink_latency = up.duration("latency");
  s.uplink_loss = up.number("loss", 0.0, 0.0, 0.5);
  read_wire(up, s.uplink_wire);
  up.finish();
}

void read_lan(Fields lan, SiteTemplate& s) {
  s.lan_bandwidth = lan.rate("bandwidth", s.lan_bandwidth);
  s.lan_latency = lan.duration("latency", s.lan_latency);
  read_wire(lan, s.lan_wire);
  lan.finish();
}

GpuSpec read_gpu(Fields g) {
  GpuSpec gpu;
  gpu.model = g.string("model");
  gpu.count = static_cast<int>(g.integer("count", 1, 1, 64));
  gpu.memory = g.bytes("memory", Bytes{16ULL << 30});
  gpu.throughput = g.frequency("throughput", Frequency{30});
  gpu.driver = g.string("driver", std::string());
  g.finish();
  return gpu;
}

HardwareSpec read_hardware(Fields f) {
  HardwareSpec h;
  h.cpu_cores = static_cast<int>(f.integer("cpu", 4, 1, 1024));
  h.memory = f.bytes("memory", Bytes{8ULL << 30});
  h.disk = f.bytes("disk", Bytes{64ULL << 30});
  h.arch = f.string("arch", std::string("x86_64"));
  if (f.given("gpu")) h.gpu = read_gpu(f.sub("gpu"));
  f.finish();
  return h;
}

AgentSpec read_agent(Fields f) {
  AgentSpec a;
  a.notify_jitter = f.duration("notify_jitter", Duration{0});
  a.max_concurrent_downloads = static_cast<int>(f.integer("max_concurrent_downloads", 3, 1, 64));
  a.resume = f.choice("resume", "range", {"range", "restart"},
                      "must be \"range\" (continue at the byte offset) or \"restart\" (start over), got");
  a.max_fetch_attempts = static_cast<int>(f.integer("max_fetch_attempts", 5, 1, 1000));
  a.retry_initial = f.duration("retry_initial", Duration{10});
  a.retry_max = f.duration("retry_max", Duration{300});
  a.verification_window = f.duration("verification_window", Duration{0});
  a.rollback = f.choice("rollback", "local", {"local", "none"},
                        "must be \"local\" (restore the previous release, Greengrass ROLLBACK) or \"none\" (keep the "
                        "failed release, DO_NOTHING), got");
  a.restart_initial = f.duration("restart_initial", Duration{10});
  a.restart_max = f.duration("restart_max", Duration{300});
  a.restart_reset = f.duration("restart_reset", Duration{600});
  a.poll_interval = f.duration("poll_interval", Duration{0});
  if (a.poll_interval.seconds > 0 && a.poll_interval.seconds < 1) f.fail_at("poll_interval", "must be at least 1s");
  a.poll_jitter = f.number("poll_jitter", 0.2, 0.0, 1.0);
  a.connect_rtts = f.number("connect_rtts", 2.0, 0.0, 10.0);
  a.keep_alive = f.duration("keep_alive", Duration{90});
  if (!(a.restart_initial.seconds > 0)) f.fail_at("restart_initial", "must be positive");
  if (a.restart_max.seconds < a.restart_initial.seconds) f.fail_at("restart_max", "must be at least restart_initial");
  f.finish();
  return a;
}

OutageSpec read_outages(Fields o) {
  OutageSpec outages;
  outages.mtbf = o.duration("mtbf");
  outages.mttr = o.duration("mttr");
  if (!(outages.mtbf.seconds > 0)) o.fail_at("mtbf", "must be positive");
  if (!(outages.mttr.seconds > 0)) o.fail_at("mttr", "must be positive");
  outages.distribution = o.choice("distribution", "exponential", {"exponential", "weibull"},
                                  "must be \"exponential\" or \"weibull\", got");
  outages.shape = o.number("shape", 1.0, 0.05, 20.0);
  if (o.has("shape") && outages.distribution != "weibull")
    o.fail_at("shape", "only applies to distribution = \"weibull\"");
  o.finish();
  return outages;
}

// One entry of sensors = { ... }; names must be unique in the list.
SensorSpec read_sensor(Fields one, const std::vector<SensorSpec>& before) {
  SensorSpec sensor;
  sensor.name = one.name("name");
  for (const auto& other : before)
    if (other.name == sensor.name) one.fail_at("name", "a sensor '" + sensor.name + "' is already in this list");
  sensor.stream = one.name("stream", std::string("telemetry"));
  sensor.model.process = one.choice_of(
      "process", SensorProcess::periodic,
      {{"periodic", SensorProcess::periodic}, {"poisson", SensorProcess::poisson}, {"bursty", SensorProcess::bursty}},
      "must be periodic, poisson or bursty, got");
  sensor.model.rate_per_s = one.frequency("rate").per_s;
  if (sensor.model.process == SensorProcess::bursty) {
    sensor.model.on_mean_s = one.duration("on").seconds;
    sensor.model.off_mean_s = one.duration("off").seconds;
    if (!(sensor.model.on_mean_s > 0)) one.fail_at("on", "must be positive");
    if (!(sensor.model.off_mean_s > 0)) one.fail_at("off", "must be positive");
  } else {
    if (one.has("on") || one.has("off"))
      one.fail_at(one.has("on") ? "on" : "off", "only applies to process = \"bursty\"");
    one.raw("on");
    one.raw("off");
  }
  sensor.size = one.bytes("size", Bytes{200});
  if (sensor.size.count == 0 || sensor.size.count > (1ULL << 31)) one.fail_at("size", "must be between 1B and 2GiB");
  sensor.priority = static_cast<int>(one.integer("priority", 5, 0, 9));
  sensor.qos = static_cast<int>(one.integer("qos", 1, 0, 1));
  one.finish();
  return sensor;
}

std::vector<SensorSpec> read_sensors(Fields& f, const json& list) {
  std::vector<SensorSpec> out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    std::string key = "sensors." + std::to_string(i + 1);
    out.push_back(read_sensor(f.item(key, list[i]), out));
  }
  return out;
}

InferenceSpec read_inference(Fields f) {
  InferenceSpec in;
  in.cameras = static_cast<int>(f.integer("cameras", 1, 1, 1024));
  in.fps = f.frequency("fps", Frequency{15});
  in.queue_frames = static_cast<std::uint64_t>(f.integer("queue", 30, 0, 1LL << 40));
  in.stream = f.name("stream", std::string("detections"));
  in.result_size = f.bytes("result", Bytes{512});
  if (in.result_size.count == 0 || in.result_size.count > (1ULL << 31))
    f.fail_at("result", "must be between 1B and 2GiB");
  in.priority = static_cast<int>(f.integer("priority", 3, 0, 9));
  f.finish();
  return in;
}

// The stream keys of a bus table (the bus itself, or one entry of bus.streams).
void read_stream(Fields& f, telem::StreamConfig& c) {
  c.storage = f.choice_of("storage", c.storage, {{"memory", telem::Storage::memory}, {"disk", telem::Storage::disk}},
                          "must be \"memory\" or \"disk\", got");
  c.max_bytes = f.bytes("max_bytes", Bytes{c.max_bytes}).count;
  c.max_msgs = static_cast<std::uint64_t>(f.integer("max_msgs", static_cast<std::int64_t>(c.max_msgs), 0, 1LL << 50));
  if (c.max_bytes == 0 && c.max_msgs == 0)
    f.fail_at(f.has("max_bytes") ? "max_bytes" : "max_msgs", "a stream needs a bound: max_bytes or max_msgs above 0");
  c.segment_bytes = f.bytes("segment", Bytes{c.segment_bytes}).count;
  c.ttl_s = f.duration("ttl", Duration{c.ttl_s}).seconds;
  c.overflow = f.choice_of("overflow", c.overflow,
                           {{"drop_oldest", telem::Overflow::drop_oldest},
                            {"reject_new", telem::Overflow::reject_new},
                            {"priority_evict", telem::Overflow::priority_evict}},
                           "must be drop_oldest, reject_new or priority_evict, got");
  c.priority = static_cast<int>(f.integer("priority", c.priority, 0, 9));
  c.fsync_interval_s = f.duration("fsync_interval", Duration{c.fsync_interval_s}).seconds;
  c.keep_qos0_offline = f.boolean("keep_qos0_offline", c.keep_qos0_offline);
}

// The bus's forwarder keys: how the backlog is batched and uploaded.
void read_forwarder(Fields& f, telem::ForwarderConfig& fw) {
  fw.batch_interval_s = f.duration("batch_interval", Duration{fw.batch_interval_s}).seconds;
  if (!(fw.batch_interval_s >= 0.1)) f.fail_at("batch_interval", "must be at least 100ms");
  fw.max_batch_bytes = f.bytes("max_batch", Bytes{fw.max_batch_bytes}).count;
  fw.max_batch_msgs = static_cast<std::uint64_t>(
      f.integer("max_batch_msgs", static_cast<std::int64_t>(fw.max_batch_msgs), 0, 1LL << 40));
  if (fw.max_batch_bytes == 0 && fw.max_batch_msgs == 0)
    f.fail_at("max_batch", "a batch needs a bound: max_batch or max_batch_msgs above 0");
  fw.compression = f.number("compression", fw.compression, 1e-3, 1.0);
  if (f.given("upload_cap")) fw.upload_cap_bytes_per_s = f.rate("upload_cap").bytes_per_s;
  fw.retry_initial_s = f.duration("retry_initial", Duration{fw.retry_initial_s}).seconds;
  fw.retry_max_s = f.duration("retry_max", Duration{fw.retry_max_s}).seconds;
  if (!(fw.retry_initial_s > 0)) f.fail_at("retry_initial", "must be positive");
  if (fw.retry_max_s < fw.retry_initial_s) f.fail_at("retry_max", "must be at least retry_initial");
  fw.retry_limit = static_cast<unsigned>(f.integer("retry_limit", fw.retry_limit, 0, 1000000));
}

// bus.streams = { <stream> = { ... } }: per-stream overrides of the bus's stream keys.
void read_bus_streams(Fields& f, const std::vector<std::string>& streams, BusSpec& b) {
  const json* per = f.raw("streams");
  if (per == nullptr) return;
  if (!per->is_object()) f.fail_at("streams", "must be a table of stream name = { ... }");
  Fields sf = f.sub("streams");
  for (const auto& [stream, body] : per->items()) {
    if (std::find(streams.begin(), streams.end(), stream) == streams.end())
      sf.fail_at(stream, "no sensor or inference app of this site writes to a stream '" + stream +
                             "' (streams: " + join(streams) + ")");
    Fields one = sf.sub(stream);
    telem::StreamConfig c = b.config.stream;
    read_stream(one, c);
    one.finish();
    b.streams[stream] = c;
  }
}

BusSpec read_bus(Fields f, const std::vector<std::string>& streams) {
  BusSpec b;
  b.config.preset = "";
  std::string name = f.string("preset", std::string());
  if (!name.empty()) {
    auto p = telem::preset(name);
    if (!p) f.fail_at("preset", "unknown preset '" + name + "' (known: " + join(telem::preset_names()) + ")");
    b.config = *p;
  }
  read_stream(f, b.config.stream);
  read_forwarder(f, b.config.forwarder);
  read_bus_streams(f, streams, b);
  f.finish();
  return b;
}

// sensors, inference and bus: what the site's nodes produce and how it travels to the cloud.
void read_telemetry(Fields& f, SiteTemplate& s) {
  if (const json* sensors =
          f.list("sensors", "must be a list of sensor tables, e.g. { { name = \"temp\", rate = \"1/s\" } }"))
    s.sensors = read_sensors(f, *sensors);
  if (f.given("inference")) {
    if (!s.hardware.gpu)
      f.fail_at("inference", "needs a GPU: give hardware.gpu = { model = ..., throughput = \"200/s\" }");
    s.inference = read_inference(f.sub("inference"));
  }
  if (f.given("bus")) {
    if (s.sensors.empty() && !s.inference)
      f.fail_at("bus", "a bus needs something to carry: add sensors = { ... } or inference = { ... }");
    s.bus = read_bus(f.sub("bus"), s.streams());
  } else if (!s.sensors.empty() || s.inference) {
    s.bus = BusSpec{};
  }
}

}  // namespace

void load_cloud(const Declaration& d, Overridden overridden, Scenario& scenario) {
  Fields f(d.value, d.where, "cloud", "", overridden);
  CloudSpec& cloud = scenario.cloud;
  Fields reg = f.sub("registry");
  cloud.registry_egress = reg.rate("egress", cloud.registry_egress);
  cloud.registry_latency = reg.duration("latency", cloud.registry_latency);
  read_wire(reg, cloud.registry_wire);
  reg.finish();
  Fields orch = f.sub("orchestrator");
  cloud.orchestrator_bandwidth = orch.rate("bandwidth", cloud.orchestrator_bandwidth);
  cloud.orchestrator_latency = orch.duration("latency", cloud.orchestrator_latency);
  read_wire(orch, cloud.orchestrator_wire);
  orch.finish();
  f.finish();
  cloud.where = d.where;
}

void load_site(const Declaration& d, Overridden overridden, Scenario& scenario) {
  Fields f(d.value, d.where, named_subject(d.value, "site"), "", overridden);
  SiteTemplate s;
  s.where = d.where;
  s.name = f.name("name");
  for (const auto& other : scenario.sites)
    if (other.name == s.name)
      f.fail_at("name", "a site template '" + s.name + "' is already declared at " + other.where);
  s.count = static_cast<int>(f.integer("count", 1, 1, 1000000));
  s.nodes = static_cast<int>(f.integer("nodes", 1, 1, 100000));
  read_uplink(f.sub("uplink"), s);
  read_lan(f.sub("lan"), s);
  s.hardware = read_hardware(f.sub("hardware"));
  s.labels = f.string_map("labels");
  s.agent = read_agent(f.sub("agent"));
  if (f.given("outages")) s.outages = read_outages(f.sub("outages"));
  read_telemetry(f, s);
  f.finish();
  scenario.sites.push_back(std::move(s));
}

}  // namespace fleetsim::sim::loader

namespace fleetsim::sim {

std::vector<std::string> SiteTemplate::streams() const {
  std::vector<std::string> out;
  auto add = [&](const std::string& stream) {
    if (std::find(out.begin(), out.end(), stream) == out.end()) out.push_back(stream);
  };
  for (const auto& sensor : sensors) add(sensor.stream);
  if (inference) add(inference->stream);
  return out;
}

}  // namespace fleetsim::sim
