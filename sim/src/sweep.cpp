#include "sweep.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fleetsim/models/units.hpp"
#include "fleetsim/reports/run_result.hpp"
#include "fleetsim/sim/interrupt.hpp"
#include "fleetsim/sim/scenario.hpp"

namespace fleetsim::sim {

namespace fs = std::filesystem;
using ordered_json = nlohmann::ordered_json;

namespace across_runs {

std::string format_number(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", x);
  return buf;
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:@%+,") ==
                        std::string::npos)
    return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_atomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
  }
  fs::rename(tmp, path);
}

}  // namespace across_runs

using across_runs::format_number;
using across_runs::read_text;
using across_runs::shell_quote;
using across_runs::write_atomically;
using namespace sweep_detail;

namespace sweep_detail {

std::string point_id(std::size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "p%04zu", i + 1);
  return buf;
}



std::vector<Run> runs_of(const SweepDefinition& d) {
  std::vector<Run> runs;
  for (std::size_t p = 0; p < d.point_count(); ++p)
    for (std::size_t s = 0; s < d.seeds.size(); ++s)
      runs.push_back({p, s, "points/" + point_id(p) + "/seed-" + d.seeds[s]});
  return runs;
}

std::optional<int> finished(const fs::path& root, const Run& run) {
  const fs::path exit_file = root / (run.dir + ".exit");
  std::error_code ec;
  if (!fs::exists(exit_file, ec)) return std::nullopt;
  const std::string text = read_text(exit_file);
  try {
    const int code = std::stoi(text);
    if (code == kInterrupted) return std::nullopt;
    return code;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string replay_command(const SweepDefinition& d, const Run& run) {
  std::string replay = "fleetsim run " + shell_quote(d.scenario) + " --seed " + shell_quote(d.seeds[run.seed]);
  for (const auto& [name, value] : d.point(run.point)) replay += " -p " + shell_quote(name + "=" + value);
  for (const auto& a : d.run_args) replay += " " + shell_quote(a);
  return replay;
}

}  // namespace sweep_detail

namespace {

std::string self_executable() {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot find the fleetsim executable (/proc/self/exe): " + ec.message());
  return p.string();
}

// Starts `fleetsim run` for one run of the sweep, its output to the run's log; returns the child's pid.
pid_t start_run(const std::string& exe, const fs::path& root, const SweepDefinition& d, const Run& run) {
  std::vector<std::string> args{exe, "run", d.scenario, "--seed", d.seeds[run.seed], "--out",
                                (root / run.dir).string(), "--no-progress", "-q", "--no-html"};
  for (const auto& [name, value] : d.point(run.point)) {
    args.push_back("-p");
    args.push_back(name + "=" + value);
  }
  args.insert(args.end(), d.run_args.begin(), d.run_args.end());
  fs::create_directories((root / run.dir).parent_path());
  const std::string log = (root / (run.dir + ".log")).string();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

std::string clock_text(double s) { return models::format_duration(std::round(s)); }

int usage(const std::string& message) {
  std::cerr << "fleetsim: " << message << "\n\n" << kSweepUsage;
  return kUsage;
}

// A sweep that cannot start (a bad scenario or sweep file) still leaves a junit.xml saying why, as a run does.
int bad_sweep(const std::string& out_dir, const std::string& what, const std::string& message) {
  std::cerr << "fleetsim: " << what << ": " << message << "\n";
  std::error_code ec;
  if (fs::exists(fs::path(out_dir) / "sweep.json", ec)) return kUsage;  // a finished sweep's junit.xml stays
  fs::create_directories(out_dir, ec);
  try {
    reports::write_junit_error((fs::path(out_dir) / "junit.xml").string(), "fleetsim sweep", message);
  } catch (const std::exception& e) {
    std::cerr << "fleetsim: " << e.what() << "\n";
  }
  return kUsage;
}

// --out DIR as given on the command line (a sweep file that cannot be read cannot say where its own goes).
std::string out_dir_given(const std::vector<std::string>& args) {
  for (std::size_t i = 1; i + 1 < args.size(); ++i)
    if (args[i] == "--out") return args[i + 1];
  return "sweep";
}

}  // namespace

int sweep_main(const std::vector<std::string>& args) {
  SweepRequest request;
  try {
    request = parse_sweep_command(args);
  } catch (const std::invalid_argument& e) {
    return usage(e.what());
  } catch (const ScenarioError& e) {
    return bad_sweep(out_dir_given(args), "bad sweep file", e.what());
  }
  if (request.help) {
    std::cout << kSweepUsage;
    return kPass;
  }
  const SweepDefinition& d = request.definition;
  const std::string& out_dir = request.out_dir;
  const auto shard = request.shard;
  const std::size_t jobs = request.jobs;

  // Every point must load before anything runs: a typo in the last value fails now, not after hours.
  try {
    for (std::size_t p = 0; p < d.point_count(); ++p) {
      LoadOptions options;
      options.allowed_paths = request.allowed_paths;
      options.expectations = request.expectations;
      for (std::size_t k = 0; k + 1 < d.run_args.size(); ++k)  // a sweep file's fixed parameters
        if (d.run_args[k] == "-p") {
          const std::string& kv = d.run_args[++k];
          options.parameters.emplace_back(kv.substr(0, kv.find('=')), kv.substr(kv.find('=') + 1));
        }
      for (auto& kv : d.point(p)) options.parameters.push_back(kv);
      (void)load_scenario(d.scenario, request.overrides, options);
    }
  } catch (const ScenarioError& e) {
    return bad_sweep(out_dir, "bad scenario", e.what());
  }

  const fs::path root(out_dir);
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return usage("--out " + out_dir + ": " + ec.message());
  const std::string definition = definition_json(d).dump(2) + "\n";
  const fs::path definition_file = root / "sweep_definition.json";
  if (fs::exists(definition_file) && read_text(definition_file) != definition) {
    // The same runs with other metrics of interest is the same sweep, aggregated anew; other runs are not.
    auto runs_part = [](std::string text) {
      try {
        auto j = ordered_json::parse(text);
        j.erase("metrics");
        return j.dump();
      } catch (const std::exception&) {
        return text;
      }
    };
    if (runs_part(read_text(definition_file)) != runs_part(definition)) {
      std::cerr << "fleetsim: --out " << out_dir
                << " holds the runs of another sweep (its sweep_definition.json differs): use another directory\n";
      return kUsage;
    }
  }
  write_atomically(definition_file, definition);

  std::vector<Run> todo;
  const std::vector<Run> all = runs_of(d);
  std::size_t resumed = 0, in_shard = 0;
  for (std::size_t r = 0; r < all.size(); ++r) {
    if (shard && r % shard->second != shard->first) continue;
    ++in_shard;
    if (finished(root, all[r]))
      ++resumed;
    else
      todo.push_back(all[r]);
  }
  const char* ci = std::getenv("CI");
  const bool progress = !request.no_progress && isatty(STDERR_FILENO) && (ci == nullptr || *ci == '\0');
  const std::string exe = self_executable();
  std::map<pid_t, Run> running;
  std::size_t next = 0, done = 0, failed = 0, crashed = 0;
  const auto start = std::chrono::steady_clock::now();
  auto draw = [&] {
    if (!progress) return;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string eta = done > 0 ? clock_text(elapsed / static_cast<double>(done) * static_cast<double>(todo.size() - done))
                               : std::string("-");
    std::fprintf(stderr, "\r  sweep: %zu/%zu runs, %zu failed, %zu errors, %s elapsed, ETA %s   ", done, todo.size(),
                 failed, crashed, clock_text(elapsed).c_str(), eta.c_str());
    std::fflush(stderr);
  };
  draw();
  while (next < todo.size() || !running.empty()) {
    while (next < todo.size() && running.size() < jobs && !interrupt_requested()) {
      const Run& run = todo[next++];
      running.emplace(start_run(exe, root, d, run), run);
    }
    if (running.empty()) break;  // interrupted before starting more
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    auto it = running.find(pid);
    if (it == running.end()) continue;
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    write_atomically(root / (it->second.dir + ".exit"), std::to_string(code) + "\n");
    running.erase(it);
    ++done;
    failed += code == kFail ? 1 : 0;
    crashed += (code != kPass && code != kFail && code != kInterrupted) ? 1 : 0;
    draw();
  }
  if (progress) std::fprintf(stderr, "\n");
  std::size_t missing = 0;
  const int result = aggregate(root, d, &missing, true);
  std::cout << "sweep: " << d.point_count() << " points x " << d.seeds.size() << " seeds = " << all.size() << " runs";
  if (shard) std::cout << "; shard " << shard->first << "/" << shard->second << ": " << in_shard << " runs";
  std::cout << " (" << done << " run now, " << resumed << " resumed)";
  if (missing > 0) std::cout << "; " << missing << " not run" << (shard ? " (other shards: fleetsim merge)" : "");
  std::cout << "\n  reports: " << out_dir << "/sweep.json, sweep.csv, junit.xml, sweep.html, points/\n";
  if (interrupt_requested()) return kInterrupted;
  return result;
}

int merge_main(const std::vector<std::string>& args) {
  std::string out_dir;
  std::vector<std::string> shards;
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--out") {
      if (i + 1 >= args.size()) return usage("--out needs a value");
      out_dir = args[++i];
    } else if (args[i] == "-h" || args[i] == "--help") {
      std::cout << kSweepUsage;
      return kPass;
    } else if (!args[i].empty() && args[i][0] == '-') {
      return usage("unknown option '" + args[i] + "' of merge");
    } else {
      shards.push_back(args[i]);
    }
  }
  if (out_dir.empty()) return usage("merge needs --out DIR");
  if (shards.empty()) return usage("merge needs the shards' directories");
  std::optional<std::string> definition;
  for (const auto& dir : shards) {
    const fs::path file = fs::path(dir) / "sweep_definition.json";
    if (!fs::exists(file)) return usage(dir + ": no sweep_definition.json (not the directory of a sweep's shard)");
    const std::string text = read_text(file);
    if (definition && *definition != text) return usage(dir + ": a shard of another sweep (its definition differs)");
    definition = text;
  }
  const fs::path root(out_dir);
  fs::create_directories(root);
  const SweepDefinition d = definition_of(ordered_json::parse(*definition));
  write_atomically(root / "sweep_definition.json", *definition);
  // Each shard's finished runs, copied under the merged directory (a run finished in several shards: the first).
  for (const auto& dir : shards)
    for (const Run& run : runs_of(d)) {
      if (!finished(dir, run) || finished(root, run)) continue;
      std::error_code ec;
      if (fs::equivalent(fs::path(dir), root, ec)) continue;
      fs::create_directories((root / run.dir).parent_path());
      fs::copy(fs::path(dir) / run.dir, root / run.dir, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
      for (const char* ext : {".exit", ".log"}) {
        const fs::path from = fs::path(dir) / (run.dir + ext);
        if (fs::exists(from)) fs::copy_file(from, root / (run.dir + ext), fs::copy_options::overwrite_existing);
      }
    }
  std::size_t missing = 0;
  const int result = aggregate(root, d, &missing, true);
  std::cout << "merge: " << runs_of(d).size() << " runs of " << d.point_count() << " points from " << shards.size()
            << " shard(s)";
  if (missing > 0) std::cout << "; " << missing << " missing (a shard not run or not given)";
  std::cout << "\n  reports: " << out_dir << "/sweep.json, sweep.csv, junit.xml, sweep.html, points/\n";
  return missing > 0 ? kUsage : result;
}

}  // namespace fleetsim::sim
