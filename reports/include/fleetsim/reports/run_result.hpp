// What one run measured, as plain data. The simulator fills it; the writers in this library turn it into
// report.json, nodes.csv, junit.xml and the terminal summary. No wall-clock value ever enters it.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fleetsim::reports {

inline constexpr int kReportSchemaVersion = 1;

// Node-side times of one node for one operation, in simulated seconds (nullopt: never happened).
struct NodeTimes {
  std::optional<double> notified_s;    // the desired state reached the node
  std::optional<double> downloaded_s;  // every layer present
  std::optional<double> healthy_s;     // the new release ran and passed readiness
  std::string outcome = "pending";     // as the orchestrator recorded it: succeeded, failed, timed_out, ...; empty
                                       // for a node the operation did not target
  std::string reason;                  // why not succeeded: disk_full, pull_failed, deadline, ... (agents'
                                       // FailureReason); empty when it succeeded or is pending
  std::string detail;                  // the particulars, as the node or the orchestrator said them
};

struct NodeRow {
  std::string node;
  std::string site;
  std::uint64_t bytes_pulled = 0;
  std::uint64_t bytes_wasted = 0;
  std::vector<NodeTimes> per_operation;  // same order as RunResult::operations
};

struct OperationResult {
  std::string name;
  std::string kind;  // deploy | rollout
  std::string app;
  std::string version;
  std::uint32_t revision = 0;
  std::string strategy;
  double started_at_s = 0;
  std::optional<double> finished_at_s;
  std::size_t targeted = 0, succeeded = 0, failed = 0, timed_out = 0, canceled = 0;
  // Time from the operation's start until this share of the targeted nodes ran the new release healthy.
  std::map<int, std::optional<double>> time_to_pct;  // keys 50, 90, 99, 100
  std::optional<double> aborted_at_s;                // when the abort rule fired
  bool is_rollback = false;                          // started by the orchestrator to roll back an aborted operation
  std::string rolled_back_by;                        // the rollback operation this one's abort started
  struct Wave {
    std::size_t nodes = 0;
    double started_s = 0;
    std::optional<double> completed_s;  // every node of the batch terminal
  };
  std::vector<Wave> waves;            // batches strategy: one per batch
  std::vector<std::string> unplaced;  // "<node>: <resource>: needs x, y free of z": matched but without room
};

struct ExpectationResult {
  std::string text;
  std::string where;
  std::string metric;
  std::string op;
  std::string unit;  // seconds | bytes | count
  double expected = 0;
  std::optional<double> measured;  // nullopt: the metric was never reached (e.g. 100 % never healthy)
  bool passed = false;
  // "p95", "mean", ...: a statistic across a sweep point's seeds, which one run cannot judge: it reports its own
  // measured value, counts as passed here, and is a skipped test case in junit.xml (fleetsim sweep judges it).
  std::string across;
};

struct InvariantViolation {
  std::string invariant;
  std::string detail;
  double at_s = 0;
};

// One line of events.jsonl: something the simulator did to the world, at a simulated time.
struct Event {
  double at_s = 0;
  std::string type;    // fault.start | fault.end
  std::string fault;   // the fault's name
  std::string kind;    // partition
  std::string target;  // the site
};

// A fault window as the report's outage timeline shows it.
struct FaultWindow {
  std::string name;
  std::string kind;
  double start_s = 0;
  double end_s = 0;
  std::vector<std::string> sites;  // "registry" for a registry outage
  double factor = 1.0;             // degrade: bandwidth multiplier
  std::uint64_t free_bytes = 0;    // disk_full: room left for layers
};

// How many nodes were in a state for an app at a time: state is running, crashlooping (the committed release's
// process exited and waits for, or is in, its back-off restart), starting (the committed release starts again after
// a local rollback or a boot), updating, down (powered off) or none; version is the release the node runs (or
// starts).
struct StateSample {
  double at_s = 0;
  std::string app;
  std::string version;
  std::string state;
  std::size_t nodes = 0;
};

