// Metrics of a run by name ("upgrade.time_to_100", "fleet.registry_egress_bytes", "telemetry.store.dropped", ...)
// and the expectations a scenario states about them. Read from a run's results, whichever runtime produced them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "fleetsim/reports/run_result.hpp"

namespace fleetsim::checks {

// The measured value of a metric; nullopt when the run never reached it (100 % never healthy) or the name is unknown.
std::optional<double> metric_value(const reports::RunResult& result, const std::string& metric);

// measured <op> expected, op one of < <= > >= == !=.
bool holds(double measured, const std::string& op, double expected);

struct Expectation {
  std::string text;   // as written: "upgrade.time_to_100 <= 45m"
  std::string where;  // file:line
  std::string metric;
  std::string op;
  double value = 0;  // in the metric's unit
  std::string unit;  // seconds | bytes | count
  std::string across;  // a statistic across a sweep point's seeds ("p95"): measured, not judged, by one run
};

// Every metric of the run metric_value answers, in a fixed order: fleet.*, then per operation, per app@version,
// per telemetry scope (and gpu.* when the run had inference).
std::vector<std::string> metric_names(const reports::RunResult& result);

// Measures each expectation on the run; one result per expectation, in order.
std::vector<reports::ExpectationResult> evaluate(const std::vector<Expectation>& expectations,
                                                 const reports::RunResult& result);

}  // namespace fleetsim::checks
