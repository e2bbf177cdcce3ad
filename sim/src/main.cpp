// fleetsim command line: `fleetsim run SCENARIO.lua [--seed N] [--set path=value]... [--out DIR]`.
// Exit codes: 0 every expectation and invariant holds; 1 one failed; 2 bad scenario or bad usage; 3 internal error
// (a bug of fleetsim's); 130 interrupted (the reports hold what ran, marked "interrupted").
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulate.hpp"
#include "fleetsim/models/rng.hpp"
#include "fleetsim/reports/run_result.hpp"
#include "fleetsim/sim/interrupt.hpp"
#include "fleetsim/sim/run.hpp"
#include "fleetsim/sim/scenario.hpp"
#include "logging.hpp"
#include "output_dir.hpp"
#include "sweep.hpp"

namespace {

constexpr int kExitPass = 0, kExitFail = 1, kExitUsage = 2, kExitInternal = 3, kExitInterrupted = 130;

constexpr const char* kUsage = R"(usage: fleetsim run SCENARIO.lua [options]
       fleetsim params SCENARIO.lua [-p NAME=VALUE]... [--json]
       fleetsim sweep SCENARIO.lua|SWEEP_FILE [-p NAME=V1,V2...] [--seeds N] [-j N] [--out DIR]  (sweep --help)
       fleetsim merge --out DIR SHARD_DIR...
       fleetsim compare BASELINE CURRENT [--tolerance 5%] [--out DIR]   (compare --help)
       fleetsim report DIR        (report.html again from a run's report.json, nodes.csv, ...)
       fleetsim emulate SCENARIO.lua [options] [--scale F] [--registry URL] [--shaping MODE]

run: runs a fleet scenario on the simulator and checks its expectations.
emulate: runs the scenario's fleet for real on this machine, at wall-clock speed: the orchestrator and one node
        agent per node (net/, the agents library unchanged), pulling generated layers from a real OCI registry
        (Debian's docker-registry, started for the run) over each site's shaped link, and running each release
        as a process; the same checks, reports and exit codes as run (docs/EMULATE.md says what is emulated).
  --scale F         multiply every layer size and duration by F (0 < F <= 1) for a quick check; the reports
                    divide again, so they read in the scenario's units
  --registry URL    use this OCI registry (http://host:port) instead of starting docker-registry
  --shaping MODE    how the sites' links are shaped: namespaces (a Linux network namespace per site, the kernel's
                    tc tbf at its rates, real kernel TCP; needs root and iproute2), tokens (loopback, a token bucket
                    per site), or auto (the default: namespaces where the machine allows them, else tokens; the
                    report's engine.shaping says which ran and why)
params: lists the scenario's parameters (param("name", default) in the file) with their kinds, defaults and the
        values -p would give them.

options:
  --seed N          seed of every random draw: a decimal number, or any other text (a commit hash), which is
                    hashed; default 1. The scenario reads it as fleet.seed; its math.random draws from it
  -p NAME=VALUE     set a scenario parameter (param("NAME", default) in the file), e.g. -p uplink=50Mbps; the value
                    must be of the default's kind (a rate, a size, a duration, a number, true/false); --param too
  --set PATH=VALUE  override a scenario value, e.g. --set site.store.count=200 --set app.pos.versions.2.0.image=300MiB
  --expect TEXT     one more expectation, as the file's expect "..." would state it, e.g. --expect
                    "upgrade.time_to_100 <= 40m"; may be repeated
  --out DIR         where report.json, report.html, nodes.csv, junit.xml and the other reports go (default: out)
  --allow-path DIR  let the scenario's trace files (fault.trace) come from DIR too, not only from the scenario's
                    own folder; may be repeated
  --cfg KEY:VALUE   pass a setting to SimGrid, e.g. --cfg surf/precision:1e-9 (see docs/ENGINE.md);
                    --cfg fleetsim/check-solver:yes also runs every transfer on SimGrid's solver and fails the
                    run where the two differ (docs/SOLVER.md §7)
  --no-progress     never draw the progress line (it is drawn only on a terminal, and never when CI is set)
  --no-html         do not write report.html (the run's charts and tables in one page, docs/REPORTS.md)
  -q, --quiet       print only what failed and the result; warnings and errors only in the log
  -v, --verbose     debug logging; -vv traces
  -h, --help        this text
  --version         print the version, the commit it was built from, SimGrid's and Lua's versions

exit codes: 0 all expectations and invariants hold, 1 one of them failed, 2 bad scenario or usage,
            3 internal error (a bug of fleetsim's), 130 interrupted (Ctrl-C or SIGTERM: the reports hold what ran,
            marked "interrupted"; a second Ctrl-C exits at once)
docs: docs/LUA_API.md (scenario reference), docs/ENGINE.md (engine settings and fidelity)
)";

int usage_error(const std::string& message) {
  std::cerr << "fleetsim: " << message << "\n\n" << kUsage;
  return kExitUsage;
}

using fleetsim::sim::across_runs::shell_quote;

struct Invocation {
  std::string scenario_file;
  std::string seed_text = "1";
  std::string out_dir = "out";
  std::vector<std::string> overrides;
  fleetsim::sim::LoadOptions load;
  fleetsim::sim::RunOptions options;
  bool no_progress = false;
  bool no_html = false;
  bool quiet = false;
  bool json = false;  // params --json
  bool emulate = false;
  std::string scale_text;  // emulate --scale
  std::string registry;    // emulate --registry
  std::string shaping = "auto";  // emulate --shaping
  double scale = 1;
};

// Reads one option of `run`; returns an exit code when the command line is done with (help, or a usage error).
std::optional<int> parse_option(const std::vector<std::string>& args, std::size_t& i, Invocation& inv) {
  const std::string& a = args[i];
  auto value = [&](const char* flag) -> std::string {
    // A value that looks like an option means the value was forgotten: `--seed --out x`.
    if (i + 1 >= args.size() || args[i + 1].rfind("--", 0) == 0)
      throw std::invalid_argument(std::string(flag) + " needs a value");
    return args[++i];
  };
  if (a == "--seed") {
    inv.seed_text = value("--seed");
  } else if (a == "-p" || a == "--param") {
    const std::string kv = value("-p");
    const std::size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return usage_error("-p expects NAME=VALUE (a parameter the scenario declares with param()), got '" + kv + "'");
    inv.load.parameters.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  } else if (a == "--expect") {
    inv.load.expectations.emplace_back(value("--expect"), "--expect");
  } else if (a == "--scale" && inv.emulate) {
    inv.scale_text = value("--scale");
  } else if (a == "--registry" && inv.emulate) {
    inv.registry = value("--registry");
  } else if (a == "--shaping" && inv.emulate) {
    inv.shaping = value("--shaping");
    if (inv.shaping != "auto" && inv.shaping != "namespaces" && inv.shaping != "tokens")
      return usage_error("--shaping must be auto, namespaces or tokens, got '" + inv.shaping + "'");
  } else if (a == "--json") {
    inv.json = true;
  } else if (a == "--set") {
    inv.overrides.push_back(value("--set"));
  } else if (a == "--out") {
    inv.out_dir = value("--out");
    if (inv.out_dir.empty()) return usage_error("--out needs a directory");
  } else if (a == "--allow-path") {
    std::string dir = value("--allow-path");
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) return usage_error("--allow-path " + dir + ": not a directory");
    inv.load.allowed_paths.push_back(dir);
  } else if (a == "--cfg") {
    std::string kv = value("--cfg");
    if (kv.find(':') == std::string::npos) return usage_error("--cfg expects KEY:VALUE, got '" + kv + "'");
    inv.options.simgrid_cfg.push_back(kv);
  } else if (a == "--no-progress") {
    inv.no_progress = true;
  } else if (a == "--no-html") {
    inv.no_html = true;
  } else if (a == "-q" || a == "--quiet") {
    inv.options.verbosity = -1;
    inv.quiet = true;
  } else if (a == "-v" || a == "--verbose") {
    inv.options.verbosity = std::max(inv.options.verbosity, 1);
  } else if (a == "-vv") {
    inv.options.verbosity = 2;
  } else if (a == "-h" || a == "--help") {
    std::cout << kUsage;
    return kExitPass;
  } else if (!a.empty() && a[0] == '-') {
    return usage_error("unknown option '" + a + "'");
  } else if (inv.scenario_file.empty()) {
    inv.scenario_file = a;
  } else {
    return usage_error("more than one scenario given ('" + inv.scenario_file + "' and '" + a + "')");
  }
  return std::nullopt;
}

std::optional<int> parse_run(const std::vector<std::string>& args, Invocation& inv) {
  for (std::size_t i = 1; i < args.size(); ++i) {
    try {
      if (auto done = parse_option(args, i, inv)) return done;
    } catch (const std::invalid_argument& e) {
      return usage_error(e.what());
    }
  }
  if (inv.scenario_file.empty()) return usage_error("missing SCENARIO.lua");
  return std::nullopt;
}

// A seed of decimal digits is used as is (leading zeros are decimal, never octal); any other text (a commit hash)
// is hashed, so CI can vary seeds and replay them.
bool numeric_seed(const std::string& text, std::uint64_t& seed) {
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos) return false;
  seed = std::stoull(text);
  return true;
}

void print_summary(const fleetsim::reports::RunResult& result, bool quiet) {
  const std::string summary = fleetsim::reports::summary_text(result);
  if (!quiet) {
    std::cout << summary;
    return;
  }
  // Quiet: only what failed, and the result.
  std::size_t start = 0;
  while (start < summary.size()) {
    std::size_t end = summary.find('\n', start);
    if (end == std::string::npos) end = summary.size();
    const std::string line = summary.substr(start, end - start);
    if (line.find("FAILED") != std::string::npos || line.find("INVARIANT VIOLATED") != std::string::npos ||
        line.find("SCENARIO ERROR") != std::string::npos || line.rfind("  result: ", 0) == 0)
      std::cout << line << "\n";
    start = end + 1;
  }
}

std::string replay_command(const Invocation& inv) {
  std::string replay = std::string(inv.emulate ? "fleetsim emulate " : "fleetsim run ") + shell_quote(inv.scenario_file) +
                       " --seed " + shell_quote(inv.seed_text);
  if (!inv.scale_text.empty()) replay += " --scale " + shell_quote(inv.scale_text);
  if (!inv.registry.empty()) replay += " --registry " + shell_quote(inv.registry);
  if (inv.emulate && inv.shaping != "auto") replay += " --shaping " + inv.shaping;
  for (const auto& [name, value] : inv.load.parameters) replay += " -p " + shell_quote(name + "=" + value);
  for (const auto& o : inv.overrides) replay += " --set " + shell_quote(o);
  for (const auto& e : inv.load.expectations) replay += " --expect " + shell_quote(e.first);
  for (const auto& p : inv.load.allowed_paths) replay += " --allow-path " + shell_quote(p);
  for (const auto& c : inv.options.simgrid_cfg) replay += " --cfg " + shell_quote(c);
  return replay;
}

int run_command(Invocation& inv) {
  const bool is_number = numeric_seed(inv.seed_text, inv.options.seed);
  if (!is_number) inv.options.seed = fleetsim::models::stable_hash(inv.seed_text);
  inv.load.seed = inv.options.seed;
  const char* ci = std::getenv("CI");
  inv.options.progress =
      !inv.no_progress && isatty(STDERR_FILENO) && (ci == nullptr || *ci == '\0') && inv.options.verbosity <= 0;
  fleetsim::sim::setup_logging(inv.options.verbosity, inv.options.progress);

  // The output directory is checked, and a previous run's reports in it removed, before anything is simulated.
  fleetsim::sim::OutputDir out(inv.out_dir, !inv.no_html);
  if (auto problem = out.prepare()) {
    std::cerr << "fleetsim: --out " << inv.out_dir << ": " << *problem << "\n";
    return kExitUsage;
  }
  // Wall time and memory describe the cost of the run, never its results: they are printed, not reported.
  auto wall_start = std::chrono::steady_clock::now();
  fleetsim::reports::RunResult result;
  try {
    const fleetsim::sim::Scenario scenario = fleetsim::sim::load_scenario(inv.scenario_file, inv.overrides, inv.load);
    if (!inv.quiet) {
      std::cout << "fleetsim " << inv.scenario_file << " seed " << inv.seed_text;
      if (!is_number) std::cout << " (= " << inv.options.seed << ")";
      std::cout << "\n" << std::flush;
    }
    wall_start = std::chrono::steady_clock::now();
    if (inv.emulate) {
      fleetsim::emulate::EmulateOptions eo;
      eo.seed = inv.options.seed;
      eo.scale = inv.scale;
      eo.registry_url = inv.registry;
      eo.shaping = inv.shaping == "namespaces" ? fleetsim::emulate::EmulateOptions::Shaping::namespaces
                   : inv.shaping == "tokens"   ? fleetsim::emulate::EmulateOptions::Shaping::tokens
                                               : fleetsim::emulate::EmulateOptions::Shaping::automatic;
      eo.work_dir = std::filesystem::path(inv.out_dir) / "emulate";
      eo.verbosity = inv.options.verbosity;
      try {
        result = fleetsim::emulate::emulate_scenario(scenario, eo);
      } catch (const fleetsim::emulate::EnvironmentError& e) {
        std::cerr << "fleetsim: emulate: " << e.what() << "\n";
        return kExitUsage;
      }
    } else {
      result = fleetsim::sim::run_scenario(scenario, inv.options);
    }
  } catch (const fleetsim::sim::ScenarioError& e) {
    out.write_error(inv.scenario_file, std::string("bad scenario: ") + e.what());
    throw;
  }
  double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);

  result.replay = replay_command(inv);
  result.wall_s = wall_s;
  auto written = out.write(result);
  print_summary(result, inv.quiet);
  if (written && !inv.quiet) std::cout << "  reports: " << inv.out_dir << "/" << *written << "\n";
  if (!inv.quiet)
    std::printf(inv.emulate ? "  cost: %.2f s wall for the emulation, peak RSS %.1f MiB\n"
                            : "  cost: %.2f s wall for the simulation, peak RSS %.1f MiB\n",
                wall_s,
                static_cast<double>(usage.ru_maxrss) / 1024.0);
  if (!result.passed()) std::cout << "  replay: " << replay_command(inv) << "\n";
  if (!written) return kExitUsage;
  for (const auto& e : result.scenario_errors) std::cerr << "fleetsim: bad scenario: " << e << "\n";
  if (!result.scenario_errors.empty()) return kExitUsage;
  if (result.interrupted) return kExitInterrupted;
  return result.passed() ? kExitPass : kExitFail;
}

// fleetsim params: the scenario's parameters as a table, or as JSON (--json) for scripts.
int params_command(Invocation& inv) {
  if (!numeric_seed(inv.seed_text, inv.load.seed)) inv.load.seed = fleetsim::models::stable_hash(inv.seed_text);
  const fleetsim::sim::Scenario scenario = fleetsim::sim::load_scenario(inv.scenario_file, inv.overrides, inv.load);
  if (inv.json) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& p : scenario.parameters)
      list.push_back({{"name", p.name},
                      {"kind", p.kind},
                      {"default", p.default_text},
                      {"value", p.value_text},
                      {"given", p.given},
                      {"where", p.where}});
    std::cout << nlohmann::ordered_json{{"scenario", inv.scenario_file}, {"parameters", list}}.dump(2) << "\n";
    return kExitPass;
  }
  if (scenario.parameters.empty()) {
    std::cout << inv.scenario_file
              << " declares no parameters (param(\"name\", default) declares one: docs/LUA_API.md)\n";
    return kExitPass;
  }
  std::size_t wn = 4, wk = 4, wd = 7, wv = 5;
  for (const auto& p : scenario.parameters) {
    wn = std::max(wn, p.name.size());
    wk = std::max(wk, p.kind.size());
    wd = std::max(wd, p.default_text.size());
    wv = std::max(wv, p.value_text.size());
  }
  auto row = [&](const std::string& n, const std::string& k, const std::string& d, const std::string& v,
                 const std::string& w) {
    std::printf("  %-*s  %-*s  %-*s  %-*s  %s\n", static_cast<int>(wn), n.c_str(), static_cast<int>(wk), k.c_str(),
                static_cast<int>(wd), d.c_str(), static_cast<int>(wv), v.c_str(), w.c_str());
  };
  std::cout << "parameters of " << inv.scenario_file << " (set with -p NAME=VALUE):\n";
  row("name", "kind", "default", "value", "declared at");
  for (const auto& p : scenario.parameters) row(p.name, p.kind, p.default_text, p.value_text, p.where);
  return kExitPass;
}