// Telemetry of one group of sites (a site template, or "fleet" for all of them), over the whole run.
struct TelemetryGroup {
  std::string scope;   // site template name, or "fleet"
  std::string preset;  // the template's bus preset ("custom" without one; "" for the fleet)
  std::size_t sites = 0;
  std::uint64_t produced = 0;
  std::uint64_t delivered = 0;   // unique messages the cloud accepted
  std::uint64_t duplicates = 0;  // copies the cloud discarded by sequence number
  std::uint64_t buffered_at_end = 0;
  std::uint64_t dropped = 0;
  std::map<std::string, std::uint64_t> dropped_by_reason;  // every reason, zeros included
  std::uint64_t peak_buffer_bytes = 0;                     // the fullest site's peak
  std::uint64_t peak_buffer_p50_bytes = 0;                 // the median site's peak
  std::uint64_t peak_buffer_p99_bytes = 0;
  std::uint64_t peak_buffer_msgs = 0;
  double max_backlog_age_s = 0;  // the oldest unsent message's age, at its worst
  std::size_t drains = 0;        // uplink recoveries that found a backlog
  std::size_t undrained = 0;     // of those, not caught up by the end of the run or the next outage
  std::optional<double> drain_p50_s, drain_p99_s, drain_max_s;
  std::optional<double> delay_p50_s, delay_p99_s, delay_max_s;  // production to arrival at the cloud
  std::size_t sites_never_drain = 0;  // live rate at or above the uplink's capacity for telemetry
  // The delay distribution: each bin of the delay histogram that holds messages, as (lower edge s, upper edge s,
  // messages); 20 logarithmic bins per decade from 1 ms.
  std::vector<std::array<double, 3>> delay_bins;
  // GPU inference (sites with inference only)
  std::uint64_t frames_arrived = 0, frames_processed = 0, frames_dropped = 0, frames_lost_in_failure = 0;
  std::uint64_t peak_frame_queue = 0;
};

// One point of the telemetry time series of a group.
struct TelemetrySample {
  double at_s = 0;
  std::string scope;
  std::uint64_t buffered_bytes = 0;
  std::uint64_t buffered_msgs = 0;
  std::uint64_t max_site_bytes = 0;
  double max_backlog_age_s = 0;
  std::size_t sites_behind = 0;  // backlog older than two batch intervals
  std::uint64_t delivered = 0;   // cumulative, unique at the cloud
  std::uint64_t dropped = 0;     // cumulative
};

struct TelemetryDrain {
  double up_at_s = 0;
  std::uint64_t backlog_bytes = 0;
  std::optional<double> drained_after_s;  // nullopt: not caught up before the run ended or the link failed again
};

struct TelemetrySite {
  std::string site;
  std::string scope;  // its template
  std::uint64_t produced = 0, delivered = 0, duplicates = 0, dropped = 0, peak_buffer_bytes = 0;
  std::map<std::string, std::uint64_t> dropped_by_reason;
  double live_bytes_per_s = 0;      // mean live telemetry rate on the wire
  double capacity_bytes_per_s = 0;  // the uplink's up direction, or the upload cap if lower
  std::vector<TelemetryDrain> drains;
};

// Bytes over time on one link (network.csv): the cumulative bytes it carried at each of RunResult::network_times_s
// (pulls in flight counted by what has arrived), and its capacity there (0 while it is down).
struct NetworkSeries {
  std::string link;       // "registry egress", or a site's name for its uplink
  std::string direction;  // "down" (towards the sites) or "up"
  std::uint64_t total_bytes = 0;  // over the whole run
  std::vector<double> bytes;
  std::vector<double> capacity_bytes_per_s;
};

// A scenario parameter as the run used it (param() in the file, -p on the command line).
struct ParameterValue {
  std::string name;
  std::string kind;  // rate, size, duration, frequency, number, integer, boolean, string
  std::string value;
  std::string default_value;
  bool given = false;  // set with -p
};

struct RunResult {
  std::string fleetsim_version;
  std::string scenario_file;
  std::string scenario_name;
  std::uint64_t seed = 0;
  std::vector<std::string> overrides;
  std::vector<ParameterValue> parameters;  // in the order the scenario declared them
  std::vector<std::string> invariants_checked;  // every invariant the run was checked against, by name
  // The command that replays the run (set by the command line): junit.xml only, since report.json is the same for
  // equivalent command lines (--seed 010 and --seed 10) and holds what the command is made of.
  std::string replay;
  double wall_s = 0;   // the simulation's wall time: junit.xml's time attribute only, never report.json
  std::map<std::string, std::string> engine_config;
  std::size_t sites = 0;
  std::size_t nodes = 0;
  double end_time_s = 0;
  bool hit_max_time = false;
  bool interrupted = false;  // stopped by Ctrl-C or SIGTERM at end_time_s: the results hold what ran until then

  std::vector<OperationResult> operations;
  std::vector<NodeRow> node_rows;

