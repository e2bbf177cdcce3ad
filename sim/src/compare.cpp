// fleetsim compare: two runs or two sweeps, metric by metric, against tolerances (docs/SWEEPS.md).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
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
#include "sweep.hpp"

namespace fleetsim::sim {

namespace fs = std::filesystem;
using ordered_json = nlohmann::ordered_json;
using across_runs::format_number;
using across_runs::read_text;
using across_runs::write_atomically;

namespace {

constexpr int kPass = 0, kFail = 1, kUsage = 2;

constexpr const char* kCompareUsage = R"(usage: fleetsim compare BASELINE CURRENT [--tolerance PCT]... [--out DIR]

Compares two runs (report.json, or the --out directory holding it) or two sweeps (sweep.json, or its directory),
metric by metric, and fails where the current one is worse than the baseline by more than the tolerance: longer
times and durations, more failed nodes, fewer succeeded. For sweeps, each point's median across seeds is compared,
point with point of the same parameters.

options:
  --tolerance 5%          the worsening allowed for every metric (default 5%)
  --tolerance METRIC=10%  for one metric (upgrade.time_to_100), or for every metric ending so (*.time_to_100)
  --out DIR               also write DIR/junit.xml: one test case per metric compared

exit codes: 0 no metric worse than its tolerance, 1 one is (or a metric of the baseline is missing now),
            2 bad usage or an unreadable file
docs: docs/SWEEPS.md
)";

struct Compared {
  std::string metric;
  std::optional<double> baseline, current;
  double tolerance = 0;  // a fraction
  bool regression = false;
  std::string verdict;
};

// The metrics of a report.json or of a sweep.json (each point's median, named "point(k=v,...) metric").
std::map<std::string, double> comparable_metrics(const std::string& given, std::string& kind) {
  fs::path path(given);
  std::error_code ec;
  if (fs::is_directory(path, ec)) path = fs::exists(path / "sweep.json") ? path / "sweep.json" : path / "report.json";
  if (!fs::is_regular_file(path, ec)) throw std::invalid_argument(given + ": no report.json or sweep.json there");
  ordered_json j;
  try {
    j = ordered_json::parse(read_text(path));
  } catch (const std::exception& e) {
    throw std::invalid_argument(path.string() + ": not JSON (" + e.what() + ")");
  }
  const std::string schema = j.value("schema", "");
  if (schema == "fleetsim.report") {
    kind = "report";
    return report_metrics(j);
  }
  if (schema != "fleetsim.sweep") throw std::invalid_argument(path.string() + ": neither a fleetsim report nor a sweep");
  kind = "sweep";
  std::map<std::string, double> m;
  for (const auto& point : j.at("points")) {
    std::string key = "point(";
    bool first = true;
    for (const auto& [name, value] : point.at("parameters").items()) {
      key += (first ? "" : ",") + name + "=" + value.get<std::string>();
      first = false;
    }
    key += ") ";
    for (const auto& [metric, stats] : point.at("metrics").items())
      if (stats.contains("p50")) m[key + metric] = stats.at("p50").get<double>();
  }
  return m;
}

bool higher_is_worse(const std::string& metric) {
  const std::string suffix = ".succeeded";
  return !(metric.size() >= suffix.size() && metric.compare(metric.size() - suffix.size(), suffix.size(), suffix) == 0);
}

std::string render_metric(const std::string& metric, const std::optional<double>& v) {
  if (!v) return "-";
  const bool time = metric.find(".time_to_") != std::string::npos || metric.find(".duration") != std::string::npos;
  if (time) return models::format_duration(*v);
  return format_number(*v);
}

double parse_percent(const std::string& text) {
  std::string t = text;
  if (!t.empty() && t.front() == '+') t.erase(0, 1);
  if (t.empty() || t.back() != '%') throw std::invalid_argument("a tolerance is a percentage such as 5%, got '" + text + "'");
  t.pop_back();
  char* end = nullptr;
  const double x = std::strtod(t.c_str(), &end);
  if (t.empty() || end != t.c_str() + t.size() || !(x >= 0) || !std::isfinite(x))
    throw std::invalid_argument("a tolerance is a percentage of at least 0 such as 5%, got '" + text + "'");
  return x / 100.0;
}

}  // namespace

