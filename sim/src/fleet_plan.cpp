#include "fleet_plan.hpp"

#include <algorithm>
#include <cmath>

#include "fleetsim/checks/expectations.hpp"
#include "fleetsim/models/rng.hpp"

namespace fleetsim::sim {

namespace {

// Candidates of a fault without explicit targets: sites, or for node faults the nodes of those sites.
std::vector<std::string> fault_candidates(const Scenario& scenario, const FaultSpec& fault) {
  std::vector<std::string> candidates;
  for (const auto& tpl : scenario.sites)
    for (int s = 0; s < tpl.count; ++s) {
      bool match = fault.site_template.empty() || tpl.name == fault.site_template;
      for (const auto& [k, v] : fault.selector) {
        auto it = tpl.labels.find(k);
        match = match && it != tpl.labels.end() && it->second == v;
      }
      if (!match) continue;
      const std::string site = site_name(tpl, s);
      if (fault.kind == "node_crash" || fault.kind == "disk_full") {
        for (int k = 0; k < tpl.nodes; ++k) candidates.push_back(node_name(site, k));
      } else if (fault.kind == "gpu_failure") {
        if (tpl.inference && tpl.hardware.gpu)  // the nodes the platform gives a GPU
          for (int k = 0; k < tpl.nodes; ++k) candidates.push_back(node_name(site, k));
      } else {
        candidates.push_back(site);
      }
    }
  if (candidates.empty())
    throw ScenarioError(fault.where + ": fault." + fault.kind + ": no " +
                        (fault.kind == "gpu_failure" ? "node with GPU inference" : "target") +
                        " matches its selection");
  return candidates;
}

}  // namespace

StartBehaviour start_behaviour(const Scenario& scenario, const SiteTemplate& tpl, const std::string& node,
                               const agents::Release& release, std::uint64_t seed,
                               std::map<std::string, unsigned>& starts) {
  StartBehaviour b;
  for (const auto& spec : scenario.apps)
    if (spec.name == release.app)
      if (const AppVersionSpec* v = spec.find(release.version); v != nullptr && v->bad_on(tpl.hardware)) {
        const double p =
            !v->fails_on.empty() && v->crash_on_start == 0 && v->fail_after.seconds == 0 ? 1.0 : v->crash_on_start;
        const std::string key = release.app + "/" + release.version;
        const unsigned n = ++starts[key];
        if (p > 0) b.crashes = models::RandomStream(seed, node, "crash/" + key + "/" + std::to_string(n)).bernoulli(p);
        b.fail_after_s = v->fail_after.seconds;
      }
  return b;
}

std::vector<reports::FaultWindow> resolve_faults(const Scenario& scenario, std::uint64_t seed) {
  std::vector<reports::FaultWindow> windows;
  for (const auto& fault : scenario.faults) {
    reports::FaultWindow w{fault.name, fault.kind, fault.at_s, fault.at_s + fault.duration_s, fault.sites};
    w.factor = fault.factor;
    w.free_bytes = fault.free_bytes;
    if (fault.kind == "registry_outage") {
      w.sites = {"registry"};
    } else if (fault.kind == "orchestrator_restart") {
      w.sites = {"orchestrator"};
    } else if (fault.sites.empty()) {
      std::vector<std::string> candidates = fault_candidates(scenario, fault);
      auto k = static_cast<std::size_t>(std::llround(fault.fraction * static_cast<double>(candidates.size())));
      k = std::clamp<std::size_t>(k, 1, candidates.size());
      // A partial Fisher-Yates shuffle drawn from (seed, fault name): the same seed selects the same sites.
      models::RandomStream random(seed, "fault/" + fault.name, "sites");
      for (std::size_t i = 0; i < k; ++i) std::swap(candidates[i], candidates[i + random.below(candidates.size() - i)]);
      candidates.resize(k);
      std::sort(candidates.begin(), candidates.end());
      w.sites = std::move(candidates);
    }
    windows.push_back(std::move(w));
  }
  return windows;
}

std::string site_name(const SiteTemplate& tpl, int s) { return tpl.name + "-" + std::to_string(s + 1); }
std::string node_name(const std::string& site, int k) { return site + "/n" + std::to_string(k + 1); }

std::vector<agents::NodeInfo> make_inventory(const Scenario& scenario) {
  std::vector<agents::NodeInfo> inventory;
  inventory.reserve(scenario.node_count());
  for (const auto& tpl : scenario.sites)
    for (int s = 0; s < tpl.count; ++s) {
      const std::string site = site_name(tpl, s);
      for (int k = 0; k < tpl.nodes; ++k) {
        agents::NodeInfo info{static_cast<agents::NodeId>(inventory.size()), node_name(site, k), site, tpl.labels, {}};
        info.labels["site"] = info.site;
        info.labels["site_template"] = tpl.name;
        const HardwareSpec& hw = tpl.hardware;
        info.capacity["cpu"] = hw.cpu_cores;
        info.capacity["memory"] = static_cast<double>(hw.memory.count);
        info.capacity["gpu"] = hw.gpu ? hw.gpu->count : 0;
        info.capacity["gpu_memory"] = hw.gpu ? static_cast<double>(hw.gpu->memory.count) * hw.gpu->count : 0;
        inventory.push_back(std::move(info));
      }
    }
  return inventory;
}

agents::NodeAgentConfig make_agent_config(const SiteTemplate& tpl, agents::NodeId id) {
  const AgentSpec& a = tpl.agent;
  agents::NodeAgentConfig c;
  c.id = id;
  c.disk_bytes = tpl.hardware.disk.count;
  c.max_concurrent_downloads = static_cast<unsigned>(a.max_concurrent_downloads);
  c.notify_jitter_s = a.notify_jitter.seconds;
  c.resume = a.resume == "restart" ? agents::ResumePolicy::restart_from_zero : agents::ResumePolicy::resume_range;
  c.max_fetch_attempts = static_cast<unsigned>(a.max_fetch_attempts);
  c.retry_initial_s = a.retry_initial.seconds;
  c.retry_max_s = a.retry_max.seconds;
  c.verification_window_s = a.verification_window.seconds;
  c.local_rollback = a.rollback == "local";
  c.restart_initial_s = a.restart_initial.seconds;
  c.restart_max_s = a.restart_max.seconds;
  c.restart_reset_s = a.restart_reset.seconds;
  c.poll_interval_s = a.poll_interval.seconds;
  c.poll_jitter = a.poll_jitter;
  return c;
}

std::vector<checks::Expectation> expectations_of(const Scenario& scenario) {
  std::vector<checks::Expectation> out;
  for (const auto& e : scenario.expectations) {
    auto unit = metric_unit(scenario, e.metric);
    out.push_back({e.text, e.where, e.metric, e.op, e.value,
                   unit == MetricUnit::seconds ? "seconds"
                   : unit == MetricUnit::bytes ? "bytes"
                                               : "count",
                   e.across});
  }
  return out;
}

void judge_expectations(const Scenario& scenario, reports::RunResult& r) {
  r.expectations = checks::evaluate(expectations_of(scenario), r);
  for (auto& name : checks::metric_names(r)) {
    auto value = checks::metric_value(r, name);
    r.metrics.emplace_back(std::move(name), value);
  }
  for (const auto& t : scenario.regression) r.regression.emplace_back(t.metric, t.text);
}

}  // namespace fleetsim::sim
