// What a sweep runs: its command line and its sweep file (JSON, or Lua with sweep { ... }), read into a
// SweepDefinition, a pure function of them (docs/SWEEPS.md).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fleetsim/sim/scenario.hpp"
#include "lua_host.hpp"
#include "sweep.hpp"

namespace fleetsim::sim {

namespace fs = std::filesystem;
using ordered_json = nlohmann::ordered_json;
using across_runs::format_number;
using across_runs::read_text;

const char* const kSweepUsage = R"(usage: fleetsim sweep SCENARIO.lua [options]
       fleetsim sweep SWEEP_FILE [options]
       fleetsim merge --out DIR SHARD_DIR...

sweep: runs the scenario at every point of a grid of its parameters, for every seed, one process per run, and
       writes DIR/sweep.json, DIR/sweep.csv (one row per point: its parameters, how many runs passed, each metric's
       mean, p50, p95, min and max across seeds) and DIR/junit.xml, and prints a table of the points; every run's
       reports stay in DIR/points/<point>/seed-<s>/. An interrupted sweep resumes: runs whose reports are complete
       are not run again.
       A sweep file holds the same definition: a .json file, or a Lua file with sweep { ... } (a scenario may
       declare its own); the options below add to it (-p, --metric, --expect, --set) or replace it (--seeds, --out).
merge: joins the directories of a sweep's shards (--shard I/N) into the sweep.json and sweep.csv of the whole sweep,
       the same bytes a local sweep writes.

options of sweep:
  -p NAME=V1,V2,...    an axis: the parameter NAME (param("NAME", default) in the file) takes each value; may be
                       repeated, the first axis varying slowest
  -p NAME=LO..HI/N     N values from LO to HI evenly spaced, e.g. -p egress=1Gbps..10Gbps/4 (1, 4, 7, 10 Gbps)
  --seeds N|A..B|S1,S2,...  seeds 1..N, A..B, or these seeds (default: 1)
  --metric NAME        aggregate this metric too (any metric an expectation may name, * for any text:
                       'telemetry.*.loss_ppm'); may be repeated
  --expect TEXT        an expectation for every point: across its seeds, "p95(upgrade.time_to_100) <= 40m"
                       (mean, median, min, max, p1..p100), or for every run, "upgrade.failed == 0"
  -j N                 runs at once (default: the number of cores)
  --out DIR            where the sweep's files go (default: sweep)
  --shard I/N          run only the I-th of N slices of the runs (0 <= I < N), for a cluster's job array; the
                       slicing depends only on the sweep's definition. Join the slices with fleetsim merge
  --set PATH=VALUE, --allow-path DIR, --cfg KEY:VALUE   passed to every run (see fleetsim run --help)
  --no-progress        never draw the progress line (drawn only on a terminal, and never when CI is set)

exit codes: 0 every run and every expectation across seeds passed, 1 one failed, 2 bad usage, scenario or sweep file
            (checked at every point before anything runs; or a run found its scenario wrong), 3 a run crashed,
            130 interrupted
docs: docs/SWEEPS.md
)";

