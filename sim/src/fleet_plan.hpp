// What a scenario asks of the agents, whichever runtime runs them (SimGrid here, real processes in `fleetsim
// emulate`): the orchestrator's inventory and each node's agent configuration. Nodes are numbered as the platform
// numbers them: site templates in order, each template's sites in order, each site's nodes in order. No SimGrid.
#pragma once

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

// The scenario's expectations as the checks read them.
std::vector<checks::Expectation> expectations_of(const Scenario& scenario);
// Measures the expectations on a finished run's result, and lists its metrics and regression tolerances.
void judge_expectations(const Scenario& scenario, reports::RunResult& r);

}  // namespace fleetsim::sim
