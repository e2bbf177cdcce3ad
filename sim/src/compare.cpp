// fleetsim compare: two runs or two sweeps, metric by metric, against tolerances (docs/SWEEPS.md).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "across_seeds.hpp"
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

namespace {

constexpr int kPass = 0, kFail = 1, kUsage = 2;

constexpr const char* kCompareUsage = R"(usage: fleetsim compare BASELINE CURRENT [--tolerance PCT]... [--out DIR]

Compares two runs (report.json, or the --out directory holding it) or two sweeps (sweep.json, or its directory),
metric by metric, and fails where the current one is worse than the baseline by more than the tolerance: longer
times and durations, more failed nodes, fewer succeeded. For sweeps, each point's median across seeds is compared,
point with point of the same parameters.

Across seeds (sweeps of at least 3 seeds on both sides), a worse median is a regression only if a one-sided
rank-sum (Mann-Whitney) test of the seeds' values finds the current ones larger (or smaller, for a metric where
less is worse) at --alpha. A scenario's regression { ["metric"] = "+5%" } (the current run's) sets the tolerance of
a metric, or of every metric ending so (*.time_to_100), and adds it to the metrics compared.

options:
  --tolerance 5%          the worsening allowed for every metric (default 5%)
  --tolerance METRIC=10%  for one metric (upgrade.time_to_100), or for every metric matching (*.time_to_100), over
                          the scenario's regression { }
  --alpha 0.05            the significance level of the test across seeds (default 0.05)
  --out DIR               also write DIR/junit.xml (one test case per metric compared) and DIR/compare.html (the
                          metrics and, for two runs, their completion curves overlaid)

exit codes: 0 no metric worse than its tolerance, 1 one is (or a metric of the baseline is missing now),
            2 bad usage or an unreadable file
docs: docs/SWEEPS.md
)";

struct Compared {
  std::string metric;
  std::optional<double> baseline, current;
  double tolerance = 0;  // a fraction
  int direction = 1;     // +1: a rise is worse, -1: a fall is
  std::optional<double> p_value;  // sweeps with enough seeds on both sides: the rank test's
  bool regression = false;
  std::string verdict;
};

// One side of a comparison: per metric (for a sweep, "point(k=v,...) metric") its value (a sweep point's median)
// and, for a sweep, the seeds' values; and the tolerances the scenario declares (regression { ... }).
struct Side {
  std::string kind;  // report | sweep
  std::map<std::string, double> value;
  std::map<std::string, std::vector<double>> seeds;
  std::map<std::string, std::string> declared;  // metric or *.ending -> "+5%"
};

Side read_side(const std::string& given, const std::vector<std::string>& extra) {
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
  Side side;
  const std::string schema = j.value("schema", "");
  const ordered_json* regression = nullptr;
  if (schema == "fleetsim.report" && j.contains("scenario") && j.at("scenario").contains("regression"))
    regression = &j.at("scenario").at("regression");
  if (schema == "fleetsim.sweep" && j.contains("regression")) regression = &j.at("regression");
  if (regression != nullptr)
    for (const auto& [metric, text] : regression->items()) side.declared[metric] = text.get<std::string>();
  // Metrics compared beyond the default ones: those with a declared or a given tolerance.
  std::vector<std::string> wanted = extra;
  for (const auto& [metric, text] : side.declared) wanted.push_back(metric);
  auto is_wanted = [&](const std::string& name) {
    for (const auto& w : wanted)
      if (metric_matches(w, name)) return true;
    return false;
  };
  if (schema == "fleetsim.report") {
    side.kind = "report";
    side.value = report_metrics(j);
    if (j.contains("metrics"))
      for (const auto& [name, v] : j.at("metrics").items())
        if (v.is_number() && is_wanted(name)) side.value[name] = v.get<double>();
    return side;
  }
  if (schema != "fleetsim.sweep") throw std::invalid_argument(path.string() + ": neither a fleetsim report nor a sweep");
  side.kind = "sweep";
  for (const auto& point : j.at("points")) {
    std::string key = "point(";
    bool first = true;
    for (const auto& [name, value] : point.at("parameters").items()) {
      key += (first ? "" : ",") + name + "=" + value.get<std::string>();
      first = false;
    }
    key += ") ";
    for (const auto& [metric, stats] : point.at("metrics").items()) {
      if (stats.contains("p50")) side.value[key + metric] = stats.at("p50").get<double>();
      std::vector<double> values;
      for (const auto& v : stats.value("values", ordered_json::array())) {
        if (v.is_number())
          values.push_back(v.get<double>());
        else if (across_seeds::unreached_is_infinite(metric))
          values.push_back(std::numeric_limits<double>::infinity());  // never reached: later than any
      }
      side.seeds[key + metric] = values;
    }
  }
  return side;
}

