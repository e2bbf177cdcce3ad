// load_scenario: runs a scenario file (lua_host.cpp) within the lua.* limits of --set, applies the other --set
// overrides (overrides.cpp), and validates each declaration in the order the file made it with the reader of its
// section (loader_sections.hpp), then the fleet's size, then expectations; then orders the timeline and the faults
// by time.
#include <algorithm>
#include <cstdint>
#include <limits>

#include "fleetsim/sim/scenario.hpp"
#include "loader_sections.hpp"
#include "lua_host.hpp"
#include "overrides.hpp"

namespace fleetsim::sim {
namespace {

using loader::Declaration;

void load_declaration(const Declaration& d, loader::Overridden overridden, Scenario& scenario) {
  if (d.kind == "scenario")
    loader::load_scenario_info(d, overridden, scenario);
  else if (d.kind == "cloud")
    loader::load_cloud(d, overridden, scenario);
  else if (d.kind == "site")
    loader::load_site(d, overridden, scenario);
  else if (d.kind == "app")
    loader::load_app(d, overridden, scenario);
  else if (d.kind == "action" && d.value["__kind"].get<std::string>().rfind("fault.", 0) == 0)
    loader::load_fault(d, overridden, scenario);
  else if (d.kind == "action")
    loader::load_action(d, overridden, scenario);
  else if (d.kind == "simulation")
    loader::load_simulation(d, overridden, scenario);
}

// Nothing may be scheduled after simulation.max_time.
void check_max_time(const Scenario& scenario) {
  for (const auto& fault : scenario.faults)
    if (fault.at_s > scenario.simulation.max_time.seconds)
      throw ScenarioError(fault.where + ": at: the fault comes after simulation.max_time (" +
                          models::format_duration(scenario.simulation.max_time.seconds) + ")");
  for (const auto& a : scenario.timeline)
    if (a.at_s > scenario.simulation.max_time.seconds)
      throw ScenarioError(a.where + ": at: the action comes after simulation.max_time (" +
                          models::format_duration(scenario.simulation.max_time.seconds) + ")");
}

// 100000000000 -> "100,000,000,000"
std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// Before anything is built for the fleet: its size against simulation.max_nodes, summed without overflow (each
// template has at most 1e6 sites of 1e5 nodes), naming the template that brings it over.
void check_fleet_size(const Scenario& scenario) {
  const std::uint64_t limit = scenario.simulation.max_nodes;
  std::uint64_t total = 0;
  for (const auto& s : scenario.sites) {
    std::uint64_t nodes = static_cast<std::uint64_t>(s.count) * static_cast<std::uint64_t>(s.nodes);
    total = nodes > std::numeric_limits<std::uint64_t>::max() - total ? std::numeric_limits<std::uint64_t>::max()
                                                                      : total + nodes;
    if (total > limit)
      throw ScenarioError(s.where + ": site '" + s.name + "': key 'count': " + grouped(s.count) + " sites of " +
                          grouped(s.nodes) + " nodes bring the fleet to " + grouped(total) +
                          " nodes, more than simulation.max_nodes = " + grouped(limit) +
                          " (raise it with --set simulation.max_nodes=N if the machine has the memory)");
  }
}

}  // namespace

Scenario loader::read_declarations(const std::string& file, const std::vector<std::string>& overrides,
                                   const LoadOptions& options) {
  Scenario scenario;
  scenario.file = file;
  scenario.overrides = overrides;
  // The lua.* limits must be known before the Lua code runs; the other entries apply to what it declared.
  std::vector<std::string> declared_overrides = overrides;
  const loader::LuaLimits limits = loader::take_lua_limits(declared_overrides);
  loader::ScriptInputs inputs;
  inputs.parameters = options.parameters;
  inputs.seed = options.seed;
  std::vector<Declaration> declarations = loader::run_scenario_file(file, limits, inputs, &scenario.parameters);
  std::vector<std::set<std::string>> overridden = loader::apply_overrides(declarations, declared_overrides);
  for (std::size_t i = 0; i < declarations.size(); ++i) load_declaration(declarations[i], &overridden[i], scenario);
  check_fleet_size(scenario);
  // Expectations last: they refer to operations declared anywhere in the file.
  for (const auto& d : declarations)
    if (d.kind == "expect" || d.kind == "regression") loader::load_expectation(d, scenario);

  if (scenario.sites.empty()) throw ScenarioError(file + ": the scenario declares no site (site { name = ..., ... })");
  std::stable_sort(scenario.timeline.begin(), scenario.timeline.end(),
                   [](const ActionSpec& a, const ActionSpec& b) { return a.at_s < b.at_s; });
  std::stable_sort(scenario.faults.begin(), scenario.faults.end(),
                   [](const FaultSpec& a, const FaultSpec& b) { return a.at_s < b.at_s; });
  check_max_time(scenario);
  return scenario;
}

std::size_t Scenario::node_count() const {
  std::size_t n = 0;
  for (const auto& s : sites) n += static_cast<std::size_t>(s.count) * static_cast<std::size_t>(s.nodes);
  return n;
}

std::size_t Scenario::site_count() const {
  std::size_t n = 0;
  for (const auto& s : sites) n += static_cast<std::size_t>(s.count);
  return n;
}

}  // namespace fleetsim::sim
