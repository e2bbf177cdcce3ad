#include "results.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include <simgrid/version.h>

#include "bulk_network.hpp"
#include "timeline.hpp"

namespace fleetsim::sim {
namespace {

constexpr int kPercentiles[] = {50, 90, 99, 100};

void collect_fleet(const World& world, const std::map<std::string, std::string>& engine_config, bool hit_max_time,
                   reports::RunResult& r) {
  const Scenario& scenario = world.scenario;
  r.fleetsim_version = "0.1.0";
  r.scenario_file = scenario.file;
  r.scenario_name = scenario.name;
  r.seed = world.options.seed;
  r.overrides = scenario.overrides;
  for (const auto& p : scenario.parameters)
    r.parameters.push_back({p.name, p.kind, p.value_text, p.default_text, p.given});
  r.engine_config = engine_config;
  r.engine_config["simgrid_version"] =
      std::to_string(SIMGRID_VERSION_MAJOR) + "." + std::to_string(SIMGRID_VERSION_MINOR);
  r.sites = world.platform.sites.size();
  r.nodes = world.platform.nodes.size();
  r.end_time_s = world.stopped_early_at.value_or(simgrid::s4u::Engine::get_clock());
  r.hit_max_time = hit_max_time;
  r.interrupted = world.stopped_early_at.has_value();
  r.registry_egress_bytes = world.registry_egress_bytes;
  if (world.bulk != nullptr) {
    const sharing::Stats& s = world.bulk->stats();
    r.solver = reports::RunResult::SolverWork{s.events, s.class_changes, s.scans, s.precision_hazards, {}};
  }
  r.events = world.events;
  r.control_bytes = world.control_bytes;
  for (std::size_t s = 0; s < world.platform.sites.size(); ++s) {
    if (world.site_uplink_bytes[s] > r.busiest_uplink_bytes || r.busiest_uplink_site.empty()) {
      r.busiest_uplink_bytes = world.site_uplink_bytes[s];
      r.busiest_uplink_site = world.platform.sites[s].name;
    }
  }
  r.node_rows.resize(r.nodes);
  for (std::size_t i = 0; i < r.nodes; ++i) {
    r.node_rows[i].node = world.platform.nodes[i].name;
    r.node_rows[i].site = world.platform.sites[world.platform.nodes[i].site_index].name;
    r.node_rows[i].bytes_pulled = world.node_bytes_pulled[i];
    r.node_rows[i].bytes_wasted = world.node_bytes_wasted[i];
    r.bytes_wasted += world.node_bytes_wasted[i];
  }
}

void collect_operations(World& world, const RunActors& actors, reports::RunResult& r) {
  const auto& orch = actors.orchestrator.orchestrator();
  const auto names = operation_names(actors.orchestrator);
  std::vector<bool> node_failed(r.nodes, false);
  for (const auto& op : orch.operations()) {
    reports::OperationResult o = describe_operation(world.scenario, op, names);
    for (auto& [node, why] : op.unplaced) o.unplaced.push_back(world.platform.nodes[node].name + ": " + why);
    add_operation(world.scenario, op, std::move(o), world.times_of(op.app, op.generation), node_failed, r);
  }
  r.nodes_failed = static_cast<std::size_t>(std::count(node_failed.begin(), node_failed.end(), true));
}

// Versions: node time per version (exact, from state changes) and where every node ended.
void collect_versions(World& world, const RunActors& actors, reports::RunResult& r) {
  for (auto& node : actors.nodes) node->flush_node_time();
  for (const auto& [key, seconds] : world.node_time) r.node_time_s[key.first][key.second] = seconds;
  for (const auto& app : world.scenario.apps)
    for (auto& node : actors.nodes)
      if (const agents::Release* active = node->agent().active_release(app.name))
        ++r.nodes_at_end[app.name][active->version];
  r.crash_reports = world.crash_reports;
  r.states = std::move(world.states);
}

// Per scope (site template, then "fleet"): what the scope's sites measured, before percentiles.
struct TelemetryScope {
  reports::TelemetryGroup group;
  DelayHistogram delays;
  std::vector<double> drain_times;
  std::vector<std::uint64_t> peaks;
};

void add_site(TelemetryScope& scope, const std::string& name, const reports::TelemetrySite& site, const SiteBus& bus) {
  auto& g = scope.group;
  g.scope = name;
  ++g.sites;
  g.produced += site.produced;
  g.delivered += site.delivered;
  g.duplicates += site.duplicates;
  g.dropped += site.dropped;
  g.buffered_at_end += bus.buffered_msgs();
  for (const auto& [reason, count] : site.dropped_by_reason) g.dropped_by_reason[reason] += count;
  g.peak_buffer_bytes = std::max(g.peak_buffer_bytes, site.peak_buffer_bytes);
  scope.peaks.push_back(site.peak_buffer_bytes);
  g.peak_buffer_msgs = std::max(g.peak_buffer_msgs, bus.peak_msgs());
  g.max_backlog_age_s = std::max(g.max_backlog_age_s, bus.max_backlog_age());
  if (site.live_bytes_per_s >= site.capacity_bytes_per_s) ++g.sites_never_drain;
  for (const auto& d : site.drains) {
    ++g.drains;
    if (d.drained_after_s)
      scope.drain_times.push_back(*d.drained_after_s);
    else
      ++g.undrained;
  }
  scope.delays.merge(bus.delays());
  for (const auto* q : bus.frame_queues()) {
    g.frames_arrived += q->arrived();
    g.frames_processed += q->processed();
    g.frames_dropped += q->dropped_full();
    g.frames_lost_in_failure += q->lost_in_failure();
    g.peak_frame_queue = std::max(g.peak_frame_queue, q->peak());
  }
}

template <typename T>
std::optional<T> ceil_percentile(std::vector<T>& values, double p) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  auto need = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  return values[std::clamp<std::size_t>(need, 1, values.size()) - 1];
}

reports::TelemetryGroup finish_scope(TelemetryScope& scope) {
  auto& g = scope.group;
  if (!scope.peaks.empty()) {
    g.peak_buffer_p50_bytes = *ceil_percentile(scope.peaks, 50);
    g.peak_buffer_p99_bytes = *ceil_percentile(scope.peaks, 99);
  }
  g.drain_p50_s = ceil_percentile(scope.drain_times, 50);
  g.drain_p99_s = ceil_percentile(scope.drain_times, 99);
  g.drain_max_s = ceil_percentile(scope.drain_times, 100);
  g.delay_p50_s = scope.delays.percentile(50);
  g.delay_p99_s = scope.delays.percentile(99);
  if (scope.delays.total > 0) g.delay_max_s = scope.delays.max;
  const std::vector<double>& edges = DelayHistogram::edges();
  for (std::size_t b = 0; b < scope.delays.weight.size(); ++b)
    if (scope.delays.weight[b] > 0) g.delay_bins.push_back({edges[b], edges[b + 1], scope.delays.weight[b]});
  return g;
}

void collect_telemetry(const World& world, const RunActors& actors, reports::RunResult& r) {
  if (actors.buses.empty()) return;
  std::map<std::string, TelemetryScope> scopes;
  std::vector<std::string> order;
  for (const auto& tpl : world.scenario.sites)
    if (tpl.bus) {
      order.push_back(tpl.name);
      scopes[tpl.name].group.preset = tpl.bus->config.preset.empty() ? "custom" : tpl.bus->config.preset;
    }
  order.emplace_back("fleet");
  for (const auto& bus : actors.buses) {
    reports::TelemetrySite site = bus->site_result();
    for (const std::string& scope : {site.scope, std::string("fleet")}) add_site(scopes[scope], scope, site, *bus);
    r.telemetry_sites.push_back(std::move(site));
  }
  for (const auto& scope : order) r.telemetry.push_back(finish_scope(scopes[scope]));
  for (const auto& samples : world.telemetry_series)
    for (const auto& scope : order)
      if (auto it = samples.find(scope); it != samples.end()) r.telemetry_series.push_back(it->second);
}

// The registry egress, then the kBusiestUplinks site uplinks that carried the most in each direction (those that
// carried anything), each with its capacity at every sample.
void collect_network(const World& world, reports::RunResult& r) {
  const World::NetworkSamples& n = world.network;
  const std::size_t samples = n.at_s.size(), sites = world.platform.sites.size();
  if (samples == 0) return;
  r.network_times_s = n.at_s;
  auto capacity_of = [&n, samples](std::size_t link) {  // the changes are in sample order
    std::vector<double> c(samples, 0.0);
    for (const auto& change : n.capacity_changes)
      if (change.link == link)
        std::fill(c.begin() + static_cast<std::ptrdiff_t>(change.sample), c.end(), change.bytes_per_s);
    return c;
  };
  reports::NetworkSeries egress{"registry egress", "down", world.registry_egress_bytes, n.egress, capacity_of(0)};
  r.network.push_back(std::move(egress));
  for (const bool down : {true, false}) {
    const std::vector<std::uint64_t>& totals = down ? world.site_down_bytes : world.site_up_bytes;
    std::vector<std::size_t> order(sites);
    for (std::size_t s = 0; s < sites; ++s) order[s] = s;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return totals[a] > totals[b]; });
    for (std::size_t k = 0; k < order.size() && k < reports::RunResult::kBusiestUplinks; ++k) {
      const std::size_t s = order[k];
      if (totals[s] == 0) break;
      reports::NetworkSeries series{world.platform.sites[s].name, down ? "down" : "up", totals[s], {}, {}};
      const std::vector<float>& all = down ? n.site_down : n.site_up;
      for (std::size_t i = 0; i < samples; ++i) series.bytes.push_back(static_cast<double>(all[i * sites + s]));
      series.capacity_bytes_per_s = capacity_of(down ? 1 + 2 * s : 2 + 2 * s);
      r.network.push_back(std::move(series));
    }
  }
}

}  // namespace

