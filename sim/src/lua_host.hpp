// The Lua side of the scenario loader: runs a scenario file in the sandboxed Lua 5.4 state (lua_sandbox.hpp) with
// the fleetsim functions (scenario, cloud, site, app, deploy, rollout, at, expect, simulation, fault.*), and
// records what it declares as plain JSON values with the file:line of each declaration. Knows nothing of the
// meaning of the keys: that is the section readers' work (loader_sections.hpp).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fleetsim/sim/scenario.hpp"
#include "lua_sandbox.hpp"

namespace fleetsim::sim::loader {

struct Declaration {
  std::string kind;  // scenario, cloud, site, app, action, expect, regression, simulation, sweep
  // The declared table; an action's also has __kind ("deploy", "rollout", "fault.partition", ...) and __where.
  // An expectation's is its string.
  nlohmann::json value;
  std::string where;  // file:line of the call
  double at_s = 0;    // actions only
};

// Runs the scenario file (a regular file of at most 16 MiB) within the limits and returns its declarations in the
// order it made them. Throws ScenarioError (not a readable regular file, a Lua syntax or runtime error, a budget
// exceeded, Ctrl-C, or a value that cannot be part of a scenario), with the file's path in the message;
// std::bad_alloc when the machine runs out of memory; std::runtime_error for a bug of the host's.
// What the command line hands the file: -p values and the seed (param(), fleet.seed, math.random).
struct ScriptInputs {
  std::vector<std::pair<std::string, std::string>> parameters;
  std::uint64_t seed = 1;
};
std::vector<Declaration> run_scenario_file(const std::string& file, const LuaLimits& limits,
                                           const ScriptInputs& inputs = {},
                                           std::vector<ScenarioParam>* parameters = nullptr);

}  // namespace fleetsim::sim::loader
