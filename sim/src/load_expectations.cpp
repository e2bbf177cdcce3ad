// expect "<metric> <op> <value>": the metrics an expectation may name (metric_unit) and how its value is read.
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "fields.hpp"
#include "loader_sections.hpp"

namespace fleetsim::sim {
namespace {

namespace telem = fleetsim::agents::telemetry;

// <app>@<version>.node_time | nodes_at_end; `at` is the position of '@'.
std::optional<MetricUnit> version_metric_unit(const Scenario& scenario, const std::string& metric, std::size_t at) {
  const auto last = metric.rfind('.');
  const std::string app = metric.substr(0, at), version = metric.substr(at + 1, last - at - 1);
  const std::string field = metric.substr(last + 1);
  for (const auto& a : scenario.apps)
    if (a.name == app && a.find(version) != nullptr) {
      if (field == "node_time") return MetricUnit::seconds;
      if (field == "nodes_at_end") return MetricUnit::count;
    }
  return std::nullopt;
}

// telemetry.<template|fleet>.<field> and gpu.<template|fleet>.<field>; family is "telemetry." or "gpu.".
std::optional<MetricUnit> site_metric_unit(const Scenario& scenario, const std::string& metric, const char* family) {
  static const std::map<std::string, MetricUnit> telemetry_metrics{{"produced", MetricUnit::count},
                                                                   {"delivered", MetricUnit::count},
                                                                   {"dropped", MetricUnit::count},
                                                                   {"duplicates", MetricUnit::count},
                                                                   {"dropped_evicted", MetricUnit::count},
                                                                   {"dropped_rejected", MetricUnit::count},
                                                                   {"dropped_ttl_expired", MetricUnit::count},
                                                                   {"dropped_crash_lost", MetricUnit::count},
                                                                   {"loss_ppm", MetricUnit::count},
                                                                   {"peak_buffer_bytes", MetricUnit::bytes},
                                                                   {"drain_p50", MetricUnit::seconds},
                                                                   {"drain_max", MetricUnit::seconds},
                                                                   {"undrained", MetricUnit::count},
                                                                   {"delay_p50", MetricUnit::seconds},
                                                                   {"delay_p99", MetricUnit::seconds},
                                                                   {"max_backlog_age", MetricUnit::seconds}};
  static const std::map<std::string, MetricUnit> gpu_metrics{{"frames_arrived", MetricUnit::count},
                                                             {"frames_processed", MetricUnit::count},
                                                             {"frames_dropped", MetricUnit::count},
                                                             {"frames_lost_in_failure", MetricUnit::count}};
  const bool gpu = family[0] == 'g';
  const auto& fields = gpu ? gpu_metrics : telemetry_metrics;
  auto last = metric.rfind('.');
  std::string scope = metric.substr(std::string(family).size(), last - std::string(family).size());
  const std::string field = metric.substr(last + 1);
  auto it = fields.find(field);
  bool reason = false;
  for (std::size_t k = 0; !gpu && k < telem::kDropReasons; ++k)
    reason = reason || field == std::string("dropped_") + telem::to_string(static_cast<telem::DropReason>(k));
  if (it == fields.end() && !reason) return std::nullopt;
  bool known = scope == "fleet";
  for (const auto& tpl : scenario.sites)
    known = known || (tpl.name == scope && (gpu ? tpl.inference.has_value() : tpl.bus.has_value()));
  if (!known) return std::nullopt;
  return reason ? MetricUnit::count : it->second;
}

}  // namespace

std::optional<int> time_to_percent(const std::string& field) {
  const std::string prefix = "time_to_";
  if (field.rfind(prefix, 0) != 0) return std::nullopt;
  const std::string digits = field.substr(prefix.size());
  if (digits.empty() || digits.size() > 3 || digits.find_first_not_of("0123456789") != std::string::npos ||
      digits[0] == '0')
    return std::nullopt;
  const int p = std::stoi(digits);
  if (p < 1 || p > 100) return std::nullopt;
  return p;
}

namespace {

// <operation>.<field>, also <operation>_revert for a revert_all rollback.
std::optional<MetricUnit> operation_metric_unit(const Scenario& scenario, const std::string& metric) {
  static const std::map<std::string, MetricUnit> op_metrics{
      {"time_to_50", MetricUnit::seconds}, {"time_to_90", MetricUnit::seconds},
      {"time_to_99", MetricUnit::seconds}, {"time_to_100", MetricUnit::seconds},
      {"duration", MetricUnit::seconds},   {"targeted", MetricUnit::count},
      {"succeeded", MetricUnit::count},    {"failed", MetricUnit::count},
      {"timed_out", MetricUnit::count},    {"bytes_pulled", MetricUnit::bytes},
      {"canceled", MetricUnit::count},     {"time_to_abort", MetricUnit::seconds}};
  auto dot = metric.rfind('.');
  if (dot == std::string::npos) return std::nullopt;
  std::string op = metric.substr(0, dot);
  auto it = op_metrics.find(metric.substr(dot + 1));
  std::optional<MetricUnit> unit;
  if (it != op_metrics.end())
    unit = it->second;
  else if (time_to_percent(metric.substr(dot + 1)))  // any percentage: time_to_95
    unit = MetricUnit::seconds;
  if (!unit) return std::nullopt;
  for (const auto& action : scenario.timeline)
    if (action.name == op || (action.rollback == "revert_all" && action.name + "_revert" == op)) return unit;
  return std::nullopt;
}

}  // namespace

std::optional<MetricUnit> metric_unit(const Scenario& scenario, const std::string& metric) {
  static const std::map<std::string, MetricUnit> fleet_metrics{
      {"fleet.registry_egress_bytes", MetricUnit::bytes}, {"fleet.busiest_uplink_bytes", MetricUnit::bytes},
      {"fleet.nodes_failed", MetricUnit::count},          {"fleet.nodes", MetricUnit::count},
      {"fleet.bytes_wasted", MetricUnit::bytes},          {"fleet.end_time", MetricUnit::seconds},
      {"fleet.crash_reports", MetricUnit::count}};
  if (auto it = fleet_metrics.find(metric); it != fleet_metrics.end()) return it->second;
  if (const auto at = metric.find('@'); at != std::string::npos && metric.rfind('.') > at)
    return version_metric_unit(scenario, metric, at);
  for (const auto* family : {"telemetry.", "gpu."})
    if (metric.rfind(family, 0) == 0) return site_metric_unit(scenario, metric, family);
  return operation_metric_unit(scenario, metric);
}

namespace loader {
namespace {

[[noreturn]] void bad(const ExpectationSpec& e, const std::string& problem) {
  throw ScenarioError(e.where + ": expect \"" + e.text + "\": " + problem);
}

[[noreturn]] void unknown_metric(const Scenario& scenario, const ExpectationSpec& e) {
  std::string ops_list = join(scenario.timeline, [](const ActionSpec& a) { return a.name; });
  bad(e, "unknown metric '" + e.metric +
             "' (operation metrics: <operation>.time_to_<1..100> (the time by which that % of the targets were "
             "healthy), duration, targeted, "
             "succeeded, failed, timed_out, canceled, bytes_pulled, time_to_abort with operations " +
             ops_list + " (and <operation>_revert for a revert_all rollback)" +
             "; fleet metrics: fleet.registry_egress_bytes, fleet.busiest_uplink_bytes, fleet.bytes_wasted, "
             "fleet.nodes_failed, fleet.nodes, fleet.end_time, fleet.crash_reports; version metrics: "
             "<app>@<version>.node_time, nodes_at_end; telemetry metrics: telemetry.<site "
             "template|fleet>.produced, "
             "delivered, dropped, dropped_<reason>, duplicates, loss_ppm, peak_buffer_bytes, drain_p50, drain_max, "
             "undrained, delay_p50, delay_p99, max_backlog_age; gpu.<site template|fleet>.frames_arrived, "
             "frames_processed, frames_dropped, frames_lost_in_failure)");
}

// The value in the metric's base unit: seconds, bytes, or a plain number.
double value_in(MetricUnit unit, const std::string& value_text, const ExpectationSpec& e) {
  try {
    switch (unit) {
      case MetricUnit::seconds:
        return models::parse_duration(value_text).seconds;
      case MetricUnit::bytes:
        return static_cast<double>(models::parse_bytes(value_text).count);
      case MetricUnit::count: {
        // Plain decimal only: "nan" could never compare equal and "inf" would always compare greater.
        auto value = loader::parse_decimal(value_text);
        if (!value) {
          char* end = nullptr;
          std::strtod(value_text.c_str(), &end);
          if (end == value_text.c_str() || *end != '\0') bad(e, "'" + value_text + "' is not a number");
          bad(e, "'" + value_text + "' is not a finite decimal number (such as 12 or 0.5)");
        }
        return *value;
      }
    }
  } catch (const models::UnitError& err) {
    bad(e, err.what());
  }
  return 0;
}

// The value in the metric's base unit, which must be finite: an expectation against inf or nan is always or never
// met, whatever the run does.
double finite_value_in(MetricUnit unit, const std::string& value_text, const ExpectationSpec& e) {
  double value = value_in(unit, value_text, e);
  if (!std::isfinite(value)) bad(e, "'" + value_text + "' is not a finite value");
  return value;
}

// "p95(m)" -> ("p95", "m"); "m" -> ("", "m"). A statistic across seeds is mean, median, min, max or p1..p100.
void split_statistic(ExpectationSpec& e) {
  const auto open = e.metric.find('(');
  if (open == std::string::npos) return;
  if (e.metric.back() != ')') bad(e, "write a statistic across seeds as stat(metric), e.g. p95(upgrade.time_to_100)");
  const std::string stat = e.metric.substr(0, open);
  bool known = stat == "mean" || stat == "median" || stat == "min" || stat == "max";
  if (!known && stat.size() >= 2 && stat[0] == 'p' && stat.find_first_not_of("0123456789", 1) == std::string::npos &&
      stat[1] != '0' && stat.size() <= 4)
    known = std::stoi(stat.substr(1)) <= 100;
  if (!known)
    bad(e, "unknown statistic '" + stat + "' across seeds (mean, median, min, max, or p1 .. p100 by nearest rank)");
  e.across = stat;
  e.metric = e.metric.substr(open + 1, e.metric.size() - open - 2);
}

void load_regression(const Declaration& d, Scenario& scenario) {
  if (!d.value.is_object() || d.value.empty())
    throw ScenarioError(d.where + ": regression: write it as regression { [\"<metric>\"] = \"+5%\", ... }");
  for (const auto& [metric, value] : d.value.items()) {
    const std::string key = d.where + ": regression: key '" + metric + "'";
    if (!value.is_string()) throw ScenarioError(key + ": a tolerance is a string such as \"+5%\"");
    RegressionTolerance t;
    t.metric = metric;
    t.text = value.get<std::string>();
    t.where = d.where;
    std::string number = t.text;
    if (!number.empty() && (number[0] == '+' || number[0] == '-')) {
      t.direction = number[0] == '+' ? 1 : -1;
      number.erase(0, 1);
    }
    const bool percent = !number.empty() && number.back() == '%';
    if (percent) number.pop_back();
    const auto x = loader::parse_decimal(number);
    if (!percent || !x || *x < 0)
      throw ScenarioError(key + ": '" + t.text + "' is not a tolerance such as \"+5%\", \"-2%\" or \"10%\"");
    t.fraction = *x / 100.0;
    if (metric.find('*') != std::string::npos) {  // a pattern: * stands for any text, *.time_to_100
      if (metric.find_first_not_of("*.") == std::string::npos)
        throw ScenarioError(key + ": a pattern names some of a metric, such as *.time_to_100");
    } else if (!metric_unit(scenario, metric)) {
      ExpectationSpec e{metric + " " + t.text, metric, "", 0, d.where, ""};
      unknown_metric(scenario, e);
    }
    scenario.regression.push_back(std::move(t));
  }
}

}  // namespace

void load_expectation(const Declaration& d, Scenario& scenario) {
  if (d.kind == "regression") return load_regression(d, scenario);
  scenario.expectations.push_back(parse_expectation(scenario, d.value.get<std::string>(), d.where));
}

}  // namespace loader

ExpectationSpec parse_expectation(const Scenario& scenario, const std::string& text, const std::string& where) {
  using namespace loader;
  ExpectationSpec e;
  e.text = text;
  e.where = where;
  std::istringstream in(e.text);
  std::string value_text;
  in >> e.metric >> e.op;
  std::getline(in, value_text);
  value_text.erase(0, value_text.find_first_not_of(' '));
  static const std::set<std::string> ops{"<", "<=", ">", ">=", "==", "!="};
  if (e.metric.empty() || ops.count(e.op) == 0 || value_text.empty())
    bad(e,
        "write it as \"<metric> <op> <value>\", op one of < <= > >= == !=, e.g. \"rollout_app_2.time_to_100 <= "
        "45m\", or across a sweep's seeds \"p95(rollout_app_2.time_to_100) <= 45m\"");
  split_statistic(e);
  auto unit = metric_unit(scenario, e.metric);
  if (!unit) unknown_metric(scenario, e);
  e.value = finite_value_in(*unit, value_text, e);
  return e;
}

}  // namespace fleetsim::sim