  std::uint64_t registry_egress_bytes = 0;
  std::string busiest_uplink_site;
  std::uint64_t busiest_uplink_bytes = 0;
  std::uint64_t control_bytes = 0;
  std::uint64_t bytes_wasted = 0;
  std::size_t nodes_failed = 0;  // nodes whose last operation did not succeed
  // What fleetsim's sharing solver did (absent under SimGrid's): its events and, above all, its precision hazards,
  // levels where SimGrid's maxmin/precision would have dropped a link early (docs/SOLVER.md): there the two solvers
  // may disagree, and SimGrid's answer is the less exact one.
  struct SolverWork {
    std::uint64_t events = 0;
    std::uint64_t class_changes = 0;
    std::uint64_t scans = 0;
    std::uint64_t precision_hazards = 0;
    // `--cfg fleetsim/check-solver:yes`: every transfer also run on SimGrid's LMM and compared (docs/SOLVER.md).
    struct Check {
      std::uint64_t compared = 0;
      std::uint64_t differences = 0;
      double largest_relative_difference = 0;
    };
    std::optional<Check> check;
  };
  std::optional<SolverWork> solver;

  std::vector<FaultWindow> faults;
  std::vector<Event> events;

  // Per app and version: node time (seconds nodes ran or started it, while powered) and nodes on it at the end.
  std::map<std::string, std::map<std::string, double>> node_time_s;
  std::map<std::string, std::map<std::string, std::size_t>> nodes_at_end;
  std::uint64_t crash_reports = 0;  // times a committed release's process exited (crash loops)
  std::vector<StateSample> states;  // every simulation.states_sample

  // The registry egress, then the busiest site uplinks in each direction (RunResult::kBusiestUplinks of each).
  static constexpr std::size_t kBusiestUplinks = 5;
  std::vector<double> network_times_s;
  std::vector<NetworkSeries> network;

  std::vector<TelemetryGroup> telemetry;  // one per site template with a bus, then "fleet"; empty without buses
  std::vector<TelemetrySample> telemetry_series;
  std::vector<TelemetrySite> telemetry_sites;

  std::vector<ExpectationResult> expectations;
  std::vector<InvariantViolation> violations;
  // Every metric an expectation could name, measured (nullopt: never reached or not measured), for sweeps and
  // comparisons; and the scenario's regression tolerances as written (regression { ["m"] = "+5%" }).
  std::vector<std::pair<std::string, std::optional<double>>> metrics;
  std::vector<std::pair<std::string, std::string>> regression;

  std::vector<std::string> files;  // the report files this run wrote (listed in report.json)
  // Mistakes of the scenario found only by running it (a fault timed after the run ended): the run is an error.
  std::vector<std::string> scenario_errors;

  bool passed() const;
  // "error" (scenario_errors), "interrupted", "pass" or "fail".
  std::string result() const;
};

// Writers. Each writes to a temporary file renamed into place (a reader never sees half a file) and throws
// std::runtime_error naming the path if the file cannot be written. Every user string is quoted (CSV) or escaped
// (XML, JSON) so that no name can break a file's format.
void write_report_json(const RunResult& result, const std::string& path);
void write_nodes_csv(const RunResult& result, const std::string& path);
void write_junit_xml(const RunResult& result, const std::string& path);
// junit.xml for a run that could not start (a bad scenario): one test case in error, with the message.
void write_junit_error(const std::string& path, const std::string& suite, const std::string& message);
// A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break.
std::string csv_field(const std::string& text);
// Text for an XML attribute or element: markup escaped, control characters and bytes that are not UTF-8 replaced.
std::string xml_escape(const std::string& text);
// Nodes in each state over time: one row per sample, app, version and state.
void write_states_csv(const RunResult& result, const std::string& path);
// The telemetry time series (one row per sample and scope) and one row per site with a bus.
void write_telemetry_csv(const RunResult& result, const std::string& path);
void write_telemetry_sites_csv(const RunResult& result, const std::string& path);
// One row per uplink recovery that found a telemetry backlog: when, how much, how long it took to drain.
void write_telemetry_drains_csv(const RunResult& result, const std::string& path);
// Bytes over time on the registry egress and the busiest uplinks: one row per sample and link.
void write_network_csv(const RunResult& result, const std::string& path);
// One JSON object per line, in time order.
void write_events_jsonl(const RunResult& result, const std::string& path);
// report.html: one self-contained page (scripts, styles and data inlined) with the run's charts and tables. Reads
// nodes.csv, telemetry.csv and junit.xml from the same directory: written after them, before report.json.
void write_report_html(const RunResult& result, const std::string& path);
// Rebuilds DIR/report.html from DIR's report.json, nodes.csv, telemetry.csv and junit.xml (fleetsim report DIR):
// the bytes the run wrote. Throws std::runtime_error naming the file (and line) that is missing or malformed.
void rebuild_report_html(const std::string& dir);
// The human summary printed at the end of a run.
std::string summary_text(const RunResult& result);

}  // namespace fleetsim::reports
