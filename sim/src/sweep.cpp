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
using across_runs::write_atomically;

namespace {

constexpr int kPass = 0, kFail = 1, kUsage = 2, kInternal = 3, kInterrupted = 130;

constexpr const char* kSweepUsage = R"(usage: fleetsim sweep SCENARIO.lua [options]
       fleetsim merge --out DIR SHARD_DIR...

sweep: runs the scenario at every point of a grid of its parameters, for every seed, one process per run, and
       writes DIR/sweep.json and DIR/sweep.csv (one row per point: its parameters, how many runs passed, and each
       metric's mean, p50, p95, min and max across seeds); every run's reports stay in DIR/points/<point>/seed-<s>/.
       An interrupted sweep resumes: runs whose reports are complete are not run again.
merge: joins the directories of a sweep's shards (--shard I/N) into the sweep.json and sweep.csv of the whole sweep,
       the same bytes a local sweep writes.

options of sweep:
  -p NAME=V1,V2,...    an axis: the parameter NAME (param("NAME", default) in the file) takes each value; may be
                       repeated, the first axis varying slowest
  -p NAME=LO..HI/N     N values from LO to HI evenly spaced, e.g. -p egress=1Gbps..10Gbps/4 (1, 4, 7, 10 Gbps)
  --seeds N|S1,S2,...  seeds 1..N, or these seeds (default: 1)
  -j N                 runs at once (default: the number of cores)
  --out DIR            where the sweep's files go (default: sweep)
  --shard I/N          run only the I-th of N slices of the runs (0 <= I < N), for a cluster's job array; the
                       slicing depends only on the sweep's definition. Join the slices with fleetsim merge
  --set PATH=VALUE, --allow-path DIR, --cfg KEY:VALUE   passed to every run (see fleetsim run --help)
  --no-progress        never draw the progress line (drawn only on a terminal, and never when CI is set)

exit codes: 0 every run passed, 1 a run failed an expectation or invariant, 2 bad usage or scenario (checked at every
            point before anything runs), 3 a run crashed, 130 interrupted
docs: docs/SWEEPS.md
)";

int usage(const std::string& message) {
  std::cerr << "fleetsim: " << message << "\n\n" << kSweepUsage;
  return kUsage;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, sep)) out.push_back(item);
  if (!text.empty() && text.back() == sep) out.emplace_back();
  return out;
}

// "12.5Mbps" -> (12.5, "Mbps")
std::pair<double, std::string> number_and_unit(const std::string& text) {
  const char* begin = text.c_str();
  char* end = nullptr;
  const double x = std::strtod(begin, &end);
  if (end == begin || !std::isfinite(x)) throw std::invalid_argument("'" + text + "' does not start with a number");
  return {x, std::string(end)};
}


std::string point_id(std::size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "p%04zu", i + 1);
  return buf;
}



ordered_json definition_json(const SweepDefinition& d) {
  ordered_json axes = ordered_json::array();
  for (const auto& a : d.axes) axes.push_back({{"name", a.name}, {"values", a.values}});
  return {{"schema", "fleetsim.sweep_definition"},
          {"scenario", d.scenario},
          {"axes", axes},
          {"seeds", d.seeds},
          {"run_args", d.run_args}};
}

SweepDefinition definition_of(const ordered_json& j) {
  SweepDefinition d;
  d.scenario = j.at("scenario").get<std::string>();
  for (const auto& a : j.at("axes")) d.axes.push_back({a.at("name"), a.at("values").get<std::vector<std::string>>()});
  d.seeds = j.at("seeds").get<std::vector<std::string>>();
  d.run_args = j.at("run_args").get<std::vector<std::string>>();
  return d;
}

// One run of the sweep: a point and a seed, and where its files go (relative to the sweep's directory).
struct Run {
  std::size_t point = 0;
  std::size_t seed = 0;
  std::string dir;  // points/p0001/seed-1
};

std::vector<Run> runs_of(const SweepDefinition& d) {
  std::vector<Run> runs;
  for (std::size_t p = 0; p < d.point_count(); ++p)
    for (std::size_t s = 0; s < d.seeds.size(); ++s)
      runs.push_back({p, s, "points/" + point_id(p) + "/seed-" + d.seeds[s]});
  return runs;
}

// A run's exit code once it finished (its .exit file), or nullopt: not run, or interrupted.
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

}  // namespace

