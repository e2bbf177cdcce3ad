// What `fleetsim --version` prints: fleetsim's version, the commit it was built from, and its engines' versions.
#include <string>

#include <lua.hpp>
#include <simgrid/s4u/Engine.hpp>
#include <simgrid/version.h>

#include "fleetsim/sim/run.hpp"

#ifndef FLEETSIM_COMMIT
#define FLEETSIM_COMMIT "unknown"
#endif

namespace fleetsim::sim {

std::string version_text() {
  return std::string("fleetsim 0.1.0 (commit ") + FLEETSIM_COMMIT + ")\n" + "SimGrid " +
         std::to_string(SIMGRID_VERSION_MAJOR) + "." + std::to_string(SIMGRID_VERSION_MINOR) + "." +
         std::to_string(SIMGRID_VERSION_PATCH) + "\n" + LUA_RELEASE + "\n";
}

}  // namespace fleetsim::sim