namespace {

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

std::vector<std::string> seeds_of(const std::string& v) {
  std::vector<std::string> seeds;
  if (!v.empty() && v.find_first_not_of("0123456789") == std::string::npos) {
    if (v.size() > 6 || std::stoul(v) < 1 || std::stoul(v) > 100000)
      throw std::invalid_argument("--seeds N needs 1 <= N <= 100000");
    for (unsigned long s = 1, n = std::stoul(v); s <= n; ++s) seeds.push_back(std::to_string(s));
    return seeds;
  }
  if (const auto dots = v.find(".."); dots != std::string::npos && v.find(',') == std::string::npos) {  // A..B
    const std::string a = v.substr(0, dots), b = v.substr(dots + 2);
    const bool digits = !a.empty() && !b.empty() && a.size() <= 9 && b.size() <= 9 &&
                        (a + b).find_first_not_of("0123456789") == std::string::npos;
    if (!digits || std::stoul(a) > std::stoul(b) || std::stoul(b) - std::stoul(a) >= 100000)
      throw std::invalid_argument("--seeds A..B needs whole numbers A <= B, at most 100000 seeds, got '" + v + "'");
    for (unsigned long s = std::stoul(a); s <= std::stoul(b); ++s) seeds.push_back(std::to_string(s));
    return seeds;
  }
  seeds = split(v, ',');
  for (const auto& s : seeds)
    if (s.empty() || s.find('/') != std::string::npos) throw std::invalid_argument("--seeds: bad seed in '" + v + "'");
  return seeds;
}

void add_axis(SweepDefinition& d, const std::string& name, const std::string& values) {
  for (const auto& axis : d.axes)
    if (axis.name == name) throw std::invalid_argument("the axis " + name + " is given twice");
  try {
    d.axes.push_back({name, expand_axis_values(values)});
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("-p " + name + "=" + values + ": " + e.what());
  }
}

// ---- sweep files ---------------------------------------------------------------------------------------------------

// A sweep file's definition as JSON, with where each key is (file:line) for messages.
struct SweepFile {
  ordered_json value;
  std::string where;      // file:line of sweep { ... }, or the file
  std::string scenario;   // the file itself when it is a scenario with its own sweep { ... }
};

// Line of the first occurrence of "key" in a JSON text (for messages; the parsed value has no positions).
std::string json_where(const std::string& file, const std::string& text, const std::string& key) {
  const auto at = text.find("\"" + key + "\"");
  if (at == std::string::npos) return file;
  return file + ":" + std::to_string(1 + std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
}

std::optional<SweepFile> read_sweep_file(const std::string& file) {
  SweepFile f;
  const bool json = file.size() >= 5 && file.compare(file.size() - 5, 5, ".json") == 0;
  if (json) {
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) throw ScenarioError(file + ": cannot read the sweep file");
    const std::string text = read_text(file);
    try {
      f.value = ordered_json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<long>(std::min(e.byte, text.size())), '\n');
      throw ScenarioError(file + ":" + std::to_string(line) + ": not JSON: " + e.what());
    } catch (const nlohmann::json::exception& e) {  // a number out of range (1e999), ...
      throw ScenarioError(file + ": not JSON: " + e.what());
    }
    if (!f.value.is_object()) throw ScenarioError(file + ": a sweep file is a JSON object (\"scenario\", \"axes\", ...)");
    f.where = file;
    if (!f.value.contains("scenario"))
      throw ScenarioError(file + ": key 'scenario' is missing (the scenario file, relative to this one)");
    return f;
  }
  std::optional<loader::Declaration> sweep;
  for (auto& d : loader::run_scenario_file(file, loader::LuaLimits{}, {}, nullptr)) {
    if (d.kind != "sweep") continue;
    if (sweep) throw ScenarioError(d.where + ": a second sweep { ... } (the first is at " + sweep->where + ")");
    sweep = std::move(d);
  }
  if (!sweep) return std::nullopt;  // a scenario without a sweep of its own
  f.value = ordered_json::parse(sweep->value.dump());
  f.where = sweep->where;
  if (!f.value.contains("scenario")) f.scenario = file;
  return f;
}

std::string text_of(const ordered_json& v, const std::string& key) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number()) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.15g", v.get<double>());
    return buf;
  }
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  throw std::invalid_argument("key '" + key + "': expected a string or a number, got " + std::string(v.type_name()));
}

std::vector<std::string> strings_of(const ordered_json& v, const std::string& key) {
  if (!v.is_array()) throw std::invalid_argument("key '" + key + "': expected a list of strings");
  std::vector<std::string> out;
  for (const auto& item : v) out.push_back(text_of(item, key));
  return out;
}

