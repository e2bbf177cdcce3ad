// Runs a validated scenario on SimGrid and returns what it measured.
#pragma once

#include <cstdint>
#include <stdexcept>
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

// fleetsim's version, the commit it was built from, SimGrid's and Lua's versions (one per line).
std::string version_text();

// A bug of fleetsim's found during a run (an exception escaped an actor): the run stopped; exit code 3.
class InternalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Builds the platform, runs the agents, checks invariants and expectations. SimGrid allows one engine per
// process, so this can be called once per process.
reports::RunResult run_scenario(const Scenario& scenario, const RunOptions& options);

}  // namespace fleetsim::sim