// The metrics of one run's report.json: per operation its times to 50/90/99/100 %, duration, failures.
std::map<std::string, double> report_metrics(const nlohmann::ordered_json& report) {
  std::map<std::string, double> m;
  for (const auto& op : report.value("operations", ordered_json::array())) {
    const std::string name = op.value("name", "");
    for (const auto& [pct, t] : op.at("time_to_pct_s").items())
      if (t.is_number()) m[name + ".time_to_" + pct] = t.get<double>();
    if (op.at("finished_at_s").is_number())
      m[name + ".duration"] = op.at("finished_at_s").get<double>() - op.at("started_at_s").get<double>();
    m[name + ".failed"] = op.at("failed").get<double>();
    m[name + ".succeeded"] = op.at("succeeded").get<double>();
  }
  if (report.contains("nodes_failed") && report.at("nodes_failed").is_number())
    m["fleet.nodes_failed"] = report.at("nodes_failed").get<double>();
  return m;
}

namespace {

// Mean, nearest-rank p50 and p95, min and max of the values the seeds reached.
ordered_json statistics(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  ordered_json s{{"n", n}};
  if (n == 0) return s;
  double sum = 0;
  for (double v : values) sum += v;
  auto rank = [&](double p) { return values[std::min(n - 1, static_cast<std::size_t>(std::ceil(p / 100.0 * n)) - 1)]; };
  s["mean"] = sum / static_cast<double>(n);
  s["p50"] = rank(50);
  s["p95"] = rank(95);
  s["min"] = values.front();
  s["max"] = values.back();
  return s;
}

using reports::csv_field;

std::string csv_number(const ordered_json& j, const char* key) {
  if (!j.contains(key)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", j.at(key).get<double>());
  return buf;
}

// sweep.json and sweep.csv from the definition and the runs' files under root; returns the sweep's exit code
// (missing runs count as not passed: exit 2 names them).
int aggregate(const fs::path& root, const SweepDefinition& d, std::size_t* missing_out) {
  const std::vector<Run> runs = runs_of(d);
  ordered_json points = ordered_json::array();
  std::set<std::string> metric_names;
  std::vector<std::map<std::string, std::vector<double>>> per_point(d.point_count());
  std::size_t failed = 0, crashed = 0, missing = 0;
  std::vector<ordered_json> point_runs(d.point_count(), ordered_json::array());
  std::vector<std::array<std::size_t, 4>> counts(d.point_count(), {0, 0, 0, 0});  // passed, failed, errors, missing
  for (const Run& run : runs) {
    const auto code = finished(root, run);
    ordered_json entry{{"seed", d.seeds[run.seed]}, {"dir", run.dir}};
    auto& c = counts[run.point];
    if (!code) {
      entry["exit_code"] = nullptr;
      entry["result"] = "missing";
      ++c[3];
      ++missing;
    } else {
      entry["exit_code"] = *code;
      if (*code == kPass || *code == kFail) {
        const ordered_json report = ordered_json::parse(read_text(root / run.dir / "report.json"));
        entry["result"] = report.value("result", "");
        for (const auto& [name, value] : report_metrics(report)) {
          per_point[run.point][name].push_back(value);
          metric_names.insert(name);
        }
        ++c[*code == kPass ? 0 : 1];
        failed += *code == kFail ? 1 : 0;
      } else {
        entry["result"] = "error";
        ++c[2];
        ++crashed;
      }
    }
    point_runs[run.point].push_back(entry);
  }
  std::string csv = "point";
  for (const auto& a : d.axes) csv += "," + csv_field(a.name);
  csv += ",runs,passed,failed,errors,missing";
  for (const auto& m : metric_names)
    for (const char* stat : {"mean", "p50", "p95", "min", "max"}) csv += "," + csv_field(m + "." + stat);
  csv += "\n";
  for (std::size_t p = 0; p < d.point_count(); ++p) {
    ordered_json params = ordered_json::object();
    for (const auto& [name, value] : d.point(p)) params[name] = value;
    ordered_json metrics = ordered_json::object();
    for (const auto& m : metric_names) metrics[m] = statistics(per_point[p][m]);
    const auto& c = counts[p];
    points.push_back({{"id", point_id(p)},
                      {"parameters", params},
                      {"passed", c[0]},
                      {"failed", c[1]},
                      {"errors", c[2]},
                      {"missing", c[3]},
                      {"runs", point_runs[p]},
                      {"metrics", metrics}});
    csv += point_id(p);
    for (const auto& [name, value] : d.point(p)) csv += "," + csv_field(value);
    csv += "," + std::to_string(d.seeds.size()) + "," + std::to_string(c[0]) + "," + std::to_string(c[1]) + "," +
           std::to_string(c[2]) + "," + std::to_string(c[3]);
    for (const auto& m : metric_names)
      for (const char* stat : {"mean", "p50", "p95", "min", "max"}) csv += "," + csv_number(metrics[m], stat);
    csv += "\n";
  }
  ordered_json out = definition_json(d);
  out["schema"] = "fleetsim.sweep";
  out["schema_version"] = 1;
  out["runs"] = runs.size();
  out["failed"] = failed;
  out["errors"] = crashed;
  out["missing"] = missing;
  out["points"] = points;
  write_atomically(root / "sweep.json", out.dump(2) + "\n");
  write_atomically(root / "sweep.csv", csv);
  if (missing_out != nullptr) *missing_out = missing;
  if (crashed > 0) return kInternal;
  if (failed > 0) return kFail;
  return kPass;
}

std::string self_executable() {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot find the fleetsim executable (/proc/self/exe): " + ec.message());
  return p.string();
}

// Starts `fleetsim run` for one run of the sweep, its output to the run's log; returns the child's pid.
pid_t start_run(const std::string& exe, const fs::path& root, const SweepDefinition& d, const Run& run) {
  std::vector<std::string> args{exe, "run", d.scenario, "--seed", d.seeds[run.seed], "--out",
                                (root / run.dir).string(), "--no-progress", "-q"};
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

}  // namespace

std::size_t SweepDefinition::point_count() const {
  std::size_t n = 1;
  for (const auto& a : axes) n *= a.values.size();
  return n;
}

std::vector<std::pair<std::string, std::string>> SweepDefinition::point(std::size_t i) const {
  std::vector<std::pair<std::string, std::string>> out(axes.size());
  for (std::size_t k = axes.size(); k-- > 0;) {
    const auto& values = axes[k].values;
    out[k] = {axes[k].name, values[i % values.size()]};
    i /= values.size();
  }
  return out;
}

std::vector<std::string> expand_axis_values(const std::string& text) {
  const std::size_t dots = text.find("..");
  if (dots == std::string::npos) {
    std::vector<std::string> values = split(text, ',');
    for (const auto& v : values)
      if (v.empty()) throw std::invalid_argument("an empty value in '" + text + "'");
    return values;
  }
  const std::size_t slash = text.rfind('/');
  if (slash == std::string::npos || slash < dots)
    throw std::invalid_argument("a range is LO..HI/N (N values, both ends included), got '" + text + "'");
  const auto [lo, lo_unit] = number_and_unit(text.substr(0, dots));
  const auto [hi, hi_unit] = number_and_unit(text.substr(dots + 2, slash - dots - 2));
  if (lo_unit != hi_unit)
    throw std::invalid_argument("the ends of '" + text + "' are in different units ('" + lo_unit + "' and '" + hi_unit +
                                "')");
  const std::string count_text = text.substr(slash + 1);
  if (count_text.empty() || count_text.find_first_not_of("0123456789") != std::string::npos ||
      count_text.size() > 6 || std::stoi(count_text) < 2)
    throw std::invalid_argument("the N of '" + text + "' must be a whole number of at least 2");
  const int n = std::stoi(count_text);
  std::vector<std::string> values;
  for (int k = 0; k < n; ++k) values.push_back(format_number(lo + (hi - lo) * k / (n - 1)) + lo_unit);
  return values;
}

int sweep_main(const std::vector<std::string>& args) {
  SweepDefinition d;
  std::string out_dir = "sweep";
  auto jobs = static_cast<std::size_t>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  std::optional<std::pair<std::size_t, std::size_t>> shard;
  bool no_progress = false;
  LoadOptions load;
  std::vector<std::string> overrides;
  try {
    for (std::size_t i = 1; i < args.size(); ++i) {
      const std::string& a = args[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= args.size() || args[i + 1].rfind("--", 0) == 0)
          throw std::invalid_argument(a + " needs a value");
        return args[++i];
      };
      if (a == "-p" || a == "--param") {
        const std::string kv = value();
        const std::size_t eq = kv.find('=');
        if (eq == std::string::npos || eq == 0) throw std::invalid_argument("-p expects NAME=VALUES, got '" + kv + "'");
        const std::string name = kv.substr(0, eq);
        for (const auto& axis : d.axes)
          if (axis.name == name) throw std::invalid_argument("-p " + name + " is given twice");
        try {
          d.axes.push_back({name, expand_axis_values(kv.substr(eq + 1))});
        } catch (const std::invalid_argument& e) {
          throw std::invalid_argument("-p " + kv + ": " + e.what());
        }
      } else if (a == "--seeds") {
        const std::string v = value();
        if (!v.empty() && v.find_first_not_of("0123456789") == std::string::npos && v.find(',') == std::string::npos) {
          const unsigned long n = std::stoul(v);
          if (n < 1 || n > 100000) throw std::invalid_argument("--seeds N needs 1 <= N <= 100000");
          for (unsigned long s = 1; s <= n; ++s) d.seeds.push_back(std::to_string(s));
        } else {
          d.seeds = split(v, ',');
          for (const auto& s : d.seeds)
            if (s.empty() || s.find('/') != std::string::npos) throw std::invalid_argument("--seeds: bad seed in '" + v + "'");
        }
      } else if (a == "-j" || (a.rfind("-j", 0) == 0 && a.size() > 2)) {  // -j 4 or -j4
        const std::string v = a == "-j" ? value() : a.substr(2);
        if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos || std::stoul(v) < 1)
          throw std::invalid_argument("-j needs a number of runs at once, got '" + v + "'");
        jobs = std::stoul(v);
      } else if (a == "--out") {
        out_dir = value();
      } else if (a == "--shard") {
        const std::string v = value();
        const auto parts = split(v, '/');
        if (parts.size() != 2 || parts[0].empty() || parts[1].empty() ||
            parts[0].find_first_not_of("0123456789") != std::string::npos ||
            parts[1].find_first_not_of("0123456789") != std::string::npos || std::stoul(parts[1]) < 1 ||
            std::stoul(parts[0]) >= std::stoul(parts[1]))
          throw std::invalid_argument("--shard expects I/N with 0 <= I < N, got '" + v + "'");
        shard = std::make_pair(std::stoul(parts[0]), std::stoul(parts[1]));
      } else if (a == "--set" || a == "--allow-path" || a == "--cfg") {
        const std::string v = value();
        d.run_args.push_back(a);
        d.run_args.push_back(v);
        if (a == "--set") overrides.push_back(v);
        if (a == "--allow-path") load.allowed_paths.push_back(v);
      } else if (a == "--no-progress") {
        no_progress = true;
      } else if (a == "-h" || a == "--help") {
        std::cout << kSweepUsage;
        return kPass;
      } else if (!a.empty() && a[0] == '-') {
        throw std::invalid_argument("unknown option '" + a + "' of sweep");
      } else if (d.scenario.empty()) {
        d.scenario = a;
      } else {
        throw std::invalid_argument("more than one scenario given ('" + d.scenario + "' and '" + a + "')");
      }
    }
  } catch (const std::invalid_argument& e) {
    return usage(e.what());
  }
  if (d.scenario.empty()) return usage("missing SCENARIO.lua");
  if (d.seeds.empty()) d.seeds = {"1"};
  if (d.point_count() > 1000000) return usage("the grid has more than 1,000,000 points");

