// fleetsim command line: `fleetsim run SCENARIO.lua [--seed N] [--set path=value]... [--out DIR]`.
// Exit codes: 0 every expectation and invariant holds; 1 one failed; 2 bad scenario or bad usage.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "fleetsim/models/rng.hpp"
#include "fleetsim/reports/run_result.hpp"
#include "fleetsim/sim/run.hpp"
#include "fleetsim/sim/scenario.hpp"
#include "logging.hpp"

namespace {

constexpr const char* kUsage = R"(usage: fleetsim run SCENARIO.lua [options]

Runs a fleet scenario on the simulator and checks its expectations.

options:
  --seed N          seed of every random draw (a number, or any text such as a commit hash); default 1
  --set PATH=VALUE  override a scenario value, e.g. --set site.store.count=200 --set app.pos.versions.2.image=300MiB
  --out DIR         where report.json, nodes.csv and junit.xml go (default: out)
  --cfg KEY:VALUE   pass a setting to SimGrid, e.g. --cfg surf/precision:1e-9 (see docs/ENGINE.md)
  --no-progress     never draw the progress line (it is drawn only on a terminal, and never when CI is set)
  -q, --quiet       warnings and errors only
  -v, --verbose     debug logging; -vv traces
  -h, --help        this text
  --version         print the version

exit codes: 0 all expectations and invariants hold, 1 one of them failed, 2 bad scenario or usage
docs: docs/LUA_API.md (scenario reference), docs/ENGINE.md (engine settings and fidelity)
)";

int usage_error(const std::string& message) {
  std::cerr << "fleetsim: " << message << "\n\n" << kUsage;
  return 2;
}

std::string shell_quote(const std::string& s) {
  if (s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:@%+,") ==
      std::string::npos)
    return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct Invocation {
  std::string scenario_file;
  std::string seed_text = "1";
  std::string out_dir = "out";
  std::vector<std::string> overrides;
  fleetsim::sim::RunOptions options;
  bool no_progress = false;
};

// Reads `run`'s options. Returns an exit code when the command line is done with (help, or a usage error).
std::optional<int> parse_run(const std::vector<std::string>& args, Invocation& inv) {
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* flag) -> std::string {
      if (i + 1 >= args.size()) throw std::invalid_argument(std::string(flag) + " needs a value");
      return args[++i];
    };
    try {
      if (a == "--seed") {
        inv.seed_text = value("--seed");
      } else if (a == "--set") {
        inv.overrides.push_back(value("--set"));
      } else if (a == "--out") {
        inv.out_dir = value("--out");
      } else if (a == "--cfg") {
        std::string kv = value("--cfg");
        if (kv.find(':') == std::string::npos) return usage_error("--cfg expects KEY:VALUE, got '" + kv + "'");
        inv.options.simgrid_cfg.push_back(kv);
      } else if (a == "--no-progress") {
        inv.no_progress = true;
      } else if (a == "-q" || a == "--quiet") {
        inv.options.verbosity = -1;
      } else if (a == "-v" || a == "--verbose") {
        inv.options.verbosity = std::max(inv.options.verbosity, 1);
      } else if (a == "-vv") {
        inv.options.verbosity = 2;
      } else if (a == "-h" || a == "--help") {
        std::cout << kUsage;
        return 0;
      } else if (!a.empty() && a[0] == '-') {
        return usage_error("unknown option '" + a + "'");
      } else if (inv.scenario_file.empty()) {
        inv.scenario_file = a;
      } else {
        return usage_error("more than one scenario given ('" + inv.scenario_file + "' and '" + a + "')");
      }
    } catch (const std::invalid_argument& e) {
      return usage_error(e.what());
    }
  }
  if (inv.scenario_file.empty()) return usage_error("missing SCENARIO.lua");
  return std::nullopt;
}

