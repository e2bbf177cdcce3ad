// What a run measured, gathered from the world and its actors once the simulation ended: the RunResult the reports
// are written from, and the end of the run's history for the checks.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fault_injector.hpp"
#include "fleetsim/checks/history.hpp"
#include "node_actor.hpp"
#include "orchestrator_actor.hpp"
#include "site_bus.hpp"
#include "world.hpp"

namespace fleetsim::sim {

struct RunActors {
  const SimOrchestrator& orchestrator;
  const std::vector<std::unique_ptr<SimNode>>& nodes;
  const std::vector<std::unique_ptr<SiteBus>>& buses;
  const FaultInjector& faults;
};

// Every measurement of the run (violations and expectations are added by the caller).
reports::RunResult collect_results(World& world, const RunActors& actors,
                                   const std::map<std::string, std::string>& engine_config, bool hit_max_time);

// The orchestrator's operations under their scenario names, and every telemetry stream's final counts.
checks::RunEnd run_end(const World& world, const RunActors& actors, bool hit_max_time);

// An operation as the reports show it (names: operation_names). Node times and percentiles are the caller's.
reports::OperationResult describe_operation(const Scenario& scenario, const agents::Operation& op,
                                            const std::map<std::uint32_t, std::string>& names);
// Adds an operation (described, in the result's time base) to the result: each target's times (`times`, by node)
// and outcome in node_rows, its percentiles, and whether its nodes failed (their latest telling outcome).
void add_operation(const Scenario& scenario, const agents::Operation& op, reports::OperationResult o,
                   const std::vector<reports::NodeTimes>& times, std::vector<bool>& node_failed, reports::RunResult& r);
// An operation for the checks, with the abort rule its action gave it.
checks::OperationRecord operation_record(const Scenario& scenario, const agents::Operation& op, const std::string& name);

// What the checks know of the fleet: nodes, sites and their buses.
checks::FleetLayout fleet_layout(const World& world);

// Operation names by id: the scenario's, and "<name>_revert" for the rollbacks the orchestrator started.
std::map<std::uint32_t, std::string> operation_names(const SimOrchestrator& orchestrator);

}  // namespace fleetsim::sim