// Applies a sweep file to the request; relative paths in it are relative to the file's folder.
void apply_sweep_file(const std::string& file, const SweepFile& f, SweepRequest& r) {
  SweepDefinition& d = r.definition;
  const fs::path base = fs::path(file).parent_path();
  auto relative = [&](const std::string& path) {
    return fs::path(path).is_absolute() ? path : (base / path).lexically_normal().string();
  };
  static const std::set<std::string> known{"scenario", "axes", "seeds", "metrics", "expect", "params",
                                           "set",      "cfg",  "allow_path", "out", "jobs"};
  for (const auto& [key, value] : f.value.items()) {
    const std::string where = f.where == file ? json_where(file, read_text(file), key) : f.where;
    try {
      if (!known.count(key))
        throw std::invalid_argument("unknown key '" + key +
                                    "' (a sweep has scenario, axes, seeds, metrics, expect, params, set, cfg, "
                                    "allow_path, out, jobs)");
      if (key == "scenario") {
        d.scenario = relative(text_of(value, key));
      } else if (key == "axes") {
        if (value.is_object()) {
          if (value.size() > 1 && f.where != file)
            throw std::invalid_argument(
                "key 'axes': a Lua table's keys have no order; give the axes as a list, "
                "axes = { { name = \"uplink\", values = { \"10Mbps\", \"20Mbps\" } }, ... }");
          for (const auto& item : value.items()) {
            const std::string name = item.key();
            std::string joined;
            if (item.value().is_array())
              for (const auto& s : strings_of(item.value(), "axes." + name)) joined += (joined.empty() ? "" : ",") + s;
            else
              joined = text_of(item.value(), "axes." + name);
            add_axis(d, name, joined);
          }
        } else if (value.is_array()) {
          for (const auto& axis : value) {
            if (!axis.is_object() || !axis.contains("name") || !axis.contains("values"))
              throw std::invalid_argument("key 'axes': each axis is { name = ..., values = ... }");
            const std::string name = text_of(axis.at("name"), "axes[].name");
            const auto& values = axis.at("values");
            std::string joined;
            if (values.is_array())
              for (const auto& s : strings_of(values, "axes." + name)) joined += (joined.empty() ? "" : ",") + s;
            else
              joined = text_of(values, "axes." + name);
            add_axis(d, name, joined);
          }
        } else {
          throw std::invalid_argument("key 'axes': a list of { name, values } or an object of name -> values");
        }
      } else if (key == "seeds") {
        d.seeds = value.is_array() ? strings_of(value, key) : seeds_of(text_of(value, key));
        for (const auto& seed : d.seeds)
          if (seed.empty() || seed.find('/') != std::string::npos)
            throw std::invalid_argument("key 'seeds': bad seed '" + seed + "'");
        if (d.seeds.empty()) throw std::invalid_argument("key 'seeds': no seed");
      } else if (key == "metrics") {
        for (auto& m : strings_of(value, key)) d.metrics.push_back(m);
      } else if (key == "expect") {
        for (auto& e : strings_of(value.is_array() ? value : ordered_json::array({value}), key)) {
          r.expectations.emplace_back(e, where);
          d.run_args.insert(d.run_args.end(), {"--expect", e});
        }
      } else if (key == "params") {
        if (!value.is_object()) throw std::invalid_argument("key 'params': an object of name -> value");
        for (const auto& [name, v] : value.items()) d.run_args.insert(d.run_args.end(), {"-p", name + "=" + text_of(v, "params." + name)});
      } else if (key == "set") {
        if (value.is_object()) {
          for (const auto& [path, v] : value.items()) {
            r.overrides.push_back(path + "=" + text_of(v, "set." + path));
            d.run_args.insert(d.run_args.end(), {"--set", r.overrides.back()});
          }
        } else {
          for (auto& o : strings_of(value, key)) {
            r.overrides.push_back(o);
            d.run_args.insert(d.run_args.end(), {"--set", o});
          }
        }
      } else if (key == "cfg") {
        for (auto& c : strings_of(value, key)) d.run_args.insert(d.run_args.end(), {"--cfg", c});
      } else if (key == "allow_path") {
        for (auto& p : strings_of(value, key)) {
          r.allowed_paths.push_back(relative(p));
          d.run_args.insert(d.run_args.end(), {"--allow-path", r.allowed_paths.back()});
        }
      } else if (key == "out") {
        r.out_dir = text_of(value, key);
      } else if (key == "jobs") {
        if (!value.is_number_integer() || value.get<long long>() < 1)
          throw std::invalid_argument("key 'jobs': a whole number of runs at once, at least 1");
        r.jobs = value.get<std::size_t>();
      }
    } catch (const std::invalid_argument& e) {
      throw ScenarioError(where + ": sweep: " + e.what());
    }
  }
  if (d.scenario.empty()) d.scenario = f.scenario;
}

}  // namespace