reports::OperationResult describe_operation(const Scenario& scenario, const agents::Operation& op,
                                            const std::map<std::uint32_t, std::string>& names) {
  reports::OperationResult o;
  o.name = names.at(op.id);
  if (op.aborted_at) o.aborted_at_s = *op.aborted_at;
  o.is_rollback = op.is_rollback;
  if (op.rolled_back_by) o.rolled_back_by = names.at(*op.rolled_back_by);
  o.kind = op.kind == agents::Command::Kind::deploy ? "deploy" : "rollout";
  o.app = op.app;
  o.revision = op.to_revision;
  o.version = op.version;
  o.strategy = "all_at_once";
  for (const auto& action : scenario.timeline)
    if (action.name == o.name) {
      o.version = action.version;
      o.strategy = action.strategy;
    }
  o.started_at_s = op.started_at;
  o.finished_at_s = op.finished_at;
  o.targeted = op.targets.size();
  o.succeeded = op.succeeded;
  o.failed = op.failed;
  o.timed_out = op.timed_out;
  o.canceled = op.canceled;
  for (std::size_t w = 0; w < op.wave_started_at.size(); ++w) {
    const std::size_t begin = op.wave_begin[w];
    const std::size_t end = w + 1 < op.wave_begin.size() ? op.wave_begin[w + 1] : op.targets.size();
    reports::OperationResult::Wave wave{end - begin, op.wave_started_at[w], std::nullopt};
    if (w < op.wave_completed_at.size()) wave.completed_s = op.wave_completed_at[w];
    o.waves.push_back(wave);
  }
  return o;
}