// The usual direction of a metric: for most (times, failures, bytes, drops) a rise is worse.
bool higher_is_worse(const std::string& metric) {
  for (const char* better : {".succeeded", ".delivered", ".frames_processed"}) {
    const std::string suffix = better;
    if (metric.size() >= suffix.size() && metric.compare(metric.size() - suffix.size(), suffix.size(), suffix) == 0)
      return false;
  }
  return true;
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

// compare.html: the metrics with their verdicts and, for two runs, their completion curves overlaid. A page that
// cannot be made is a warning: the comparison stands.
template <typename Change>
void write_page(const std::vector<std::string>& inputs, const std::string& kind, const std::vector<Compared>& rows,
                std::size_t regressions, const Change& change, const fs::path& path) {
  ordered_json data{{"baseline", inputs[0]}, {"current", inputs[1]}, {"kind", kind},
                    {"result", regressions ? "fail" : "pass"}, {"regressions", regressions}};
  ordered_json list = ordered_json::array();
  auto number = [](const std::optional<double>& v) { return v ? ordered_json(*v) : ordered_json(nullptr); };
  for (const auto& c : rows)
    list.push_back({{"metric", c.metric}, {"baseline", number(c.baseline)}, {"current", number(c.current)},
                    {"change", change(c)}, {"tolerance_pct", c.tolerance * 100}, {"direction", c.direction},
                    {"p", number(c.p_value)}, {"regression", c.regression}, {"verdict", c.verdict}});
  data["rows"] = list;
  try {
    if (kind == "report") {
      auto dir = [](const std::string& given) {
        return fs::is_directory(given) ? given : fs::path(given).parent_path().string();
      };
      data["curves"] = {{"baseline", reports::completion_curves(dir(inputs[0]))},
                        {"current", reports::completion_curves(dir(inputs[1]))}};
    }
    reports::write_compare_html(data, path.string());
  } catch (const std::exception& e) {
    std::cerr << "fleetsim: warning: no compare.html: " << e.what() << "\n";
  }
}

}  // namespace

