// What one run measured, as plain data. The simulator fills it; the writers in this library turn it into
// report.json, nodes.csv, junit.xml and the terminal summary. No wall-clock value ever enters it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fleetsim::reports {

inline constexpr int kReportSchemaVersion = 1;

// Node-side times of one node for one operation, in simulated seconds (nullopt: never happened).
struct NodeTimes {
  std::optional<double> notified_s;    // the desired state reached the node
  std::optional<double> downloaded_s;  // every layer present
  std::optional<double> healthy_s;     // the new release ran and passed readiness
  std::string outcome = "pending";     // as the orchestrator recorded it: succeeded, failed, timed_out, ...
  std::string detail;
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
  std::vector<Wave> waves;  // batches strategy: one per batch
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

struct RunResult {
  std::string fleetsim_version;
  std::string scenario_file;
  std::string scenario_name;
  std::uint64_t seed = 0;
  std::vector<std::string> overrides;
  std::map<std::string, std::string> engine_config;
  std::size_t sites = 0;
  std::size_t nodes = 0;
  double end_time_s = 0;
  bool hit_max_time = false;

  std::vector<OperationResult> operations;
  std::vector<NodeRow> node_rows;

  std::uint64_t registry_egress_bytes = 0;
  std::string busiest_uplink_site;
  std::uint64_t busiest_uplink_bytes = 0;
  std::uint64_t control_bytes = 0;
  std::uint64_t bytes_wasted = 0;
  std::size_t nodes_failed = 0;  // nodes whose last operation did not succeed

  std::vector<FaultWindow> faults;
  std::vector<Event> events;

  std::vector<ExpectationResult> expectations;
  std::vector<InvariantViolation> violations;

  bool passed() const;
};

// Writers. Each throws std::runtime_error naming the path if the file cannot be written.
void write_report_json(const RunResult& result, const std::string& path);
void write_nodes_csv(const RunResult& result, const std::string& path);
void write_junit_xml(const RunResult& result, const std::string& path);
// One JSON object per line, in time order.
void write_events_jsonl(const RunResult& result, const std::string& path);
// The human summary printed at the end of a run.
std::string summary_text(const RunResult& result);

}  // namespace fleetsim::reports
