// --set path=value: overrides applied to the recorded declarations before they are validated.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "lua_host.hpp"

namespace fleetsim::sim::loader {

// Applies each "path=value" in order. A path is site.<name>.<key>..., app.<name>.<key>... (<name> "*": every site or
// app template), or cloud, simulation or scenario followed by keys (an empty declaration is added when the file has
// none). Keys may contain dots (app.pos.versions.2.1.image); list elements are numbered from 1, as in Lua
// (versions.2.0.layers.2), and the number after the last adds one; tables the scenario did not declare are created
// (site.store.outages.mtbf). Setting a version's image replaces its layers, and a layer its image. Values are
// true, false, plain decimal numbers, or text. Returns, for each declaration (same index), the key paths overridden in
// it as the readers name them ("uplink.down"), so that their messages can say "(value from --set)". Throws
// ScenarioError.
std::vector<std::set<std::string>> apply_overrides(std::vector<Declaration>& declarations,
                                                   const std::vector<std::string>& overrides);

}  // namespace fleetsim::sim::loader