  // Every point must load before anything runs: a typo in the last value fails now, not after hours.
  try {
    for (std::size_t p = 0; p < d.point_count(); ++p) {
      LoadOptions options = load;
      options.parameters = d.point(p);
      (void)load_scenario(d.scenario, overrides, options);
    }
  } catch (const ScenarioError& e) {
    std::cerr << "fleetsim: bad scenario: " << e.what() << "\n";
    return kUsage;
  }

  const fs::path root(out_dir);
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return usage("--out " + out_dir + ": " + ec.message());
  const std::string definition = definition_json(d).dump(2) + "\n";
  const fs::path definition_file = root / "sweep_definition.json";
  if (fs::exists(definition_file) && read_text(definition_file) != definition) {
    std::cerr << "fleetsim: --out " << out_dir
              << " holds the runs of another sweep (its sweep_definition.json differs): use another directory\n";
    return kUsage;
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
  const bool progress = !no_progress && isatty(STDERR_FILENO) && (ci == nullptr || *ci == '\0');
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
  const int result = aggregate(root, d, &missing);
  std::cout << "sweep: " << d.point_count() << " points x " << d.seeds.size() << " seeds = " << all.size() << " runs";
  if (shard) std::cout << "; shard " << shard->first << "/" << shard->second << ": " << in_shard << " runs";
  std::cout << " (" << done << " run now, " << resumed << " resumed)";
  if (missing > 0) std::cout << "; " << missing << " not run" << (shard ? " (other shards: fleetsim merge)" : "");
  std::cout << "\n  reports: " << out_dir << "/sweep.json, sweep.csv, points/\n";
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
  const int result = aggregate(root, d, &missing);
  std::cout << "merge: " << runs_of(d).size() << " runs of " << d.point_count() << " points from " << shards.size()
            << " shard(s)";
  if (missing > 0) std::cout << "; " << missing << " missing (a shard not run or not given)";
  std::cout << "\n  reports: " << out_dir << "/sweep.json, sweep.csv, points/\n";
  return missing > 0 ? kUsage : result;
}

}  // namespace fleetsim::sim