int compare_main(const std::vector<std::string>& args) {
  std::vector<std::string> inputs;
  double tolerance = 0.05, alpha = 0.05;
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
      } else if (a == "--alpha") {
        if (i + 1 >= args.size()) throw std::invalid_argument("--alpha needs a value");
        const std::string v = args[++i];
        char* end = nullptr;
        alpha = std::strtod(v.c_str(), &end);
        if (v.empty() || end != v.c_str() + v.size() || !(alpha > 0 && alpha < 1))
          throw std::invalid_argument("--alpha is a significance level between 0 and 1, such as 0.05, got '" + v + "'");
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
  Side base, cur;
  try {
    std::vector<std::string> given;
    for (const auto& [pattern, t] : per_metric) given.push_back(pattern);
    cur = read_side(inputs[1], given);
    for (const auto& [metric, text] : cur.declared) given.push_back(metric);  // the current scenario's say
    base = read_side(inputs[0], given);
    if (base.kind != cur.kind) throw std::invalid_argument("cannot compare a " + base.kind + " with a " + cur.kind);
  } catch (const std::invalid_argument& e) {
    std::cerr << "fleetsim: compare: " << e.what() << "\n";
    if (!out_dir.empty()) {  // the CI that asked for a junit.xml gets one saying why there is no comparison
      std::error_code ec;
      fs::create_directories(out_dir, ec);
      try {
        reports::write_junit_error((fs::path(out_dir) / "junit.xml").string(), "fleetsim compare", e.what());
      } catch (const std::exception& err) {
        std::cerr << "fleetsim: " << err.what() << "\n";
      }
    }
    return kUsage;
  }
  // A metric's tolerance: the command line's for it (the last that matches), else the current scenario's
  // regression { } (its own name before a *.ending), else --tolerance.
  auto tolerance_of = [&](const std::string& metric, int& direction) {
    const std::string name = metric.substr(metric.rfind(' ') == std::string::npos ? 0 : metric.rfind(' ') + 1);
    direction = higher_is_worse(name) ? 1 : -1;
    std::optional<double> t;
    for (const auto& [pattern, value] : per_metric)
      if (metric_matches(pattern, name)) t = value;
    if (t) return *t;
    const std::string* declared = nullptr;
    for (const auto& [pattern, text] : cur.declared)
      if (pattern == name || (declared == nullptr && metric_matches(pattern, name))) declared = &text;
    if (declared != nullptr) {
      if ((*declared)[0] == '+') direction = 1;
      if ((*declared)[0] == '-') direction = -1;
      return parse_percent((*declared)[0] == '-' ? declared->substr(1) : *declared);
    }
    return tolerance;
  };
  std::set<std::string> names;
  for (const auto& [k, v] : base.value) names.insert(k);
  for (const auto& [k, v] : cur.value) names.insert(k);
  std::vector<Compared> rows;
  std::size_t regressions = 0;
  for (const auto& name : names) {
    Compared c;
    c.metric = name;
    if (base.value.count(name)) c.baseline = base.value.at(name);
    if (cur.value.count(name)) c.current = cur.value.at(name);
    c.tolerance = tolerance_of(name, c.direction);
    if (c.baseline && !c.current) {
      c.regression = true;
      c.verdict = "MISSING NOW";
    } else if (!c.baseline) {
      c.verdict = "new";
    } else {
      const double b = *c.baseline, v = *c.current;
      const double worse = c.direction > 0 ? v - b : b - v;
      const double allowed = std::fabs(b) * c.tolerance;
      c.regression = worse > allowed + 1e-9 * std::max(1.0, std::fabs(b));
      c.verdict = c.regression ? "REGRESSION" : (worse < -allowed ? "better" : "ok");
      // Across seeds: a worse median is a regression only if the seeds say the current runs are worse, not just
      // spread (a one-sided rank-sum test at --alpha), when each side has at least 3 seeds.
      const auto bs = base.seeds.find(name), cs = cur.seeds.find(name);
      if (bs != base.seeds.end() && cs != cur.seeds.end() && bs->second.size() >= 3 && cs->second.size() >= 3) {
        c.p_value = c.direction > 0 ? across_seeds::rank_sum_p_greater(bs->second, cs->second)
                                    : across_seeds::rank_sum_p_greater(cs->second, bs->second);
        if (c.regression && *c.p_value > alpha) {
          c.regression = false;
          c.verdict = "worse, not significant";
        }
      }
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
    if (c.regression && c.baseline && c.current) verdict += " (worse by more than " + format_number(c.tolerance * 100) + "%";
    if (c.p_value) verdict += std::string(c.regression ? ", " : " (") + "p = " + format_number(*c.p_value);
    if ((c.regression && c.baseline && c.current) || c.p_value) verdict += ")";
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
                                                       change(c) + ", tolerance " + format_number(c.tolerance * 100) + "%" +
                                                       (c.p_value ? ", p = " + format_number(*c.p_value) : ""))
          << "\" type=\"regression\"/>";
      x << "</testcase>\n";
    }
    x << "</testsuite>\n</testsuites>\n";
    write_atomically(fs::path(out_dir) / "junit.xml", x.str());
    write_page(inputs, base.kind, rows, regressions, change, fs::path(out_dir) / "compare.html");
  }
  return regressions ? kFail : kPass;
}

}  // namespace fleetsim::sim