std::vector<std::string> expand_axis_values(const std::string& text) {
  const std::size_t dots = text.find("..");
  if (dots == std::string::npos) {
    std::vector<std::string> values = split(text, ',');
    for (const auto& v : values)
      if (v.empty()) throw std::invalid_argument("an empty value in '" + text + "'");
    if (values.empty()) throw std::invalid_argument("no value");
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

ordered_json definition_json(const SweepDefinition& d) {
  ordered_json axes = ordered_json::array();
  for (const auto& a : d.axes) axes.push_back({{"name", a.name}, {"values", a.values}});
  return {{"schema", "fleetsim.sweep_definition"},
          {"schema_version", 1},
          {"scenario", d.scenario},
          {"axes", axes},
          {"seeds", d.seeds},
          {"run_args", d.run_args},
          {"metrics", d.metrics}};
}

SweepDefinition definition_of(const ordered_json& j) {
  SweepDefinition d;
  d.scenario = j.at("scenario").get<std::string>();
  for (const auto& a : j.at("axes")) d.axes.push_back({a.at("name"), a.at("values").get<std::vector<std::string>>()});
  d.seeds = j.at("seeds").get<std::vector<std::string>>();
  d.run_args = j.at("run_args").get<std::vector<std::string>>();
  d.metrics = j.value("metrics", std::vector<std::string>{});
  return d;
}

SweepRequest parse_sweep_command(const std::vector<std::string>& args) {
  SweepRequest r;
  SweepDefinition& d = r.definition;
  r.jobs = static_cast<std::size_t>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  std::string file;
  std::vector<std::string> rest;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      r.help = true;
      return r;
    }
    const bool takes_value = a == "-p" || a == "--param" || a == "--seeds" || a == "-j" || a == "--out" ||
                             a == "--shard" || a == "--set" || a == "--allow-path" || a == "--cfg" ||
                             a == "--metric" || a == "--expect";
    if (takes_value) {
      if (i + 1 >= args.size() || args[i + 1].rfind("--", 0) == 0) throw std::invalid_argument(a + " needs a value");
      rest.push_back(a);
      rest.push_back(args[++i]);
    } else if (a == "--no-progress" || (a.rfind("-j", 0) == 0 && a.size() > 2)) {
      rest.push_back(a);
    } else if (!a.empty() && a[0] == '-') {
      throw std::invalid_argument("unknown option '" + a + "' of sweep");
    } else if (file.empty()) {
      file = a;
    } else {
      throw std::invalid_argument("more than one scenario given ('" + file + "' and '" + a + "')");
    }
  }
  if (file.empty()) throw std::invalid_argument("missing SCENARIO.lua (or a sweep file)");
  // The file first (a sweep file, or a scenario that may declare its own sweep), then the options on top.
  if (const auto f = read_sweep_file(file))
    apply_sweep_file(file, *f, r);
  else
    d.scenario = file;
  bool seeds_given = false;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    const std::string& a = rest[i];
    if (a == "-p" || a == "--param") {
      const std::string kv = rest[++i];
      const std::size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) throw std::invalid_argument("-p expects NAME=VALUES, got '" + kv + "'");
      add_axis(d, kv.substr(0, eq), kv.substr(eq + 1));
    } else if (a == "--seeds") {
      if (seeds_given) throw std::invalid_argument("--seeds is given twice");
      seeds_given = true;
      d.seeds = seeds_of(rest[++i]);
    } else if (a == "-j" || a.rfind("-j", 0) == 0) {  // -j 4 or -j4
      const std::string v = a == "-j" ? rest[++i] : a.substr(2);
      if (v.empty() || v.size() > 6 || v.find_first_not_of("0123456789") != std::string::npos || std::stoul(v) < 1)
        throw std::invalid_argument("-j needs a number of runs at once, got '" + v + "'");
      r.jobs = std::stoul(v);
    } else if (a == "--out") {
      r.out_dir = rest[++i];
    } else if (a == "--shard") {
      const std::string v = rest[++i];
      const auto parts = split(v, '/');
      if (parts.size() != 2 || parts[0].empty() || parts[1].empty() || parts[0].size() > 9 || parts[1].size() > 9 ||
          parts[0].find_first_not_of("0123456789") != std::string::npos ||
          parts[1].find_first_not_of("0123456789") != std::string::npos || std::stoul(parts[1]) < 1 ||
          std::stoul(parts[0]) >= std::stoul(parts[1]))
        throw std::invalid_argument("--shard expects I/N with 0 <= I < N, got '" + v + "'");
      r.shard = std::make_pair(std::stoul(parts[0]), std::stoul(parts[1]));
    } else if (a == "--set" || a == "--allow-path" || a == "--cfg" || a == "--expect") {
      const std::string v = rest[++i];
      d.run_args.push_back(a);
      d.run_args.push_back(v);
      if (a == "--set") r.overrides.push_back(v);
      if (a == "--allow-path") r.allowed_paths.push_back(v);
      if (a == "--expect") r.expectations.emplace_back(v, "--expect");
    } else if (a == "--metric") {
      d.metrics.push_back(rest[++i]);
    } else if (a == "--no-progress") {
      r.no_progress = true;
    }
  }
  if (d.scenario.empty()) throw std::invalid_argument("missing SCENARIO.lua");
  if (d.seeds.empty()) d.seeds = {"1"};
  if (d.point_count() > 1000000) throw std::invalid_argument("the grid has more than 1,000,000 points");
  return r;
}

}  // namespace fleetsim::sim
