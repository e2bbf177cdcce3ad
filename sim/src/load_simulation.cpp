// scenario { name, description } and simulation { ... }: the run's limits and engine settings.
#include "fields.hpp"
#include "loader_sections.hpp"
#include "simgrid_settings.hpp"

namespace fleetsim::sim::loader {

void load_scenario_info(const Declaration& d, Overridden overridden, Scenario& scenario) {
  Fields f(d.value, d.where, "scenario", "", overridden);
  scenario.name = f.string("name", std::string());
  scenario.description = f.string("description", std::string());
  f.finish();
}

void load_simulation(const Declaration& d, Overridden overridden, Scenario& scenario) {
  Fields f(d.value, d.where, "simulation", "", overridden);
  SimulationSpec& s = scenario.simulation;
  s.where = d.where;
  s.max_time = f.duration("max_time", s.max_time);
  s.duration = f.duration("duration", s.duration);
  if (!(s.max_time.seconds > 0)) f.fail_at("max_time", "must be positive");
  s.network_model = f.string("network_model", s.network_model);
  if (auto problem = check_scenario_setting("network/model", s.network_model)) f.fail_at("network_model", *problem);
  s.precision_s = f.number("precision", s.precision_s, 1e-12, 60);
  s.crosstraffic = f.boolean("crosstraffic", s.crosstraffic);
  s.control_messages =
      f.choice("control_messages", s.control_messages, {"network", "timed"}, "must be \"network\" or \"timed\", got");
  s.solver = f.choice("solver", s.solver, {"auto", "sharing", "simgrid"},
                      "must be \"auto\", \"sharing\" or \"simgrid\", got");
  s.simgrid_cfg = f.string_map("simgrid");
  for (const auto& [key, value] : s.simgrid_cfg)
    if (auto problem = check_scenario_setting(key, value)) f.fail_at("simgrid." + key, *problem);
  s.telemetry_sample = f.duration("telemetry_sample", s.telemetry_sample);
  s.states_sample = f.duration("states_sample", s.states_sample);
  if (!(s.states_sample.seconds >= 1)) f.fail_at("states_sample", "must be at least 1s");
  if (!(s.telemetry_sample.seconds >= 1)) f.fail_at("telemetry_sample", "must be at least 1s");
  s.max_nodes =
      static_cast<std::uint64_t>(f.integer("max_nodes", static_cast<std::int64_t>(s.max_nodes), 1, 1'000'000'000'000));
  f.finish();
}

}  // namespace fleetsim::sim::loader