namespace {

// The time by which ceil(p% of targeted) nodes were healthy, for p = 50, 90, 99, 100 and any other percentage an
// expectation names (time_to_95).
void percentiles(const Scenario& scenario, reports::OperationResult& o, std::vector<double> healthy) {
  std::sort(healthy.begin(), healthy.end());
  std::set<int> wanted(std::begin(kPercentiles), std::end(kPercentiles));
  for (const auto& e : scenario.expectations)
    if (const auto dot = e.metric.rfind('.'); dot != std::string::npos)
      if (const auto p = time_to_percent(e.metric.substr(dot + 1))) wanted.insert(*p);
  for (int p : wanted) {
    auto need = static_cast<std::size_t>(std::ceil(static_cast<double>(o.targeted) * p / 100.0));
    if (need == 0 || need > healthy.size())
      o.time_to_pct[p] = need == 0 ? std::optional<double>(0.0) : std::nullopt;
    else
      o.time_to_pct[p] = healthy[need - 1];
  }
}

}  // namespace


std::map<std::uint32_t, std::string> operation_names(const SimOrchestrator& orchestrator) {
  std::map<std::uint32_t, std::string> names = orchestrator.names();
  for (const auto& op : orchestrator.orchestrator().operations())
    if (op.rolled_back_by) names[*op.rolled_back_by] = names[op.id] + "_revert";
  return names;
}

