// fleetsim sweep, merge and compare (docs/SWEEPS.md): a scenario run over a grid of parameter values and seeds, one
// process per run, aggregated into sweep.json and sweep.csv; shards of one sweep merged into the same files.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fleetsim::sim {

// A sweep's definition: what runs it has, in a fixed order (point-major, seed-minor). A pure function of the
// command line, so that every shard of one sweep enumerates the same runs.
struct SweepAxis {
  std::string name;                 // a parameter of the scenario
  std::vector<std::string> values;  // as -p values
};
struct SweepDefinition {
  std::string scenario;
  std::vector<SweepAxis> axes;       // the first varies slowest
  std::vector<std::string> seeds;    // as --seed values
  std::vector<std::string> run_args;  // passed to every run: --set, --allow-path, --cfg, --expect, -p of one value
  std::vector<std::string> metrics;   // metrics of interest beyond the default ones: names, or patterns with *
  std::size_t point_count() const;
  // The parameter values of point i, in axis order.
  std::vector<std::pair<std::string, std::string>> point(std::size_t i) const;
};
nlohmann::ordered_json definition_json(const SweepDefinition& d);  // sweep_definition.json
SweepDefinition definition_of(const nlohmann::ordered_json& j);

// What `fleetsim sweep` was asked: the definition, from the command line and the sweep file if any, and how to run
// it. parse_sweep_command throws std::invalid_argument (usage) or ScenarioError (a bad sweep file).
struct SweepRequest {
  SweepDefinition definition;
  std::string out_dir = "sweep";
  std::size_t jobs = 1;
  std::optional<std::pair<std::size_t, std::size_t>> shard;  // I, N
  bool no_progress = false;
  bool help = false;
  std::vector<std::string> overrides;       // the --set values, for loading the scenario
  std::vector<std::string> allowed_paths;   // the --allow-path values
  std::vector<std::pair<std::string, std::string>> expectations;  // --expect values (also in run_args), and where
};
SweepRequest parse_sweep_command(const std::vector<std::string>& args);
extern const char* const kSweepUsage;

// The metrics of one run's report.json that sweeps aggregate and compare by default: per operation
// time_to_50/90/99/100 (and any other time_to_<p> it has), duration, succeeded, failed; fleet.nodes_failed.
std::map<std::string, double> report_metrics(const nlohmann::ordered_json& report);
// Whether a metric name matches a pattern: the name itself, or * standing for any text ("telemetry.*.loss_ppm").
bool metric_matches(const std::string& pattern, const std::string& metric);

// Expands an axis value list: "10Mbps,20Mbps,50Mbps", or a range "1Gbps..10Gbps/4" (4 values evenly spaced, both
// ends included, in the ends' unit). Throws std::invalid_argument with the reason.
std::vector<std::string> expand_axis_values(const std::string& text);

// What sweep, merge and compare share.
namespace across_runs {
std::string read_text(const std::filesystem::path& path);
void write_atomically(const std::filesystem::path& path, const std::string& text);  // a temporary file, renamed
std::string format_number(double x);                                               // %.6g
std::string shell_quote(const std::string& text);  // for a POSIX shell: as is when safe, else in single quotes
}  // namespace across_runs

// What sweep.cpp (running), sweep_results.cpp (aggregating) and merge share.
namespace sweep_detail {
constexpr int kPass = 0, kFail = 1, kUsage = 2, kInternal = 3, kInterrupted = 130;
// One run of the sweep: a point and a seed, and where its files go (relative to the sweep's directory).
struct Run {
  std::size_t point = 0;
  std::size_t seed = 0;
  std::string dir;  // points/p0001/seed-1
};
std::string point_id(std::size_t i);  // p0001 for 0
std::vector<Run> runs_of(const SweepDefinition& d);
// A run's exit code once it finished (its .exit file), or nullopt: not run, or interrupted.
std::optional<int> finished(const std::filesystem::path& root, const Run& run);
// The command that replays one run of the sweep.
std::string replay_command(const SweepDefinition& d, const Run& run);
// Writes sweep.json, sweep.csv and junit.xml from the runs' files under root, prints the table of the points when
// `table` is set, and returns the sweep's exit code; *missing counts the runs without an exit code.
int aggregate(const std::filesystem::path& root, const SweepDefinition& d, std::size_t* missing, bool table);
}  // namespace sweep_detail

int sweep_main(const std::vector<std::string>& args);  // args[0] == "sweep"
int merge_main(const std::vector<std::string>& args);  // args[0] == "merge"
int compare_main(const std::vector<std::string>& args);  // args[0] == "compare"

}  // namespace fleetsim::sim
