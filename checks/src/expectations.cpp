#include "fleetsim/checks/expectations.hpp"

#include <set>
#include <utility>

namespace fleetsim::checks {
namespace {

using Value = std::optional<double>;

Value count(std::uint64_t v) { return static_cast<double>(v); }

Value fleet_metric(const reports::RunResult& r, const std::string& metric) {
  if (metric == "fleet.registry_egress_bytes") return count(r.registry_egress_bytes);
  if (metric == "fleet.busiest_uplink_bytes") return count(r.busiest_uplink_bytes);
  if (metric == "fleet.bytes_wasted") return count(r.bytes_wasted);
  if (metric == "fleet.nodes_failed") return count(r.nodes_failed);
  if (metric == "fleet.nodes") return count(r.nodes);
  if (metric == "fleet.end_time") return r.end_time_s;
  if (metric == "fleet.crash_reports") return count(r.crash_reports);
  return std::nullopt;
}

// <app>@<version>.node_time | nodes_at_end
Value version_metric(const reports::RunResult& r, const std::string& name, const std::string& field) {
  const auto at = name.find('@');
  const std::string app = name.substr(0, at), version = name.substr(at + 1);
  if (field == "node_time") {
    auto a = r.node_time_s.find(app);
    if (a == r.node_time_s.end()) return 0.0;
    auto v = a->second.find(version);
    return v == a->second.end() ? 0.0 : v->second;
  }
  if (field == "nodes_at_end") {
    auto a = r.nodes_at_end.find(app);
    if (a == r.nodes_at_end.end()) return 0.0;
    auto v = a->second.find(version);
    return v == a->second.end() ? 0.0 : static_cast<double>(v->second);
  }
  return std::nullopt;
}

Value telemetry_field(const reports::TelemetryGroup& g, const std::string& field) {
  if (field == "produced") return count(g.produced);
  if (field == "delivered") return count(g.delivered);
  if (field == "dropped") return count(g.dropped);
  if (field == "duplicates") return count(g.duplicates);
  if (field.rfind("dropped_", 0) == 0) {
    auto it = g.dropped_by_reason.find(field.substr(8));
    return it == g.dropped_by_reason.end() ? std::nullopt : count(it->second);
  }
  if (field == "loss_ppm")
    return g.produced ? Value(1e6 * static_cast<double>(g.dropped) / static_cast<double>(g.produced)) : Value(0.0);
  if (field == "peak_buffer_bytes") return count(g.peak_buffer_bytes);
  if (field == "drain_p50") return g.drain_p50_s;
  if (field == "drain_max") return g.drain_max_s;
  if (field == "undrained") return count(g.undrained);
  if (field == "delay_p50") return g.delay_p50_s;
  if (field == "delay_p99") return g.delay_p99_s;
  if (field == "max_backlog_age") return g.max_backlog_age_s;
  if (field == "frames_arrived") return count(g.frames_arrived);
  if (field == "frames_processed") return count(g.frames_processed);
  if (field == "frames_dropped") return count(g.frames_dropped);
  if (field == "frames_lost_in_failure") return count(g.frames_lost_in_failure);
  return std::nullopt;
}

// telemetry.<scope>.<field> and gpu.<scope>.<field>; nullopt when the name is not of that family.
std::optional<Value> telemetry_metric(const reports::RunResult& r, const std::string& name, const std::string& field) {
  for (std::string family : {"telemetry.", "gpu."}) {
    if (name.rfind(family, 0) != 0) continue;
    const std::string scope = name.substr(family.size());
    for (const auto& g : r.telemetry)
      if (g.scope == scope) return telemetry_field(g, field);
    return Value();
  }
  return std::nullopt;
}

Value operation_metric(const reports::RunResult& r, std::size_t i, const std::string& field) {
  const auto& op = r.operations[i];
  if (field == "time_to_abort") return op.aborted_at_s ? Value(*op.aborted_at_s - op.started_at_s) : std::nullopt;
  for (const auto& [pct, t] : op.time_to_pct)
    if (field == "time_to_" + std::to_string(pct)) return t;
  if (field == "duration") return op.finished_at_s ? Value(*op.finished_at_s - op.started_at_s) : std::nullopt;
  if (field == "targeted") return count(op.targeted);
  if (field == "succeeded") return count(op.succeeded);
  if (field == "failed") return count(op.failed);
  if (field == "timed_out") return count(op.timed_out);
  if (field == "canceled") return count(op.canceled);
  if (field == "bytes_pulled") {
    double total = 0;
    for (const auto& row : r.node_rows)
      if (row.per_operation[i].notified_s) total += static_cast<double>(row.bytes_pulled);
    return total;
  }
  return std::nullopt;
}

}  // namespace

std::optional<double> metric_value(const reports::RunResult& r, const std::string& metric) {
  if (metric.rfind("fleet.", 0) == 0)
    if (Value v = fleet_metric(r, metric)) return v;
  const auto dot = metric.rfind('.');
  const std::string name = metric.substr(0, dot);
  const std::string field = metric.substr(dot + 1);
  if (name.find('@') != std::string::npos) return version_metric(r, name, field);
  if (auto v = telemetry_metric(r, name, field)) return *v;
  for (std::size_t i = 0; i < r.operations.size(); ++i)
    if (r.operations[i].name == name) return operation_metric(r, i, field);
  return std::nullopt;
}

std::vector<std::string> metric_names(const reports::RunResult& r) {
  std::vector<std::string> names{"fleet.registry_egress_bytes", "fleet.busiest_uplink_bytes", "fleet.bytes_wasted",
                                 "fleet.nodes_failed",          "fleet.nodes",                "fleet.end_time",
                                 "fleet.crash_reports"};
  for (const auto& op : r.operations) {
    for (const auto& [pct, t] : op.time_to_pct) names.push_back(op.name + ".time_to_" + std::to_string(pct));
    for (const char* field :
         {"duration", "targeted", "succeeded", "failed", "timed_out", "canceled", "bytes_pulled", "time_to_abort"})
      names.push_back(op.name + "." + field);
  }
  std::set<std::pair<std::string, std::string>> versions;
  for (const auto& [app, by_version] : r.node_time_s)
    for (const auto& [version, seconds] : by_version) versions.emplace(app, version);
  for (const auto& [app, by_version] : r.nodes_at_end)
    for (const auto& [version, n] : by_version) versions.emplace(app, version);
  for (const auto& [app, version] : versions) {
    names.push_back(app + "@" + version + ".node_time");
    names.push_back(app + "@" + version + ".nodes_at_end");
  }
  bool inference = false;
  for (const auto& g : r.telemetry) {
    inference = inference || g.frames_arrived > 0;
    for (const char* field : {"produced", "delivered", "dropped", "duplicates", "loss_ppm", "peak_buffer_bytes",
                              "drain_p50", "drain_max", "undrained", "delay_p50", "delay_p99", "max_backlog_age"})
      names.push_back("telemetry." + g.scope + "." + field);
    for (const auto& [reason, n] : g.dropped_by_reason) names.push_back("telemetry." + g.scope + ".dropped_" + reason);
  }
  if (inference)
    for (const auto& g : r.telemetry)
      for (const char* field : {"frames_arrived", "frames_processed", "frames_dropped", "frames_lost_in_failure"})
        names.push_back("gpu." + g.scope + "." + field);
  return names;
}

bool holds(double measured, const std::string& op, double expected) {
  if (op == "<") return measured < expected;
  if (op == "<=") return measured <= expected;
  if (op == ">") return measured > expected;
  if (op == ">=") return measured >= expected;
  if (op == "==") return measured == expected;
  return measured != expected;
}

std::vector<reports::ExpectationResult> evaluate(const std::vector<Expectation>& expectations,
                                                 const reports::RunResult& result) {
  std::vector<reports::ExpectationResult> out;
  for (const auto& e : expectations) {
    reports::ExpectationResult x;
    x.text = e.text;
    x.where = e.where;
    x.metric = e.metric;
    x.op = e.op;
    x.expected = e.value;
    x.unit = e.unit;
    x.measured = metric_value(result, e.metric);
    x.across = e.across;
    x.passed = !e.across.empty() || (x.measured && holds(*x.measured, e.op, e.value));
    out.push_back(std::move(x));
  }
  return out;
}

}  // namespace fleetsim::checks
