// Runs a validated scenario on SimGrid and returns what it measured.
#pragma once

#include <cstdint>
#include <string>

#include "fleetsim/reports/run_result.hpp"
#include "fleetsim/sim/scenario.hpp"

namespace fleetsim::sim {

struct RunOptions {
  std::uint64_t seed = 0;
  bool progress = false;                 // redraw a progress line on stderr (terminals only)
  int verbosity = 0;                     // -1 quiet, 0 normal, 1 verbose (debug), 2 trace
  std::vector<std::string> simgrid_cfg;  // extra "key:value" settings from --cfg, applied last
};

// Builds the platform, runs the agents, checks invariants and expectations. SimGrid allows one engine per
// process, so this can be called once per process.
reports::RunResult run_scenario(const Scenario& scenario, const RunOptions& options);

}  // namespace fleetsim::sim