// Writes every report file of the run into out_dir; returns the names written, or nullopt if one failed.
std::optional<std::vector<std::string>> write_reports(const fleetsim::reports::RunResult& result,
                                                      const std::string& out_dir) {
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  using Writer = void (*)(const fleetsim::reports::RunResult&, const std::string&);
  std::vector<std::pair<const char*, Writer>> writers{{"report.json", fleetsim::reports::write_report_json},
                                                      {"nodes.csv", fleetsim::reports::write_nodes_csv},
                                                      {"junit.xml", fleetsim::reports::write_junit_xml},
                                                      {"events.jsonl", fleetsim::reports::write_events_jsonl}};
  if (!result.states.empty()) writers.emplace_back("states.csv", fleetsim::reports::write_states_csv);
  if (!result.telemetry.empty()) {
    writers.emplace_back("telemetry.csv", fleetsim::reports::write_telemetry_csv);
    writers.emplace_back("telemetry_sites.csv", fleetsim::reports::write_telemetry_sites_csv);
  }
  bool write_failed = false;
  std::vector<std::string> names;
  for (auto [name, write] : writers) {
    names.emplace_back(name);
    try {
      write(result, (std::filesystem::path(out_dir) / name).string());
    } catch (const std::exception& e) {
      std::cerr << "fleetsim: " << e.what() << (ec ? " (" + ec.message() + ")" : std::string()) << "\n";
      write_failed = true;
    }
  }
  if (write_failed) return std::nullopt;
  return names;
}

int run_command(Invocation& inv) {
  // A numeric seed is used as is; any other text (a commit hash) is hashed, so CI can vary seeds and replay them.
  char* end = nullptr;
  unsigned long long numeric = std::strtoull(inv.seed_text.c_str(), &end, 0);
  bool is_number = !inv.seed_text.empty() && end != nullptr && *end == '\0' && inv.seed_text[0] != '-';
  inv.options.seed = is_number ? numeric : fleetsim::models::stable_hash(inv.seed_text);

  const char* ci = std::getenv("CI");
  inv.options.progress =
      !inv.no_progress && isatty(STDERR_FILENO) && (ci == nullptr || *ci == '\0') && inv.options.verbosity <= 0;
  fleetsim::sim::setup_logging(inv.options.verbosity, inv.options.progress);

  std::string replay = "fleetsim run " + shell_quote(inv.scenario_file) + " --seed " + shell_quote(inv.seed_text);
  for (const auto& o : inv.overrides) replay += " --set " + shell_quote(o);
  for (const auto& c : inv.options.simgrid_cfg) replay += " --cfg " + shell_quote(c);

  fleetsim::sim::Scenario scenario;
  try {
    scenario = fleetsim::sim::load_scenario(inv.scenario_file, inv.overrides);
  } catch (const fleetsim::sim::ScenarioError& e) {
    std::cerr << "fleetsim: bad scenario: " << e.what() << "\n";
    return 2;
  }
  std::cout << "fleetsim " << inv.scenario_file << " seed " << inv.seed_text;
  if (!is_number) std::cout << " (= " << inv.options.seed << ")";
  std::cout << "\n" << std::flush;

  // Wall time and memory describe the cost of the run, never its results: they are printed, not reported.
  auto wall_start = std::chrono::steady_clock::now();
  fleetsim::reports::RunResult result = fleetsim::sim::run_scenario(scenario, inv.options);
  double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);

  int status = result.passed() ? 0 : 1;
  auto written = write_reports(result, inv.out_dir);
  std::cout << fleetsim::reports::summary_text(result);
  if (written) {
    std::cout << "  reports: " << inv.out_dir << "/";
    for (std::size_t i = 0; i < written->size(); ++i) std::cout << (i ? ", " : "") << (*written)[i];
    std::cout << "\n";
  }
  std::printf("  cost: %.2f s wall for the simulation, peak RSS %.1f MiB\n", wall_s,
              static_cast<double>(usage.ru_maxrss) / 1024.0);
  if (status != 0) std::cout << "  replay: " << replay << "\n";
  if (!written) return 2;
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage_error("missing command");
  if (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (args[0] == "--version") {
    std::cout << "fleetsim 0.1.0\n";
    return 0;
  }
  if (args[0] != "run") return usage_error("unknown command '" + args[0] + "'");
  Invocation inv;
  if (auto done = parse_run(args, inv)) return *done;
  return run_command(inv);
}
