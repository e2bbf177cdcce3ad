// A sweep's results from its runs' reports: sweep.json, sweep.csv, junit.xml, the expectations across seeds, and the
// table printed at the end (docs/SWEEPS.md, docs/REPORTS.md).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "across_seeds.hpp"
#include "fleetsim/checks/expectations.hpp"
#include "fleetsim/models/units.hpp"
#include "fleetsim/reports/html.hpp"
#include "fleetsim/reports/run_result.hpp"
#include "sweep.hpp"

namespace fleetsim::sim {

namespace fs = std::filesystem;
using ordered_json = nlohmann::ordered_json;
using across_runs::format_number;
using across_runs::read_text;
using across_runs::write_atomically;
using reports::csv_field;
using reports::xml_escape;
using namespace sweep_detail;

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

bool metric_matches(const std::string& pattern, const std::string& metric) {
  // Glob with * only: match the pieces between stars in order, the first at the start and the last at the end.
  std::size_t at = 0, from = 0;
  bool first = true;
  while (true) {
    const std::size_t star = pattern.find('*', from);
    const std::string piece = pattern.substr(from, star == std::string::npos ? std::string::npos : star - from);
    if (star == std::string::npos) {
      if (first) return metric == piece;
      return metric.size() >= at + piece.size() && metric.compare(metric.size() - piece.size(), piece.size(), piece) == 0;
    }
    if (first) {
      if (metric.compare(0, piece.size(), piece) != 0) return false;
      at = piece.size();
    } else {
      const std::size_t found = metric.find(piece, at);
      if (found == std::string::npos) return false;
      at = found + piece.size();
    }
    first = false;
    from = star + 1;
  }
}

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::string render(double v, const std::string& unit) {
  if (std::isinf(v)) return "never";
  if (unit == "seconds") return models::format_duration(v);
  if (unit == "bytes") return models::format_bytes(v);
  if (std::floor(v) == v && std::fabs(v) < 1e15) {  // a count: every digit
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  return format_number(v);
}

// For the table: the unit a metric's name says it has.
std::string unit_of(const std::string& metric) {
  const std::string field = metric.substr(metric.rfind('.') + 1);
  for (const char* t : {"time_to_", "duration", "drain_", "delay_", "max_backlog_age", "node_time", "end_time"})
    if (field.rfind(t, 0) == 0) return "seconds";
  if (field.size() > 6 && field.compare(field.size() - 6, 6, "_bytes") == 0) return "bytes";
  return "count";
}

ordered_json statistics(const std::vector<double>& values) {
  ordered_json s{{"n", values.size()}};
  if (values.empty()) return s;
  s["mean"] = *across_seeds::statistic("mean", values);
  s["p50"] = *across_seeds::nearest_rank(values, 50);
  s["p95"] = *across_seeds::nearest_rank(values, 95);
  s["min"] = *across_seeds::statistic("min", values);
  s["max"] = *across_seeds::statistic("max", values);
  return s;
}

std::string csv_number(const ordered_json& j, const char* key) {
  if (!j.contains(key)) return "";
  return format_number(j.at(key).get<double>());
}

// An expectation across seeds as the runs' reports state it, and how it went at one point.
struct AcrossExpectation {
  ordered_json spec;  // the report's expectations[] entry: expect, where, metric, across_seeds, op, unit, expected
  std::size_t n = 0, unreached = 0, missing = 0;
  std::optional<double> measured;  // +inf when unreached seeds decide it
  std::optional<bool> passed;      // nullopt: runs without a report, so not judged
};

struct PointResult {
  std::array<std::size_t, 5> counts{};  // passed, failed, errors, missing, scenario errors (within errors)
  ordered_json runs = ordered_json::array();
  std::map<std::string, std::vector<std::optional<double>>> values;  // per metric, per seed
  std::vector<AcrossExpectation> expectations;
  std::vector<std::string> run_failures;  // junit messages, per seed ("" when it passed)
};

void judge(AcrossExpectation& x, const std::vector<std::optional<double>>& per_seed, std::size_t without_report) {
  const std::string metric = x.spec.at("metric").get<std::string>();
  std::vector<double> values;
  for (const auto& v : per_seed) {
    if (v) {
      values.push_back(*v);
    } else if (across_seeds::unreached_is_infinite(metric)) {
      values.push_back(kInf);
      ++x.unreached;
    }
  }
  x.missing = without_report;
  x.n = values.size() - x.unreached;
  x.measured = across_seeds::statistic(x.spec.at("across_seeds").get<std::string>(), values);
  if (x.missing > 0) return;
  x.passed = x.measured && checks::holds(*x.measured, x.spec.at("op").get<std::string>(),
                                         x.spec.at("expected").get<double>());
}

std::string expectation_message(const AcrossExpectation& x) {
  const std::string unit = x.spec.at("unit").get<std::string>();
  std::string text = "measured " + (x.measured ? render(*x.measured, unit) : std::string("nothing")) + " (" +
                     x.spec.at("across_seeds").get<std::string>() + " of " + std::to_string(x.n + x.unreached) +
                     " seeds";
  if (x.unreached) text += ", " + std::to_string(x.unreached) + " never reached it";
  text += "), threshold " + x.spec.at("op").get<std::string>() + " " + render(x.spec.at("expected").get<double>(), unit);
  if (x.measured && std::isfinite(*x.measured))
    text += ", off by " + render(std::fabs(*x.measured - x.spec.at("expected").get<double>()), unit);
  if (x.missing) text += "; " + std::to_string(x.missing) + " run(s) without a report: not judged";
  return text + ", at " + x.spec.at("where").get<std::string>();
}

void print_table(const SweepDefinition& d, const std::vector<PointResult>& points,
                 const std::vector<std::string>& shown) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header{"point"};
  for (const auto& a : d.axes) header.push_back(a.name);
  header.push_back("passed");
  for (const auto& m : shown) header.push_back(d.seeds.size() > 1 ? m + " p50 / p95" : m);
  rows.push_back(header);
  for (std::size_t p = 0; p < points.size(); ++p) {
    std::vector<std::string> row{point_id(p)};
    for (const auto& [name, value] : d.point(p)) row.push_back(value);
    row.push_back(std::to_string(points[p].counts[0]) + "/" + std::to_string(d.seeds.size()));
    for (const auto& m : shown) {
      std::vector<double> values;
      if (auto it = points[p].values.find(m); it != points[p].values.end())
        for (const auto& v : it->second)
          if (v) values.push_back(*v);
      const auto p50 = across_seeds::nearest_rank(values, 50), p95 = across_seeds::nearest_rank(values, 95);
      const std::string unit = unit_of(m);
      std::string cell = p50 ? render(*p50, unit) : "-";
      if (d.seeds.size() > 1) cell += " / " + (p95 ? render(*p95, unit) : std::string("-"));
      row.push_back(cell);
    }
    rows.push_back(row);
  }
  std::vector<std::size_t> width(header.size(), 0);
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  for (const auto& row : rows) {
    std::string line = " ";
    for (std::size_t c = 0; c < row.size(); ++c)
      line += " " + row[c] + std::string(width[c] - row[c].size() + (c + 1 < row.size() ? 1 : 0), ' ');
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << "\n";
  }
  for (std::size_t p = 0; p < points.size(); ++p)
    for (const auto& x : points[p].expectations)
      if (x.passed && !*x.passed)
        std::cout << "  " << point_id(p) << ": expect " << x.spec.at("expect").get<std::string>()
                  << ": FAILED: " << expectation_message(x) << "\n";
}

// sweep.html, and per point points/<id>/report.html: the page of its median run (by the first metric shown; the
// first run with a report without one), for the first kMaxPointPages points (a page is about 250 KB, most of it
// Chart.js; `fleetsim report` makes any other). A page that cannot be made is a warning: the results stand.
constexpr std::size_t kMaxPointPages = 500;
void write_pages(const fs::path& root, const SweepDefinition& d, const std::vector<PointResult>& points,
                 const std::vector<std::string>& shown, const ordered_json& sweep) {
  std::map<std::string, std::string> links;
  for (std::size_t p = 0; p < points.size() && p < kMaxPointPages; ++p) {
    std::vector<std::pair<double, std::size_t>> by_value;  // (value, seed)
    std::optional<std::size_t> any;
    for (std::size_t s = 0; s < d.seeds.size() && s < points[p].runs.size(); ++s) {
      const std::string result = points[p].runs[s].at("result").get<std::string>();
      if (result != "pass" && result != "fail") continue;
      if (!any) any = s;
      if (shown.empty()) continue;
      const auto it = points[p].values.find(shown.front());
      if (it != points[p].values.end() && s < it->second.size() && it->second[s]) by_value.emplace_back(*it->second[s], s);
    }
    std::optional<std::size_t> seed = any;
    if (!by_value.empty()) {
      std::stable_sort(by_value.begin(), by_value.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      seed = by_value[(by_value.size() + 1) / 2 - 1].second;  // nearest rank 50
    }
    if (!seed) continue;
    const std::string link = "points/" + point_id(p) + "/report.html";
    try {
      write_atomically(root / link, reports::report_html_of((root / points[p].runs[*seed].at("dir").get<std::string>()).string()));
      links[point_id(p)] = link;
    } catch (const std::exception& e) {
      std::cerr << "fleetsim: warning: no report.html for " << point_id(p) << ": " << e.what() << "\n";
    }
  }
  try {
    reports::write_sweep_html(sweep, shown, links, (root / "sweep.html").string());
  } catch (const std::exception& e) {
    std::cerr << "fleetsim: warning: no sweep.html: " << e.what() << "\n";
  }
}

}  // namespace

namespace sweep_detail {

int aggregate(const fs::path& root, const SweepDefinition& d, std::size_t* missing_out, bool table) {
  const std::vector<Run> runs = runs_of(d);
  const std::size_t seeds = d.seeds.size();
  std::vector<PointResult> points(d.point_count());
  std::set<std::string> metric_names;
  std::size_t failed = 0, crashed = 0, scenario_errors = 0, missing = 0;
  ordered_json regression;  // the scenario's regression { } as the first report states it
  for (const Run& run : runs) {
    PointResult& point = points[run.point];
    const auto code = finished(root, run);
    ordered_json entry{{"seed", d.seeds[run.seed]}, {"dir", run.dir}};
    std::string failure;
    if (!code) {
      entry["exit_code"] = nullptr;
      entry["result"] = "missing";
      ++point.counts[3];
      ++missing;
    } else if (*code == kPass || *code == kFail) {
      entry["exit_code"] = *code;
      const ordered_json report = ordered_json::parse(read_text(root / run.dir / "report.json"));
      entry["result"] = report.value("result", "");
      // The default metrics, then those of interest: the sweep's patterns, the scenario's regression tolerances
      // and the metrics its expectations across seeds name.
      for (const auto& [name, value] : report_metrics(report)) {
        auto& v = point.values[name];
        v.resize(seeds);
        v[run.seed] = value;
        metric_names.insert(name);
      }
      std::vector<std::string> wanted = d.metrics;
      const ordered_json& scenario = report.at("scenario");
      if (scenario.contains("regression")) {
        for (const auto& [metric, tolerance] : scenario.at("regression").items()) wanted.push_back(metric);
        if (regression.is_null()) regression = scenario.at("regression");
      }
      for (const auto& e : report.at("expectations")) {
        if (e.at("across_seeds").is_null()) continue;
        wanted.push_back(e.at("metric").get<std::string>());
        bool known = false;  // every run of the point states the same ones: keep the first run's
        for (const auto& x : point.expectations) known = known || x.spec.at("expect") == e.at("expect");
        if (known) continue;
        AcrossExpectation x;
        x.spec = e;
        x.spec.erase("measured");
        x.spec.erase("passed");
        point.expectations.push_back(std::move(x));
      }
      static const ordered_json kNoMetrics = ordered_json::object();
      const ordered_json& run_metrics = report.contains("metrics") ? report.at("metrics") : kNoMetrics;
      for (const auto& item : run_metrics.items()) {
        const std::string& name = item.key();
        const ordered_json& value = item.value();
        const bool interesting =
            std::any_of(wanted.begin(), wanted.end(), [&](const std::string& w) { return metric_matches(w, name); });
        if (!interesting) continue;
        auto& v = point.values[name];
        v.resize(seeds);
        if (value.is_number()) v[run.seed] = value.get<double>();
        metric_names.insert(name);
      }
      ++point.counts[*code == kPass ? 0 : 1];
      if (*code == kFail) {
        ++failed;
        failure = "failed an expectation or invariant (" + run.dir + "/junit.xml)";
      }
    } else {
      entry["exit_code"] = *code;
      entry["result"] = "error";
      ++point.counts[2];
      if (*code == kUsage) {
        ++scenario_errors;
        failure = "a scenario error found while running (" + run.dir + "/report.json)";
      } else {
        ++crashed;
        failure = "exit code " + std::to_string(*code) + " (" + run.dir + ".log)";
      }
    }
    point.runs.push_back(entry);
    point.run_failures.resize(seeds);
    point.run_failures[run.seed] = failure;
  }
  std::size_t expectations_failed = 0;
  bool any_expectation = false;
  for (auto& point : points) {
    const std::size_t without_report = point.counts[2] + point.counts[3];
    for (auto& x : point.expectations) {
      auto values = point.values[x.spec.at("metric").get<std::string>()];
      values.resize(seeds);
      std::vector<std::optional<double>> reported;
      for (std::size_t s = 0; s < seeds; ++s)
        if (point.runs[s].at("result") == "pass" || point.runs[s].at("result") == "fail") reported.push_back(values[s]);
      judge(x, reported, without_report);
      expectations_failed += x.passed && !*x.passed ? 1 : 0;
      any_expectation = true;
    }
  }

  // sweep.json, sweep.csv, junit.xml
  std::string csv = "point";
  for (const auto& a : d.axes) csv += "," + csv_field(a.name);
  csv += ",runs,passed,failed,errors,missing";
  if (any_expectation) csv += ",expectations_failed";
  for (const auto& m : metric_names)
    for (const char* stat : {"mean", "p50", "p95", "min", "max"}) csv += "," + csv_field(m + "." + stat);
  csv += "\n";
  ordered_json json_points = ordered_json::array();
  std::ostringstream junit_suites;
  std::size_t junit_tests = 0, junit_failures = 0, junit_errors = 0;
  for (std::size_t p = 0; p < points.size(); ++p) {
    PointResult& point = points[p];
    ordered_json params = ordered_json::object();
    std::string label = point_id(p);
    for (const auto& [name, value] : d.point(p)) {
      params[name] = value;
      label += " " + name + "=" + value;
    }
    ordered_json metrics = ordered_json::object();
    for (const auto& m : metric_names) {
      auto v = point.values[m];
      v.resize(seeds);
      std::vector<double> reached;
      ordered_json per_seed = ordered_json::array();
      for (const auto& x : v) {
        if (x) reached.push_back(*x);
        per_seed.push_back(x ? ordered_json(*x) : ordered_json(nullptr));
      }
      metrics[m] = statistics(reached);
      metrics[m]["values"] = per_seed;
    }
    ordered_json expectations = ordered_json::array();
    std::size_t point_expectations_failed = 0;
    for (const auto& x : point.expectations) {
      ordered_json e = x.spec;
      e["measured"] = x.measured && std::isfinite(*x.measured) ? ordered_json(*x.measured) : ordered_json(nullptr);
      e["n"] = x.n;
      e["unreached"] = x.unreached;
      e["missing"] = x.missing;
      e["passed"] = x.passed ? ordered_json(*x.passed) : ordered_json(nullptr);
      point_expectations_failed += x.passed && !*x.passed ? 1 : 0;
      expectations.push_back(e);
    }
    const auto& c = point.counts;
    json_points.push_back({{"id", point_id(p)},
                           {"parameters", params},
                           {"passed", c[0]},
                           {"failed", c[1]},
                           {"errors", c[2]},
                           {"missing", c[3]},
                           {"runs", point.runs},
                           {"expectations", expectations},
                           {"metrics", metrics}});
    csv += point_id(p);
    for (const auto& [name, value] : d.point(p)) csv += "," + csv_field(value);
    csv += "," + std::to_string(seeds) + "," + std::to_string(c[0]) + "," + std::to_string(c[1]) + "," +
           std::to_string(c[2]) + "," + std::to_string(c[3]);
    if (any_expectation) csv += "," + std::to_string(point_expectations_failed);
    for (const auto& m : metric_names)
      for (const char* stat : {"mean", "p50", "p95", "min", "max"}) csv += "," + csv_number(metrics[m], stat);
    csv += "\n";

    // junit: a suite per point, a test case per run and per expectation across its seeds.
    std::ostringstream cases;
    std::size_t tests = 0, failures = 0, errors = 0, skipped = 0;
    for (std::size_t s = 0; s < seeds; ++s) {
      const Run run{p, s, "points/" + point_id(p) + "/seed-" + d.seeds[s]};
      const std::string result = point.runs[s].at("result").get<std::string>();
      cases << "    <testcase classname=\"" << xml_escape(label) << "\" name=\"seed " << xml_escape(d.seeds[s])
            << "\" time=\"0\">";
      const std::string replay = "replay: " + replay_command(d, run);
      if (result == "missing") {
        cases << "<skipped message=\"not run here (another shard, or interrupted)\"/>";
        ++skipped;
      } else if (result == "error") {
        cases << "<error message=\"" << xml_escape(point.run_failures[s]) << "\" type=\"run\">" << xml_escape(replay)
              << "</error>";
        ++errors;
      } else if (!point.run_failures[s].empty()) {
        cases << "<failure message=\"" << xml_escape(point.run_failures[s]) << "\" type=\"run\">"
              << xml_escape(replay) << "</failure>";
        ++failures;
      }
      cases << "</testcase>\n";
      ++tests;
    }
    for (const auto& x : point.expectations) {
      cases << "    <testcase classname=\"" << xml_escape(label) << "\" name=\""
            << xml_escape("expect " + x.spec.at("expect").get<std::string>()) << "\" time=\"0\">";
      if (!x.passed) {
        cases << "<skipped message=\"" << xml_escape(expectation_message(x)) << "\"/>";
        ++skipped;
      } else if (!*x.passed) {
        cases << "<failure message=\"" << xml_escape(expectation_message(x)) << "\" type=\"expectation\"/>";
        ++failures;
      }
      cases << "</testcase>\n";
      ++tests;
    }
    junit_suites << "  <testsuite name=\"" << xml_escape(label) << "\" tests=\"" << tests << "\" failures=\""
                 << failures << "\" errors=\"" << errors << "\" skipped=\"" << skipped << "\" time=\"0\">\n"
                 << cases.str() << "  </testsuite>\n";
    junit_tests += tests;
    junit_failures += failures;
    junit_errors += errors;
  }
  ordered_json out = definition_json(d);
  out["schema"] = "fleetsim.sweep";
  out["runs"] = runs.size();
  out["failed"] = failed;
  out["errors"] = crashed + scenario_errors;
  out["missing"] = missing;
  out["expectations_failed"] = expectations_failed;
  out["regression"] = regression.is_null() ? ordered_json::object() : regression;
  out["points"] = json_points;
  write_atomically(root / "sweep.json", out.dump(2) + "\n");
  write_atomically(root / "sweep.csv", csv);
  std::ostringstream junit;
  junit << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"fleetsim sweep\" tests=\"" << junit_tests
        << "\" failures=\"" << junit_failures << "\" errors=\"" << junit_errors << "\" time=\"0\">\n"
        << junit_suites.str() << "</testsuites>\n";
  write_atomically(root / "junit.xml", junit.str());

  // The metrics of interest if the sweep names some, else each operation's time to 100 % and failed nodes.
  std::vector<std::string> shown;
  for (const auto& m : metric_names) {
    bool wanted = false;
    for (const auto& w : d.metrics) wanted = wanted || metric_matches(w, m);
    if (d.metrics.empty()) wanted = metric_matches("*.time_to_100", m) || m == "fleet.nodes_failed";
    if (wanted && shown.size() < 6) shown.push_back(m);
  }
  write_pages(root, d, points, shown, out);
  if (table) print_table(d, points, shown);
  if (missing_out != nullptr) *missing_out = missing;
  if (crashed > 0) return kInternal;
  if (scenario_errors > 0) return kUsage;
  if (failed > 0 || expectations_failed > 0) return kFail;
  return kPass;
}

}  // namespace sweep_detail
}  // namespace fleetsim::sim
