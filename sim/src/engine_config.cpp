#include "engine_config.hpp"

#include <cstdio>

#include "simgrid_settings.hpp"

namespace fleetsim::sim {

std::map<std::string, std::string> engine_config(const Scenario& scenario, const RunOptions& options) {
  char precision[64];
  std::snprintf(precision, sizeof precision, "%g", scenario.simulation.precision_s);
  std::map<std::string, std::string> cfg{
      {"network/model", scenario.simulation.network_model},
      {"surf/precision", precision},
      {"network/crosstraffic", scenario.simulation.crosstraffic ? "1" : "0"},
      // SimGrid 3.32's default Lazy update mis-shares flows that leave their latency phase in the same round
      // (a flow's later links are not re-solved): Full is exact (docs/ENGINE.md).
      {"network/optim", "Full"},
  };
  cfg["fleetsim/control-messages"] = scenario.simulation.control_messages;  // recorded, not passed to SimGrid
  if (scenario.node_count() > 20000) {
    // Past ~30k actors the default guard pages exceed the kernel's map count (see docs/ENGINE.md).
    cfg["contexts/guard-size"] = "0";
    cfg["contexts/stack-size"] = "64";
  }
  for (const auto& [k, v] : scenario.simulation.simgrid_cfg) cfg[k] = v;
  // Checked here, before SimGrid sees them: SimGrid aborts on an unknown key or a malformed value.
  for (const auto& kv : options.simgrid_cfg) {
    auto colon = kv.find(':');
    if (colon == std::string::npos) throw ScenarioError("--cfg " + kv + ": expected KEY:VALUE");
    const std::string key = kv.substr(0, colon), value = kv.substr(colon + 1);
    if (auto problem = check_command_line_setting(key, value)) throw ScenarioError("--cfg " + kv + ": " + *problem);
    cfg[key] = value;
  }
  return cfg;
}

std::vector<std::string> engine_arguments(const std::map<std::string, std::string>& config, int verbosity) {
  std::vector<std::string> args{"fleetsim"};
  args.push_back(verbosity >= 2 ? "--log=root.thresh:info" : "--log=root.thresh:warning");
  for (const auto& [k, v] : config)
    if (k.rfind("fleetsim/", 0) != 0) args.push_back("--cfg=" + k + ":" + v);
  return args;
}

}  // namespace fleetsim::sim
