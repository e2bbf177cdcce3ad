// A scenario as plain, validated data: what the Lua file declared, after --set overrides.
// Produced by load_scenario(); consumed by the platform builder and the runtime. Nothing here touches Lua.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "fleetsim/agents/telemetry.hpp"
#include "fleetsim/models/sensors.hpp"
#include "fleetsim/models/units.hpp"

namespace fleetsim::sim {

// A bad scenario or bad usage; what() is the complete message ("file:line: site 'store': key: problem").
class ScenarioError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What a link's rate counts besides the data: a full TCP segment carries `mss` bytes of payload and `overhead` bytes
// of headers and framing on the wire, so a transfer gets rate * mss / (mss + overhead) of the link (under CM02; LV08's
// bandwidth factor already stands for them). Defaults: TCP/IPv4 with timestamps over Ethernet, 1448 B of payload in
// a 1500 B packet, plus the 14 B Ethernet header that a shaped line (Linux tc, an ISP's rate limit) counts, or plus
// header, FCS, preamble and inter-frame gap (38 B) that an Ethernet port's line rate counts. docs/LUA_API.md.
struct WireSpec {
  models::Bytes mss{1448};
  models::Bytes overhead{66};
  double efficiency() const {
    return static_cast<double>(mss.count) / static_cast<double>(mss.count + overhead.count);
  }
};
inline constexpr std::uint64_t kShapedLineOverhead = 66;  // IPv4 20 + TCP 20 + timestamps 12 + Ethernet header 14
inline constexpr std::uint64_t kEthernetPortOverhead = 90;  // + FCS 4 + preamble 8 + inter-frame gap 12

struct CloudSpec {
  models::Rate registry_egress{125e6};  // 1 Gbps
  models::Duration registry_latency{0.005};
  models::Rate orchestrator_bandwidth{125e6};
  models::Duration orchestrator_latency{0.005};
  models::Rate ingest_bandwidth{1.25e9};  // the telemetry endpoint's NIC (10 Gbps)
  WireSpec registry_wire{models::Bytes{1448}, models::Bytes{kEthernetPortOverhead}};
  WireSpec orchestrator_wire{models::Bytes{1448}, models::Bytes{kEthernetPortOverhead}};  // and the ingest's NIC
  std::string where;
};

struct GpuSpec {
  std::string model;
  int count = 0;
  models::Bytes memory{};
  models::Frequency throughput{30};  // inference frames per second, per GPU
  std::string driver;                // driver version, for releases that fail on some hardware
};

struct HardwareSpec {
  int cpu_cores = 4;
  double cpu_speed_flops = 1e9;
  models::Bytes memory{8ULL << 30};
  models::Bytes disk{64ULL << 30};
  std::string arch = "x86_64";
  std::optional<GpuSpec> gpu;
};

struct AgentSpec {
  models::Duration notify_jitter{0};
  int max_concurrent_downloads = 3;
  std::string resume = "range";  // "range" | "restart"
  int max_fetch_attempts = 5;
  models::Duration retry_initial{10};
  models::Duration retry_max{300};
  models::Duration verification_window{0};
  std::string rollback = "local";  // a failed update: "local" restores the previous release, "none" keeps the new one
  models::Duration restart_initial{10};
  models::Duration restart_max{300};
  models::Duration restart_reset{600};
  models::Duration poll_interval{0};  // 0: push notifications only
  double poll_jitter = 0.2;
  // Round trips before a pull's first byte (docs/ENGINE.md, "Connection set-up"): a new connection's handshakes
  // (TCP 1 + TLS 1.3 1), then each layer's request; an idle connection is reused within keep_alive (Go net/http).
  double connect_rtts = 2;
  models::Duration keep_alive{90};
};

// A random on/off outage process of each site's uplink: up for a draw of mean mtbf, down for a draw of mean
// mttr, again and again, per site, from (seed, site, "outages").
struct OutageSpec {
  models::Duration mtbf{0};  // 0: no random outages
  models::Duration mttr{0};
  std::string distribution = "exponential";  // or "weibull"
  double shape = 1.0;                        // Weibull shape k (k < 1: many short, few very long)
};

// A sensor kind on every node of a site template (models/sensors.hpp): a rate, not an event per reading.
struct SensorSpec {
  std::string name;
  std::string stream = "telemetry";
  models::SensorModel model;
  models::Bytes size{200};
  int priority = 5;  // 0 most urgent
  int qos = 1;
};

// A camera-fed inference app on every node of the template that has a GPU: frames queue in front of the GPU (one
// SimGrid execution per batch of queued frames on a host standing for the GPU) and are dropped beyond `queue`;
// each processed frame yields one result message on `stream`.
struct InferenceSpec {
  int cameras = 1;
  models::Frequency fps{15};  // per camera
  std::uint64_t queue_frames = 30;
  std::string stream = "detections";
  models::Bytes result_size{512};
  int priority = 3;
};

// The site's telemetry bus: a preset (or fleetsim's defaults) with overrides, and per-stream overrides.
struct BusSpec {
  agents::telemetry::BusConfig config;
  std::map<std::string, agents::telemetry::StreamConfig> streams;
};

struct SiteTemplate {
  std::string name;
  int count = 1;               // how many sites of this template
  int nodes = 1;               // nodes per site
  models::Rate uplink_down{};  // cloud -> site
  models::Rate uplink_up{};    // site -> cloud
  models::Duration uplink_latency{};
  double uplink_loss = 0;  // packet loss on the uplink: a per-transfer TCP throughput cap + extra latency
  WireSpec uplink_wire;    // its mss is also the segment size of that cap
  models::Rate lan_bandwidth{125e6};
  models::Duration lan_latency{0.0002};
  WireSpec lan_wire{models::Bytes{1448}, models::Bytes{kEthernetPortOverhead}};
  HardwareSpec hardware;
  std::map<std::string, std::string> labels;
  AgentSpec agent;
  OutageSpec outages;
  std::vector<SensorSpec> sensors;
  std::optional<InferenceSpec> inference;
  std::optional<BusSpec> bus;                // set when the template has sensors or inference
  std::vector<std::string> streams() const;  // the bus's streams: sensors' and inference's, in first-use order
  std::string where;
};

struct LayerSpec {
  std::string digest;  // named layers are shared between versions and apps; unnamed ones get a unique digest
  models::Bytes size{};
};

struct AppVersionSpec {
  std::string version;
  std::vector<LayerSpec> layers;
  models::Duration start_time{1};
  models::Duration ready_time{0};
  double crash_on_start = 0;       // release behaviour: probability that a start of this version crashes
  models::Duration fail_after{0};  // release behaviour: the process exits this long after every start (0: never)
  // Release behaviour on some hardware only: keys gpu_model, gpu_driver, arch. With it, crash_on_start and
  // fail_after apply only to matching nodes (and a start there always crashes if neither is given).
  std::map<std::string, std::string> fails_on;
  // What an instance needs of a node (placement): "cpu" (cores), "memory", "gpu_memory" (bytes), "gpu" (devices).
  std::map<std::string, double>
  requires;
  // Whether this version misbehaves on a node of this hardware (fails_on matches, or there is no fails_on).
  bool bad_on(const HardwareSpec& hardware) const;
};

struct AppSpec {
  std::string name;
  std::vector<AppVersionSpec> versions;  // in declaration order (sorted by version name)
  std::string where;
  const AppVersionSpec* find(const std::string& version) const;
};

struct ActionSpec {
  enum class Kind { deploy, rollout } kind = Kind::deploy;
  double at_s = 0;
  std::string name;  // operation name used by metrics ("rollout_pos_2" unless given)
  std::string app;
  std::string version;
  std::map<std::string, std::string> selector;
  std::string strategy = "all_at_once";                // all_at_once | batches | exponential | canary
  std::uint64_t canary_size = 0;                       // canary: a node count, or
  double canary_percent = 0;                           // a share of the targets, or
  std::map<std::string, std::string> canary_selector;  // the nodes with these labels
  models::Duration canary_time{0};                     // how long the canary must hold
  std::uint64_t max_unavailable = 0;                   // rolling: nodes, or
  double max_unavailable_percent = 0;                  // a share of each site's targets (rounded down)
  std::uint64_t max_surge = 0;                         // rolling: nodes, or
  double max_surge_percent = 0;                        // a share of each site's targets (rounded up)
  std::uint64_t batch_size = 0;
  double batch_percent = 0;
  std::uint64_t sites_in_parallel = 0;
  models::Duration healthy_time{0};
  double base_per_minute = 0;  // exponential
  double increment_factor = 1;
  std::uint64_t increase_after = 0;
  bool count_succeeded = false;
  double maximum_per_minute = 0;
  models::Duration node_deadline{0};
  double abort_threshold_percent = 0;  // abort = { failure_threshold = "30%", min_executed = 5 }
  std::uint64_t abort_min_executed = 1;
  std::string abort_failure_type = "all";  // all | failed | timed_out (AWS failureType ALL, FAILED, TIMED_OUT)
  std::string rollback = "none";           // none | revert_all
  std::string where;
};

// fault.partition: the selected sites lose their uplink (both directions) for a window. Transfers in flight on
// it fail, as a real connection would; the simulator lifts every fault at the end of its window.
// fault.degrade: the selected sites' uplinks run at `factor` of their bandwidth for a window.
// fault.registry_outage: the registry's egress is down for a window (every pull in flight fails).
struct FaultSpec {
  std::string kind = "partition";  // partition | degrade | registry_outage | node_crash | disk_full | gpu_failure | ...
  double at_s = 0;
  double duration_s = 0;
  double factor = 1.0;                          // degrade: bandwidth multiplier in (0, 1]
  std::uint64_t free_bytes = 0;                 // disk_full: room left for layers beyond what is stored
  std::map<std::string, std::string> selector;  // sites whose template labels match all of these
  std::string name;                             // "<kind>_<n>" unless given
  std::vector<std::string> sites;               // explicit site names ("store-3"), or
  std::string site_template;                    // every site of a template (empty: of the whole fleet), and
  double fraction = 1.0;  // this share of them, drawn from the seed (rounded to the nearest site, >= 1)
  std::string where;
};

struct ExpectationSpec {
  std::string text;    // as written: "rollout.time_to_100 <= 45m"
  std::string metric;  // "rollout.time_to_100"
  std::string op;      // "<", "<=", ">", ">=", "==", "!="
  double value = 0;    // in the metric's base unit (seconds, bytes, count)
  std::string where;
  // Empty: about one run. Else the statistic of the metric across a sweep point's seeds that is compared,
  // "p95(rollout.time_to_100) <= 45m": mean, median, min, max or p<1..100> (nearest rank); fleetsim sweep evaluates
  // it, a single run only reports its own value.
  std::string across;
};

// regression { ["upgrade.time_to_100"] = "+5%" }: how much worse than a baseline a metric may get before fleetsim
// compare calls it a regression. A key is a metric or "*.<ending>" (every metric ending so); "+N%" makes a rise a
// regression, "-N%" a fall, "N%" the metric's usual direction.
struct RegressionTolerance {
  std::string metric;
  double fraction = 0.05;
  int direction = 0;  // +1, -1, or 0: the metric's usual direction
  std::string text;   // as written: "+5%"
  std::string where;
};

struct SimulationSpec {
  models::Duration max_time{7 * 86400.0};
  models::Duration duration{0};  // run at least this long, even when every operation finished earlier
  std::string network_model = "CM02";
  double precision_s = 1e-9;  // surf/precision (SimGrid's default)
  bool crosstraffic = false;
  // How control messages travel: "timed" (delivered after route latency + size / narrowest link, outside
  // bandwidth sharing) or "network" (SimGrid communications sharing the links with the pulls). docs/ENGINE.md.
  std::string control_messages = "timed";
  // Who shares bandwidth among bulk transfers (layer pulls, telemetry batches): "sharing", fleetsim's incremental
  // solver (same answers as SimGrid's, n log n cost; docs/SOLVER.md); "simgrid", SimGrid's LMM; "auto" (default),
  // the solver unless a setting it does not reproduce asks for SimGrid's.
  std::string solver = "auto";
  std::map<std::string, std::string> simgrid_cfg;  // extra --cfg values
  models::Duration telemetry_sample{60};           // period of the telemetry time series
  models::Duration states_sample{60};              // period of the nodes-in-state time series
  // The fleet may have at most this many nodes, checked before anything is built for it: a typo such as
  // count = 1000000 should be an error, not an exhausted machine.
  std::uint64_t max_nodes = 2'000'000;
  std::string where;
};

// A scenario parameter: param("uplink", "20Mbps") in the file, set with -p uplink=50Mbps (docs/LUA_API.md).
struct ScenarioParam {
  std::string name;
  std::string kind;          // rate, size, duration, frequency, number, integer, boolean or string: the default's
  std::string default_text;  // as written in the file (numbers as Lua prints them)
  std::string value_text;    // what the run used: the -p value, or the default
  bool given = false;        // set with -p
  std::string where;         // file:line of the param() call
};

struct Scenario {
  std::string file;
  std::string name;
  std::string description;
  CloudSpec cloud;
  std::vector<SiteTemplate> sites;
  std::vector<AppSpec> apps;
  std::vector<ActionSpec> timeline;  // sorted by time, stable
  std::vector<FaultSpec> faults;     // sorted by time, stable
  std::vector<ExpectationSpec> expectations;
  std::vector<RegressionTolerance> regression;
  SimulationSpec simulation;
  std::vector<std::string> overrides;  // "path=value" as given on the command line
  std::vector<ScenarioParam> parameters;  // in the order the file declared them
  std::size_t node_count() const;
  std::size_t site_count() const;
};

// Kinds of metric an expectation may name, and how its value is written.
enum class MetricUnit { seconds, bytes, count };
// Resolves "op.time_to_100" / "fleet.registry_egress_bytes" to its unit; nullopt if the name is unknown.
std::optional<MetricUnit> metric_unit(const Scenario& scenario, const std::string& metric);
// "time_to_95" -> 95: an operation's time by which that percentage (1..100) of its targets were healthy.
std::optional<int> time_to_percent(const std::string& field);
// Reads an expectation as `expect` does ("<metric> <op> <value>" or "<stat>(<metric>) <op> <value>") against the
// scenario's metrics; a sweep's own expectations go through it too. Throws ScenarioError naming `where`.
ExpectationSpec parse_expectation(const Scenario& scenario, const std::string& text, const std::string& where);

// What a scenario may reach beyond its own file.
struct LoadOptions {
  // Folders a scenario's trace files (fault.trace) may be in besides the scenario's own folder (--allow-path).
  std::vector<std::string> allowed_paths;
  // -p NAME=VALUE, in the order given; every name must be one the file declares with param().
  std::vector<std::pair<std::string, std::string>> parameters;
  // The run's seed: fleet.seed in the file, and the seed of its math.random.
  std::uint64_t seed = 1;
  // Expectations added to the file's (fleetsim run --expect, a sweep's own): their text, read as `expect` reads it,
  // and where they come from for messages ("--expect", or a sweep file's file:line).
  std::vector<std::pair<std::string, std::string>> expectations;
};

// Loads and validates a scenario. overrides are "path=value" strings (--set). Throws ScenarioError.
Scenario load_scenario(const std::string& file, const std::vector<std::string>& overrides,
                       const LoadOptions& options = {});

}  // namespace fleetsim::sim