// No exception and no signal escapes as an abort: each kind of failure has its exit code and a message.
int guarded_run(Invocation& inv, int (*command)(Invocation&)) {
  try {
    return command(inv);
  } catch (const fleetsim::sim::ScenarioError& e) {
    if (fleetsim::sim::interrupt_requested()) return kExitInterrupted;
    std::cerr << "fleetsim: bad scenario: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::bad_alloc&) {
    std::cerr << "fleetsim: out of memory (the scenario's fleet, or its Lua code, needs more than this machine has)\n";
    return kExitInternal;
  } catch (const std::exception& e) {
    std::cerr << "fleetsim: internal error: " << e.what()
              << "\n  This is a bug in fleetsim, not in your scenario. Please report it with the scenario file and "
                 "this command line:\n  "
              << replay_command(inv) << "\n";
    return kExitInternal;
  }
}

}  // namespace

int main(int argc, char** argv) {
  fleetsim::sim::install_interrupt_handlers();
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage_error("missing command");
  if (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::cout << kUsage;
    return kExitPass;
  }
  if (args[0] == "--version") {
    std::cout << fleetsim::sim::version_text();
    return kExitPass;
  }
  if (args[0] == "report") {  // report.html again from a run's files, without running it
    if (args.size() == 2 && (args[1] == "-h" || args[1] == "--help")) {
      std::cout << "usage: fleetsim report DIR\n\nWrites DIR/report.html again from the run's report.json, nodes.csv, "
                   "network.csv,\ntelemetry.csv, telemetry_drains.csv and junit.xml (the page the run wrote; "
                   "docs/REPORTS.md).\nExit 0, or 2 when DIR "
                   "does not hold a run's reports.\n";
      return kExitPass;
    }
    if (args.size() != 2 || args[1].empty() || args[1][0] == '-') return usage_error("report takes one DIR");
    try {
      fleetsim::reports::rebuild_report_html(args[1]);
    } catch (const std::exception& e) {
      std::cerr << "fleetsim: report: " << e.what() << "\n";
      return kExitUsage;
    }
    std::cout << "  report: " << (std::filesystem::path(args[1]) / "report.html").string() << "\n";
    return kExitPass;
  }
  if (args[0] == "sweep" || args[0] == "merge" || args[0] == "compare") {
    try {
      if (args[0] == "compare") return fleetsim::sim::compare_main(args);
      return args[0] == "sweep" ? fleetsim::sim::sweep_main(args) : fleetsim::sim::merge_main(args);
    } catch (const std::exception& e) {
      std::cerr << "fleetsim: internal error in " << args[0] << ": " << e.what() << "\n";
      return kExitInternal;
    }
  }
  if (args[0] != "run" && args[0] != "params" && args[0] != "emulate")
    return usage_error("unknown command '" + args[0] + "'");
  Invocation inv;
  inv.emulate = args[0] == "emulate";
  if (auto done = parse_run(args, inv)) return *done;
  if (inv.emulate) {
    if (!inv.options.simgrid_cfg.empty()) return usage_error("--cfg sets the simulator's engine; emulate has none");
    if (!inv.scale_text.empty()) {
      char* end = nullptr;
      inv.scale = std::strtod(inv.scale_text.c_str(), &end);
      if (end == inv.scale_text.c_str() || *end != '\0' || !(inv.scale > 0) || inv.scale > 1)
        return usage_error("--scale must be a number in (0, 1], got '" + inv.scale_text + "'");
    }
    if (inv.shaping == "namespaces" && !inv.registry.empty())
      return usage_error("--shaping namespaces runs the registry it starts in a namespace of its own; it cannot with "
                         "--registry (use --shaping tokens, or leave --registry out)");
  }
  if (inv.json && args[0] != "params") return usage_error("--json is an option of params");
  return guarded_run(inv, args[0] == "params" ? params_command : run_command);
}
