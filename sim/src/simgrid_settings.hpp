// SimGrid's settings: which a scenario may change (an allow-list of performance and model knobs, each with a value
// check) and which `--cfg KEY:VALUE` may pass (any key SimGrid 3.32 knows, with a value well-formed for its type,
// except those that stop the process, reach files, or are known to abort on fleetsim's platform). Both are checked
// before SimGrid sees them: SimGrid itself aborts on an unknown key or a bad value with a dump of its keys.
// The allow-list is documented in docs/ENGINE.md.
#pragma once

#include <optional>
#include <string>

namespace fleetsim::sim {

// nullopt when simulation { simgrid = { [key] = value } } may set it (network_model is checked as network/model);
// else the problem, written to follow the key's name ("must be one of CM02, LV08, SMPI, got 'Constant' ...").
std::optional<std::string> check_scenario_setting(const std::string& key, const std::string& value);

// The same for --cfg KEY:VALUE, the expert's escape hatch: any SimGrid 3.32 key, a well-formed value.
std::optional<std::string> check_command_line_setting(const std::string& key, const std::string& value);

// The keys a scenario may set, "network/model, network/optim, ...".
std::string scenario_settings();

}  // namespace fleetsim::sim
