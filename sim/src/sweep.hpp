// fleetsim sweep, merge and compare (docs/SWEEPS.md): a scenario run over a grid of parameter values and seeds, one
// process per run, aggregated into sweep.json and sweep.csv; shards of one sweep merged into the same files.
#pragma once

#include <filesystem>
#include <map>
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
  std::vector<std::string> run_args;  // passed to every run: --set, --allow-path, --cfg, and -p of one value
  std::size_t point_count() const;
  // The parameter values of point i, in axis order.
  std::vector<std::pair<std::string, std::string>> point(std::size_t i) const;
};

// The metrics of one run's report.json that sweeps aggregate and compare: per operation time_to_50/90/99/100,
// duration, succeeded, failed; fleet.nodes_failed.
std::map<std::string, double> report_metrics(const nlohmann::ordered_json& report);

// Expands an axis value list: "10Mbps,20Mbps,50Mbps", or a range "1Gbps..10Gbps/4" (4 values evenly spaced, both
// ends included, in the ends' unit). Throws std::invalid_argument with the reason.
std::vector<std::string> expand_axis_values(const std::string& text);

// What sweep, merge and compare share.
namespace across_runs {
std::string read_text(const std::filesystem::path& path);
void write_atomically(const std::filesystem::path& path, const std::string& text);  // a temporary file, renamed
std::string format_number(double x);                                               // %.6g
}  // namespace across_runs

int sweep_main(const std::vector<std::string>& args);  // args[0] == "sweep"
int merge_main(const std::vector<std::string>& args);  // args[0] == "merge"
int compare_main(const std::vector<std::string>& args);  // args[0] == "compare"

}  // namespace fleetsim::sim
