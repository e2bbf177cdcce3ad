// The timeline: posts each action of the scenario to the orchestrator at its time, then waits until every
// operation settled or simulation.max_time passed, runs on until simulation.duration, and stops every actor's loop,
// which ends the simulation.
#pragma once

#include "fleetsim/agents/orchestrator.hpp"
#include "world.hpp"

namespace fleetsim::sim {

// The release of one version of an app, as the orchestrator hands it to nodes.
agents::Release make_release(const Scenario& scenario, const std::string& app, const std::string& version);
// The orchestrator command of an action (deploy or rollout, with its strategy, abort rule and rollback).
agents::Command make_command(const Scenario& scenario, const ActionSpec& action);

// The timeline actor's body; sets hit_max_time when max_time passed before every operation settled.
void run_timeline(World& world, bool& hit_max_time);

}  // namespace fleetsim::sim
