#include "simgrid_settings.hpp"

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <vector>

#include "fields.hpp"

namespace fleetsim::sim {
namespace {

enum class Type { integer, real, boolean, text };

struct Known {
  const char* key;
  Type type;
};

// Every setting of SimGrid 3.32 (Debian 12's libsimgrid 3.32, `--help-cfg`) with its type: a key that is not here
// makes SimGrid abort with a dump of its keys.
constexpr Known kSimGridSettings[] = {
    {"bmf/max-iterations", Type::integer},
    {"bmf/precision", Type::real},
    {"cmonkey/host", Type::integer},
    {"cmonkey/link", Type::integer},
    {"cmonkey/tell", Type::boolean},
    {"cmonkey/time", Type::real},
    {"contexts/factory", Type::text},
    {"contexts/guard-size", Type::integer},
    {"contexts/nthreads", Type::integer},
    {"contexts/stack-size", Type::integer},
    {"contexts/synchro", Type::text},
    {"cpu/maxmin-selective-update", Type::boolean},
    {"cpu/model", Type::text},
    {"cpu/optim", Type::text},
    {"cpu/solver", Type::text},
    {"debug/breakpoint", Type::real},
    {"debug/clean-atexit", Type::boolean},
    {"debug/verbose-exit", Type::boolean},
    {"disk/model", Type::text},
    {"disk/solver", Type::text},
    {"exception/cutpath", Type::boolean},
    {"help-nostop", Type::boolean},
    {"host/model", Type::text},
    {"host/solver", Type::text},
    {"maxmin/concurrency-limit", Type::integer},
    {"maxmin/precision", Type::real},
    {"model-check/replay", Type::text},
    {"model-check/timeout", Type::boolean},
    {"network/TCP-gamma", Type::real},
    {"network/bandwidth-factor", Type::real},
    {"network/crosstraffic", Type::boolean},
    {"network/latency-factor", Type::real},
    {"network/loopback-bw", Type::real},
    {"network/loopback-lat", Type::real},
    {"network/maxmin-selective-update", Type::boolean},
    {"network/model", Type::text},
    {"network/optim", Type::text},
    {"network/solver", Type::text},
    {"network/weight-S", Type::real},
    {"ns3/TcpModel", Type::text},
    {"ns3/seed", Type::text},
    {"path", Type::text},
    {"plugin", Type::text},
    {"plugin/dvfs/governor", Type::text},
    {"plugin/dvfs/max-pstate", Type::integer},
    {"plugin/dvfs/min-pstate", Type::integer},
    {"plugin/dvfs/sampling-rate", Type::real},
    {"smpi/IB-penalty-factors", Type::text},
    {"smpi/async-small-thresh", Type::integer},
    {"smpi/auto-shared-malloc-thresh", Type::real},
    {"smpi/bw-factor", Type::text},
    {"smpi/comp-adjustment-file", Type::text},
    {"smpi/cpu-threshold", Type::real},
    {"smpi/display-allocs", Type::boolean},
    {"smpi/errors-are-fatal", Type::boolean},
    {"smpi/grow-injected-times", Type::boolean},
    {"smpi/host-speed", Type::text},
    {"smpi/hostfile", Type::text},
    {"smpi/init", Type::real},
    {"smpi/iprobe", Type::real},
    {"smpi/iprobe-cpu-usage", Type::real},
    {"smpi/lat-factor", Type::text},
    {"smpi/list-leaks", Type::integer},
    {"smpi/map", Type::integer},
    {"smpi/np", Type::integer},
    {"smpi/pedantic", Type::boolean},
    {"smpi/replay", Type::text},
    {"smpi/send-is-detached-thresh", Type::integer},
    {"smpi/shared-malloc", Type::text},
    {"smpi/simulate-computation", Type::boolean},
    {"smpi/test", Type::real},
    {"smpi/trace-call-location", Type::boolean},
    {"smpi/trace-call-use-absolute-path", Type::boolean},
    {"smpi/wtime", Type::real},
    {"surf/precision", Type::real},
    {"tracing", Type::boolean},
    {"tracing/actor", Type::boolean},
    {"tracing/basic", Type::boolean},
    {"tracing/categorized", Type::boolean},
    {"tracing/comment", Type::text},
    {"tracing/comment-file", Type::text},
    {"tracing/disable-destroy", Type::boolean},
    {"tracing/disable_link", Type::boolean},
    {"tracing/disable_power", Type::boolean},
    {"tracing/filename", Type::text},
    {"tracing/platform", Type::boolean},
    {"tracing/platform/topology", Type::boolean},
    {"tracing/precision", Type::integer},
    {"tracing/smpi", Type::boolean},
    {"tracing/smpi/computing", Type::boolean},
    {"tracing/smpi/display-sizes", Type::boolean},
    {"tracing/smpi/format", Type::text},
    {"tracing/smpi/format/ti-one-file", Type::boolean},
    {"tracing/smpi/group", Type::boolean},
    {"tracing/smpi/internals", Type::boolean},
    {"tracing/smpi/sleeping", Type::boolean},
    {"tracing/uncategorized", Type::boolean},
    {"tracing/vm", Type::boolean},
};

// The values SimGrid 3.32 accepts for its settings that name a model, a mode or a plugin (any other value aborts).
const std::map<std::string, std::vector<std::string>>& known_choices() {
  static const std::vector<std::string> solvers{"maxmin", "fairbottleneck", "bmf"};
  static const std::vector<std::string> optims{"Lazy", "TI", "Full"};
  static const std::map<std::string, std::vector<std::string>> choices{
      {"network/model", {"LV08", "Constant", "SMPI", "IB", "CM02", "ns-3"}},
      {"cpu/model", {"Cas01"}},
      {"host/model", {"default", "compound", "ptask_L07"}},
      {"disk/model", {"default"}},
      {"network/optim", optims},
      {"cpu/optim", optims},
      {"network/solver", solvers},
      {"cpu/solver", solvers},
      {"disk/solver", solvers},
      {"host/solver", solvers},
      {"contexts/factory", {"raw", "ucontext", "boost", "thread"}},
      {"contexts/synchro", {"futex", "posix", "busy_wait"}},
      {"plugin", {"link_load", "link_energy_wifi", "link_energy", "host_load", "host_energy", "host_dvfs", "cmonkey"}},
  };
  return choices;
}

// What a scenario may set: performance and model knobs, never files, tracing or debugging. Numbers within
// [lo, hi]; text among `choices`; booleans as SimGrid writes them.
struct ScenarioSetting {
  const char* key;
  std::vector<std::string> choices;
  double lo = 0, hi = 0;
};

const std::vector<ScenarioSetting>& allow_list() {
  static const std::vector<ScenarioSetting> list{
      {"network/model", {"CM02", "LV08", "SMPI"}},
      {"network/optim", {"Full", "Lazy"}},
      {"cpu/optim", {"Full", "Lazy"}},
      {"surf/precision", {}, 1e-12, 60},
      {"maxmin/precision", {}, 1e-12, 1},
      {"network/maxmin-selective-update", {}},
      {"cpu/maxmin-selective-update", {}},
      {"network/TCP-gamma", {}, 1, 1e10},
      {"network/crosstraffic", {}},
      {"network/latency-factor", {}, 1e-3, 1e3},
      {"network/bandwidth-factor", {}, 1e-3, 10},
      {"network/weight-S", {}, 0, 1e9},
      {"contexts/stack-size", {}, 64, 65536},
      {"contexts/guard-size", {}, 0, 16},
      {"contexts/factory", {"raw", "ucontext", "boost"}},
  };
  return list;
}

const Known* find_known(const std::string& key) {
  for (const auto& known : kSimGridSettings)
    if (key == known.key) return &known;
  return nullptr;
}

const ScenarioSetting* find_allowed(const std::string& key) {
  for (const auto& setting : allow_list())
    if (key == setting.key) return &setting;
  return nullptr;
}

std::string one_of(const std::vector<std::string>& choices) { return "must be one of " + loader::join(choices); }

// Why a known key is refused whatever its value, even from the command line.
std::optional<std::string> refused_key(const std::string& key) {
  if (key == "debug/breakpoint")
    return "is refused: it raises SIGTRAP at the given simulated time, which kills the run";
  if (key == "tracing" || key.rfind("tracing/", 0) == 0)
    return "is refused: SimGrid's tracing writes a trace file (and tracing/comment-file reads one) at any path, "
           "outside the run's reports";
  if (key == "smpi/hostfile" || key == "smpi/comp-adjustment-file" || key == "smpi/replay")
    return "is refused: it names a file for SMPI to read, and fleetsim runs no MPI application";
  return std::nullopt;
}

const char* const kConstantReason =
    " (SimGrid's Constant model has no links: every transfer takes one second whatever its size, and SimGrid refuses "
    "to build fleetsim's platform, whose uplinks are links)";

// Values SimGrid 3.32 accepts but that stop, abort or hang a fleetsim run.
std::optional<std::string> refused_value(const std::string& key, const std::string& value) {
  if (value == "help") return "'help' would print SimGrid's help and end the run (docs/ENGINE.md lists the settings)";
  if (key == "network/model" && value == "Constant") return "Constant is refused" + std::string(kConstantReason);
  if (key == "network/model" && value == "ns-3")
    return "ns-3 is refused: SimGrid 3.32's ns-3 model cannot change a link's bandwidth, which fleetsim does";
  if (key == "host/model" && value == "ptask_L07")
    return "ptask_L07 is refused: it does not support the bounds fleetsim puts on transfers (SimGrid aborts)";
  if (key == "cpu/optim" && value == "TI")
    return "TI is refused: SimGrid 3.32's TI CPU update handles single-core hosts only, and fleetsim's nodes have "
           "several cores";
  if (key == "contexts/nthreads" && value != "1")
    return "must be 1: fleetsim's actors share its state without locks, so they cannot run in parallel threads";
  if ((key == "surf/precision" || key == "maxmin/precision" || key == "bmf/precision") &&
      !(loader::parse_decimal(value).value_or(0) > 0))
    return "must be above 0 (SimGrid never settles with a precision of 0), got '" + value + "'";
  return std::nullopt;
}

// Whether the value reads as the setting's type, the way SimGrid would read it, but stricter where SimGrid's reading
// surprises: integers in decimal only (SimGrid reads 010 as octal 8), reals in decimal only (no hex, inf, nan).
std::optional<std::string> check_type(const Known& known, const std::string& value) {
  // SimGrid splits its settings at blanks and commas: the rest of such a value would be read as another setting.
  if (value.find_first_of(" \t\n\r,") != std::string::npos)
    return "must not contain blanks or commas (SimGrid would read what follows as another setting), got '" + value +
           "'";
  switch (known.type) {
    case Type::integer: {
      std::size_t digits = value.find_first_not_of("+-");
      bool octal = digits != std::string::npos && value[digits] == '0' && value.size() > digits + 1;
      errno = 0;
      long long number = loader::is_decimal_integer(value) ? std::strtoll(value.c_str(), nullptr, 10) : 0;
      if (!loader::is_decimal_integer(value) || octal || errno == ERANGE || number < INT_MIN || number > INT_MAX)
        return "must be a whole number written in decimal without leading zeros, e.g. 64, got '" + value + "'";
      return std::nullopt;
    }
    case Type::real:
      if (!loader::parse_decimal(value)) return "must be a decimal number such as 1e-9 or 0.5, got '" + value + "'";
      return std::nullopt;
    case Type::boolean:
      for (const char* word : {"yes", "no", "on", "off", "true", "false", "1", "0"})
        if (value == word) return std::nullopt;
      return "must be yes, no, on, off, true, false, 1 or 0, got '" + value + "'";
    case Type::text:
      break;
  }
  auto choices = known_choices().find(known.key);
  if (choices == known_choices().end() || value == "help") return std::nullopt;
  for (const auto& choice : choices->second)
    if (value == choice) return std::nullopt;
  return one_of(choices->second) + ", got '" + value + "'";
}

// "(did you mean 'network/TCP-gamma'?)" for a misspelt key, or nothing.
std::string did_you_mean(const std::string& key) {
  std::set<std::string> keys;
  for (const auto& known : kSimGridSettings) keys.insert(known.key);
  auto near = loader::closest(key, keys);
  return near ? " (did you mean '" + *near + "'?)" : "";
}

// A value of an allowed setting: its type, then its range or choices.
std::optional<std::string> check_allowed_value(const ScenarioSetting& setting, const Known& known,
                                               const std::string& value) {
  if (!setting.choices.empty()) {
    for (const auto& choice : setting.choices)
      if (value == choice) return std::nullopt;
    return one_of(setting.choices) + ", got '" + value + "'" + (value == "Constant" ? kConstantReason : "");
  }
  if (auto problem = check_type(known, value)) return problem;
  if (known.type == Type::boolean) return std::nullopt;
  double number = *loader::parse_decimal(value);
  if (number < setting.lo || number > setting.hi) {
    char range[96];
    std::snprintf(range, sizeof range, "must be a number from %g to %g, got '", setting.lo, setting.hi);
    return range + value + "'";
  }
  return std::nullopt;
}

}  // namespace

std::string scenario_settings() {
  return loader::join(allow_list(), [](const ScenarioSetting& s) { return std::string(s.key); });
}

std::optional<std::string> check_scenario_setting(const std::string& key, const std::string& value) {
  const Known* known = find_known(key);
  if (const ScenarioSetting* setting = find_allowed(key); setting != nullptr && known != nullptr)
    return check_allowed_value(*setting, *known, value);
  const std::string allowed = "a scenario may set " + scenario_settings() + " (docs/ENGINE.md)";
  if (known == nullptr) return "is not a SimGrid 3.32 setting" + did_you_mean(key) + "; " + allowed;
  if (auto reason = refused_key(key)) return *reason + "; " + allowed;
  if (check_command_line_setting(key, value)) return "is not a setting a scenario may change: " + allowed;
  return "is not a setting a scenario may change: " + allowed + "; pass it for one run with --cfg " + key + ":" + value;
}

std::optional<std::string> check_command_line_setting(const std::string& key, const std::string& value) {
  // fleetsim's own keys: recorded in report.json's engine, never passed to SimGrid (engine_config.cpp).
  if (key == "fleetsim/check-solver") {
    if (value == "yes" || value == "no") return std::nullopt;
    return "must be yes or no, got '" + value + "'";
  }
  if (key.rfind("fleetsim/", 0) == 0)
    return "is not a setting --cfg may change: fleetsim's one key there is fleetsim/check-solver:yes|no (the solver "
           "and control messages are the scenario's simulation.solver and simulation.control_messages, which --set "
           "changes)";
  const Known* known = find_known(key);
  if (known == nullptr)
    return "is not a SimGrid 3.32 setting" + did_you_mean(key) + " (docs/ENGINE.md lists SimGrid's settings)";
  if (auto reason = refused_key(key)) return reason;
  if (auto problem = check_type(*known, value)) return problem;
  return refused_value(key, value);
}

}  // namespace fleetsim::sim
