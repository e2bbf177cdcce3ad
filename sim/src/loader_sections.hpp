// The readers of the sections of the scenario language, one per kind of declaration. Each reads its keys in a fixed
// order (which decides the error reported first), may refer to what was declared before it, and adds to the
// Scenario. load_scenario (scenario_loader.cpp) calls them in declaration order, expectations last.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "fleetsim/sim/scenario.hpp"
#include "lua_host.hpp"

namespace fleetsim::sim::loader {

// The key paths overridden by --set in this declaration (overrides.hpp).
using Overridden = const std::set<std::string>*;

void load_scenario_info(const Declaration& d, Overridden overridden, Scenario& scenario);  // load_simulation.cpp
void load_simulation(const Declaration& d, Overridden overridden, Scenario& scenario);     // load_simulation.cpp
void load_cloud(const Declaration& d, Overridden overridden, Scenario& scenario);          // load_fleet.cpp
void load_site(const Declaration& d, Overridden overridden, Scenario& scenario);           // load_fleet.cpp
void load_app(const Declaration& d, Overridden overridden, Scenario& scenario);            // load_apps.cpp
void load_action(const Declaration& d, Overridden overridden, Scenario& scenario);         // load_actions.cpp
void load_fault(const Declaration& d, Overridden overridden, Scenario& scenario);          // load_faults.cpp
// After every other declaration: an expectation (or a regression tolerance) may name an operation declared later.
void load_expectation(const Declaration& d, Scenario& scenario);  // load_expectations.cpp

// Whether some site template declared so far has every one of these labels (load_faults.cpp).
bool any_template_has(const Scenario& scenario, const std::map<std::string, std::string>& labels);

// k when `site` is <template>-<k>, the k-th site of this template (k written without leading zeros), else nullopt
// (load_faults.cpp).
std::optional<int> site_number(const SiteTemplate& tpl, const std::string& site);

// Why no node of the scenario's site templates matches this selector (nullopt: some does). With `implicit`, a
// node also has the labels `site` and `site_template` the orchestrator adds (deploy and canary selectors); without,
// only its template's own labels (fault selectors). load_checks.cpp.
std::optional<std::string> selector_problem(const Scenario& scenario,
                                            const std::map<std::string, std::string>& selector, bool implicit);

// The options of the load_scenario call in progress (load_checks.cpp): the trace reader's allowed folders.
const LoadOptions& load_options();
// Runs the file, applies the overrides and reads every declaration in order (scenario_loader.cpp); load_scenario
// adds the checks that need the whole scenario.
Scenario read_declarations(const std::string& file, const std::vector<std::string>& overrides,
                           const LoadOptions& options = {});

}  // namespace fleetsim::sim::loader

namespace fleetsim::sim {

// Reads the declarations in order, without the options and the checks across sections (scenario_loader.cpp).
// load_scenario(file, overrides, options) (load_checks.cpp) wraps it: every caller goes through the wrapper.
Scenario load_scenario(const std::string& file, const std::vector<std::string>& overrides);

}  // namespace fleetsim::sim