int compare_main(const std::vector<std::string>& args) {
  std::vector<std::string> inputs;
  double tolerance = 0.05;
  std::vector<std::pair<std::string, double>> per_metric;
  std::string out_dir;
  try {
    for (std::size_t i = 1; i < args.size(); ++i) {
      const std::string& a = args[i];
      if (a == "--tolerance") {
        if (i + 1 >= args.size()) throw std::invalid_argument("--tolerance needs a value");
        const std::string v = args[++i];
        const std::size_t eq = v.find('=');
        if (eq == std::string::npos)
          tolerance = parse_percent(v);
        else
          per_metric.emplace_back(v.substr(0, eq), parse_percent(v.substr(eq + 1)));
      } else if (a == "--out") {
        if (i + 1 >= args.size()) throw std::invalid_argument("--out needs a value");
        out_dir = args[++i];
      } else if (a == "-h" || a == "--help") {
        std::cout << kCompareUsage;
        return kPass;
      } else if (!a.empty() && a[0] == '-') {
        throw std::invalid_argument("unknown option '" + a + "' of compare");
      } else {
        inputs.push_back(a);
      }
    }
    if (inputs.size() != 2) throw std::invalid_argument("compare takes BASELINE and CURRENT");
  } catch (const std::invalid_argument& e) {
    std::cerr << "fleetsim: " << e.what() << "\n\n" << kCompareUsage;
    return kUsage;
  }
  std::map<std::string, double> base, cur;
  try {
    std::string base_kind, cur_kind;
    base = comparable_metrics(inputs[0], base_kind);
    cur = comparable_metrics(inputs[1], cur_kind);
    if (base_kind != cur_kind)
      throw std::invalid_argument("cannot compare a " + base_kind + " with a " + cur_kind);
  } catch (const std::invalid_argument& e) {
    std::cerr << "fleetsim: compare: " << e.what() << "\n";
    return kUsage;
  }
  auto tolerance_of = [&](const std::string& metric) {
    double t = tolerance;
    for (const auto& [pattern, value] : per_metric) {
      const bool suffix = pattern.rfind("*", 0) == 0;
      const std::string tail = suffix ? pattern.substr(1) : pattern;
      const std::string name = metric.substr(metric.rfind(' ') == std::string::npos ? 0 : metric.rfind(' ') + 1);
      if ((suffix && name.size() >= tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0) ||
          (!suffix && name == pattern))
        t = value;
    }
    return t;
  };
  std::set<std::string> names;
  for (const auto& [k, v] : base) names.insert(k);
  for (const auto& [k, v] : cur) names.insert(k);
  std::vector<Compared> rows;
  std::size_t regressions = 0;
  for (const auto& name : names) {
    Compared c;
    c.metric = name;
    if (base.count(name)) c.baseline = base.at(name);
    if (cur.count(name)) c.current = cur.at(name);
    c.tolerance = tolerance_of(name);
    if (c.baseline && !c.current) {
      c.regression = true;
      c.verdict = "MISSING NOW";
    } else if (!c.baseline) {
      c.verdict = "new";
    } else {
      const double b = *c.baseline, v = *c.current;
      const double worse = higher_is_worse(name) ? v - b : b - v;
      const double allowed = std::fabs(b) * c.tolerance;
      c.regression = worse > allowed + 1e-9 * std::max(1.0, std::fabs(b));
      c.verdict = c.regression ? "REGRESSION" : (worse < -allowed ? "better" : "ok");
    }
    regressions += c.regression ? 1 : 0;
    rows.push_back(c);
  }
  auto change = [](const Compared& c) -> std::string {
    if (!c.baseline || !c.current) return "-";
    if (*c.baseline == 0) return *c.current == 0 ? "0%" : "new nonzero";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%+.1f%%", 100.0 * (*c.current - *c.baseline) / std::fabs(*c.baseline));
    return buf;
  };
  std::size_t width = 6;
  for (const auto& c : rows) width = std::max(width, c.metric.size());
  std::printf("compare %s -> %s (tolerance %s)\n", inputs[0].c_str(), inputs[1].c_str(),
              (format_number(tolerance * 100) + "%").c_str());
  std::printf("  %-*s  %12s  %12s  %12s  %s\n", static_cast<int>(width), "metric", "baseline", "current", "change",
              "verdict");
  for (const auto& c : rows) {
    std::string verdict = c.verdict;
    if (c.regression && c.baseline && c.current) verdict += " (worse by more than " + format_number(c.tolerance * 100) + "%)";
    std::printf("  %-*s  %12s  %12s  %12s  %s\n", static_cast<int>(width), c.metric.c_str(),
                render_metric(c.metric, c.baseline).c_str(), render_metric(c.metric, c.current).c_str(),
                change(c).c_str(), verdict.c_str());
  }
  std::printf("  result: %s (%zu of %zu metrics worse than their tolerance)\n", regressions ? "FAIL" : "PASS",
              regressions, rows.size());
  if (!out_dir.empty()) {
    std::error_code ec;
    fs::create_directories(out_dir, ec);
    std::ostringstream x;
    x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"fleetsim compare\" tests=\"" << rows.size()
      << "\" failures=\"" << regressions << "\" errors=\"0\" time=\"0\">\n<testsuite name=\"compare\" tests=\""
      << rows.size() << "\" failures=\"" << regressions << "\" errors=\"0\" skipped=\"0\" time=\"0\">\n";
    x << "  <properties><property name=\"baseline\" value=\"" << reports::xml_escape(inputs[0])
      << "\"/><property name=\"current\" value=\"" << reports::xml_escape(inputs[1]) << "\"/></properties>\n";
    for (const auto& c : rows) {
      x << "  <testcase classname=\"compare\" name=\"" << reports::xml_escape(c.metric) << "\" time=\"0\">";
      if (c.regression)
        x << "<failure message=\"" << reports::xml_escape(c.verdict + ": baseline " + render_metric(c.metric, c.baseline) +
                                                       ", current " + render_metric(c.metric, c.current) + ", change " +
                                                       change(c) + ", tolerance " + format_number(c.tolerance * 100) + "%")
          << "\" type=\"regression\"/>";
      x << "</testcase>\n";
    }
    x << "</testsuite>\n</testsuites>\n";
    write_atomically(fs::path(out_dir) / "junit.xml", x.str());
  }
  return regressions ? kFail : kPass;
}

}  // namespace fleetsim::sim
