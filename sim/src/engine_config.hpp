// SimGrid's settings for a run: fleetsim's defaults (docs/ENGINE.md), the scenario's simulation { simgrid = ... }
// and --cfg from the command line, in that order of precedence, and the engine built from them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "fleetsim/sim/run.hpp"
#include "fleetsim/sim/scenario.hpp"

namespace fleetsim::sim {

// Every setting of the run, "fleetsim/..." keys included (recorded in the report, never passed to SimGrid).
// Throws ScenarioError for a --cfg setting SimGrid does not know or would misread (simgrid_settings.hpp).
std::map<std::string, std::string> engine_config(const Scenario& scenario, const RunOptions& options);

// SimGrid's command line for these settings: "--log=..." then "--cfg=key:value" for each SimGrid key.
std::vector<std::string> engine_arguments(const std::map<std::string, std::string>& config, int verbosity);

}  // namespace fleetsim::sim