reports::RunResult collect_results(World& world, const RunActors& actors,
                                   const std::map<std::string, std::string>& engine_config, bool hit_max_time) {
  reports::RunResult r;
  collect_fleet(world, engine_config, hit_max_time, r);
  r.faults = actors.faults.injected();
  if (!r.interrupted)
    for (std::size_t f : actors.faults.never_injected()) {
      const FaultSpec& fault = world.scenario.faults[f];
      r.scenario_errors.push_back(fault.where + ": fault." + fault.kind + " '" + fault.name + "' at " +
                                  models::format_duration(fault.at_s) + " was never injected: the run ended at " +
                                  models::format_duration(r.end_time_s) +
                                  " (every operation had settled); set simulation { duration = \"" +
                                  models::format_duration(fault.at_s) + "\" } or longer to run until it");
    }
  collect_operations(world, actors, r);
  collect_versions(world, actors, r);
  collect_telemetry(world, actors, r);
  collect_network(world, r);
  return r;
}

void add_operation(const Scenario& scenario, const agents::Operation& op, reports::OperationResult o,
                   const std::vector<reports::NodeTimes>& times, std::vector<bool>& node_failed, reports::RunResult& r) {
  std::vector<double> healthy;
  for (auto& row : r.node_rows) row.per_operation.push_back(reports::NodeTimes{{}, {}, {}, "", "", ""});
  for (const auto& target : op.targets) {
    reports::NodeTimes t = times[target.node];
    t.outcome = agents::to_string(target.outcome);
    t.reason = agents::to_string(target.reason);
    t.detail = target.detail;
    if (t.healthy_s) healthy.push_back(*t.healthy_s - o.started_at_s);
    // A node is failed if its latest outcome that says something about it (not "canceled") is a failure.
    if (target.outcome != agents::NodeOutcome::canceled)
      node_failed[target.node] = target.outcome != agents::NodeOutcome::succeeded;
    r.node_rows[target.node].per_operation.back() = t;
  }
  percentiles(scenario, o, std::move(healthy));
  r.operations.push_back(std::move(o));
}

checks::OperationRecord operation_record(const Scenario& scenario, const agents::Operation& op, const std::string& name) {
  checks::OperationRecord record{name, op};
  for (const auto& action : scenario.timeline)
    if (action.name == record.name) {
      record.abort_threshold_percent = action.abort_threshold_percent;
      record.abort_min_executed = action.abort_min_executed;
      record.abort_failure_type = make_command(scenario, action).abort_failure_type;
    }
  return record;
}

checks::RunEnd run_end(const World& world, const RunActors& actors, bool hit_max_time) {
  checks::RunEnd end;
  end.t = world.stopped_early_at.value_or(simgrid::s4u::Engine::get_clock());
  end.hit_max_time = hit_max_time;
  end.interrupted = world.stopped_early_at.has_value();
  const auto names = operation_names(actors.orchestrator);
  for (const auto& op : actors.orchestrator.orchestrator().operations())
    end.operations.push_back(operation_record(world.scenario, op, names.at(op.id)));
  for (const auto& bus : actors.buses)
    for (auto& stream : bus->streams_at_end()) end.streams.push_back(stream);
  return end;
}

checks::FleetLayout fleet_layout(const World& world) {
  checks::FleetLayout fleet;
  for (const auto& node : world.platform.nodes)
    fleet.nodes.push_back({node.name, node.site_index, node.site_template->hardware.disk.count,
                           node.site_template->agent.rollback == "local"});
  for (const auto& site : world.platform.sites) {
    checks::SiteLayout s{site.name, std::nullopt};
    if (world.buses[site.index] != nullptr) s.bus = world.buses[site.index]->layout();
    fleet.sites.push_back(std::move(s));
  }
  return fleet;
}

}  // namespace fleetsim::sim
