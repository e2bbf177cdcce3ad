// What a scenario asks of the agents, whichever runtime runs them (SimGrid here, real processes in `fleetsim
// emulate`): the orchestrator's inventory and each node's agent configuration. Nodes are numbered as the platform
// numbers them: site templates in order, each template's sites in order, each site's nodes in order. No SimGrid.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "fleetsim/agents/node_agent.hpp"
#include "fleetsim/agents/orchestrator.hpp"
#include "fleetsim/checks/expectations.hpp"
#include "fleetsim/reports/run_result.hpp"
#include "fleetsim/sim/scenario.hpp"

namespace fleetsim::sim {

// The name of a template's s-th site (from 0): "<template>-<s+1>"; of its k-th node: "<site>/n<k+1>".
std::string site_name(const SiteTemplate& tpl, int s);
std::string node_name(const std::string& site, int k);

// What the orchestrator knows of every node: name, site, labels (with "site" and "site_template"), capacity.
std::vector<agents::NodeInfo> make_inventory(const Scenario& scenario);

// The node agent's configuration on a node of this template.
agents::NodeAgentConfig make_agent_config(const SiteTemplate& tpl, agents::NodeId id);

// Each scripted fault's targets: its sites, or nodes, drawn from the seed for fractions. Throws ScenarioError when
// nothing matches a fault's selection.
std::vector<reports::FaultWindow> resolve_faults(const Scenario& scenario, std::uint64_t seed);

// How one start of `release` on node `node` (of template `tpl`) behaves, as the scenario declares it: whether it
// crashes before it is ready (crash_on_start, or fails_on alone, drawn from the stream (seed, node,
// "crash/<app>/<version>/<n>") for the node's n-th start of that release: `starts` counts them per app/version and
// is advanced here), and how long after it started it exits (fail_after; 0: never). Both runtimes call it, so the
// same nodes crash on the same starts.
struct StartBehaviour {
  bool crashes = false;
  double fail_after_s = 0;
};
StartBehaviour start_behaviour(const Scenario& scenario, const SiteTemplate& tpl, const std::string& node,
                               const agents::Release& release, std::uint64_t seed,
                               std::map<std::string, unsigned>& starts);

// The scenario's expectations as the checks read them.
std::vector<checks::Expectation> expectations_of(const Scenario& scenario);
// Measures the expectations on a finished run's result, and lists its metrics and regression tolerances.
void judge_expectations(const Scenario& scenario, reports::RunResult& r);

}  // namespace fleetsim::sim
