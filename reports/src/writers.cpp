#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

#include "fleetsim/models/units.hpp"
#include "fleetsim/reports/run_result.hpp"
#include "internal.hpp"

namespace fleetsim::reports {

// A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

namespace {

using nlohmann::ordered_json;

// "simulated", or "emulated" for a run of fleetsim emulate (its engine's runtime says so): the time a run reached.
std::string run_kind(const RunResult& r) {
  const auto runtime = r.engine_config.find("runtime");
  return runtime != r.engine_config.end() && runtime->second.rfind("emulate", 0) == 0 ? "emulated" : "simulated";
}

ordered_json optional_number(const std::optional<double>& value) {
  return value ? ordered_json(*value) : ordered_json(nullptr);
}

// network.solver.check: null unless the run compared its solver with SimGrid's (--cfg fleetsim/check-solver:yes).
ordered_json solver_check_json(const RunResult::SolverWork& w) {
  if (!w.check) return nullptr;
  return {{"compared", w.check->compared},
          {"differences", w.check->differences},
          {"largest_relative_difference", w.check->largest_relative_difference}};
}

// A node's times in operation k when it did not end on the new release (failed or timed out), else nullptr.
const NodeTimes* failure_of(const NodeRow& row, std::size_t k) {
  if (k >= row.per_operation.size()) return nullptr;
  const NodeTimes& t = row.per_operation[k];
  return t.outcome == "failed" || t.outcome == "timed_out" ? &t : nullptr;
}

// How many nodes failed or timed out in operation k, per reason.
std::map<std::string, std::size_t> failure_reasons(const RunResult& r, std::size_t k) {
  std::map<std::string, std::size_t> reasons;
  for (const auto& row : r.node_rows)
    if (const NodeTimes* t = failure_of(row, k)) ++reasons[t->reason.empty() ? "unknown" : t->reason];
  return reasons;
}

}  // namespace

void write_file(const std::string& path, const std::string& content) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write " + path);
    out << content;
    out.close();
    if (!out) {
      std::remove(temporary.c_str());
      throw std::runtime_error("error while writing " + path);
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    throw std::runtime_error("cannot write " + path + " (rename failed)");
  }
}

namespace {

// The length of the valid UTF-8 sequence at text[i], or 0 if it is not one.
std::size_t utf8_length(const std::string& text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > text.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((byte(i + k) >> 6) != 0x2) return 0;
  return n;
}

// XML 1.0 text: markup characters escaped; control characters (other than tab and newlines) and bytes that are not
// UTF-8, which XML cannot carry at all, become U+FFFD.
std::string escape_xml(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    const std::size_t n = utf8_length(text, i);
    if (n == 0 || (n == 1 && static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r')) {
      out += "&#xFFFD;";
      i += n == 0 ? 1 : n;
      continue;
    }
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\n':
        out += "&#10;";
        break;
      case '\r':
        out += "&#13;";
        break;
      default:
        out.append(text, i, n);
    }
    i += n;
  }
  return out;
}

std::string csv(const std::string& text) { return csv_field(text); }

// What a fault's target time was spent as, by kind.
std::string fault_effect(const RunResult& r, const std::string& name, const std::string& kind) {
  if (kind == "degrade") {
    for (const auto& f : r.faults)
      if (f.name == name) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "of target time at %g x bandwidth", f.factor);
        return buf;
      }
  }
  if (kind == "disk_full") return "of node time with the disk full";
  if (kind == "node_crash") return "of node downtime (powered off)";
  if (kind == "gpu_failure") return "of GPU downtime";
  if (kind == "orchestrator_restart") return "of orchestrator downtime";
  if (kind == "registry_outage") return "of registry downtime";
  return "of uplink downtime";
}

std::string csv_field(const std::optional<double>& value) {
  if (!value) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6f", *value);
  return buf;
}

std::string render(double value, const std::string& unit) {
  if (unit == "seconds") return models::format_duration(value);
  if (unit == "bytes") return models::format_bytes(value);
  char buf[32];
  if (value == std::floor(value) && std::fabs(value) < 1e15)
    std::snprintf(buf, sizeof buf, "%.0f", value);
  else
    std::snprintf(buf, sizeof buf, "%g", value);
  return buf;
}

}  // namespace

std::string xml_escape(const std::string& text) { return escape_xml(text); }

std::string RunResult::result() const {
  if (!scenario_errors.empty()) return "error";
  if (interrupted) return "interrupted";
  return passed() ? "pass" : "fail";
}

bool RunResult::passed() const {
  if (interrupted || !scenario_errors.empty()) return false;
  if (!violations.empty()) return false;
  for (const auto& e : expectations)
    if (!e.passed) return false;
  return true;
}

nlohmann::ordered_json report_json(const RunResult& r) {
  ordered_json j;
  j["schema"] = "fleetsim.report";
  j["schema_version"] = kReportSchemaVersion;
  j["fleetsim_version"] = r.fleetsim_version;
  ordered_json parameters = ordered_json::array();
  for (const auto& p : r.parameters)
    parameters.push_back(
        {{"name", p.name}, {"value", p.value}, {"default", p.default_value}, {"kind", p.kind}, {"given", p.given}});
  j["scenario"] = {{"file", r.scenario_file},
                   {"name", r.scenario_name},
                   {"seed", r.seed},
                   {"overrides", r.overrides},
                   {"parameters", parameters},
                   {"regression", [&] {
                      ordered_json tolerances = ordered_json::object();
                      for (const auto& [metric, text] : r.regression) tolerances[metric] = text;
                      return tolerances;
                    }()}};
  j["engine"] = r.engine_config;
  j["fleet"] = {{"sites", r.sites}, {"nodes", r.nodes}};
  j["end_time_s"] = r.end_time_s;
  j["hit_max_time"] = r.hit_max_time;
  ordered_json ops = ordered_json::array();
  for (std::size_t k = 0; k < r.operations.size(); ++k) {
    const auto& op = r.operations[k];
    // The nodes that did not end on the new release (failed or timed out), and how many for each reason.
    ordered_json by_reason(failure_reasons(r, k));
    ordered_json failed_nodes = ordered_json::array();
    for (const auto& row : r.node_rows)
      if (const NodeTimes* t = failure_of(row, k))
        failed_nodes.push_back({{"node", row.node},
                                {"site", row.site},
                                {"outcome", t->outcome},
                                {"reason", t->reason},
                                {"detail", t->detail}});
    ordered_json pct = ordered_json::object();
    for (const auto& [p, t] : op.time_to_pct) pct[std::to_string(p)] = optional_number(t);
    ops.push_back({{"name", op.name},
                   {"kind", op.kind},
                   {"app", op.app},
                   {"version", op.version},
                   {"revision", op.revision},
                   {"strategy", op.strategy},
                   {"started_at_s", op.started_at_s},
                   {"finished_at_s", optional_number(op.finished_at_s)},
                   {"targeted", op.targeted},
                   {"succeeded", op.succeeded},
                   {"failed", op.failed},
                   {"timed_out", op.timed_out},
                   {"canceled", op.canceled},
                   {"time_to_pct_s", pct},
                   {"aborted_at_s", optional_number(op.aborted_at_s)},
                   {"is_rollback", op.is_rollback},
                   {"rolled_back_by", op.rolled_back_by},
                   {"unplaced", op.unplaced},
                   {"failures_by_reason", by_reason},
                   {"failed_nodes", failed_nodes},
                   {"batches", [&] {
                      ordered_json waves = ordered_json::array();
                      for (const auto& w : op.waves)
                        waves.push_back({{"nodes", w.nodes},
                                         {"started_s", w.started_s},
                                         {"completed_s", optional_number(w.completed_s)}});
                      return waves;
                    }()}});
  }
  j["operations"] = ops;
  j["network"] = {{"registry_egress_bytes", r.registry_egress_bytes},
                  {"busiest_uplink", {{"site", r.busiest_uplink_site}, {"bytes", r.busiest_uplink_bytes}}},
                  {"control_bytes", r.control_bytes},
                  {"bytes_wasted", r.bytes_wasted},
                  {"solver", r.solver ? ordered_json{{"events", r.solver->events},
                                                     {"class_changes", r.solver->class_changes},
                                                     {"scans", r.solver->scans},
                                                     {"precision_hazards", r.solver->precision_hazards},
                                                     {"check", solver_check_json(*r.solver)}}
                                      : ordered_json(nullptr)}};
  j["nodes_failed"] = r.nodes_failed;
  ordered_json faults = ordered_json::array();
  for (const auto& f : r.faults)
    faults.push_back({{"name", f.name},
                      {"kind", f.kind},
                      {"start_s", f.start_s},
                      {"end_s", f.end_s},
                      {"targets", f.sites},
                      {"factor", f.factor},
                      {"free_bytes", f.free_bytes}});
  j["faults"] = faults;
  ordered_json versions = ordered_json::object();
  for (const auto& [app, by_version] : r.node_time_s)
    for (const auto& [version, seconds] : by_version) versions[app][version]["node_time_s"] = seconds;
  for (const auto& [app, by_version] : r.nodes_at_end)
    for (const auto& [version, n] : by_version) versions[app][version]["nodes_at_end"] = n;
  j["versions"] = versions;
  ordered_json states = ordered_json::array();
  for (const auto& smp : r.states)
    states.push_back(
        {{"t", smp.at_s}, {"app", smp.app}, {"version", smp.version}, {"state", smp.state}, {"nodes", smp.nodes}});
  j["states"] = states;
  j["crash_reports"] = r.crash_reports;
  if (!r.telemetry.empty()) {
    auto opt = [](const std::optional<double>& v) { return v ? ordered_json(*v) : ordered_json(nullptr); };
    ordered_json groups = ordered_json::array();
    for (const auto& g : r.telemetry) {
      ordered_json dropped(g.dropped_by_reason);
      groups.push_back({{"scope", g.scope},
                        {"preset", g.preset},
                        {"sites", g.sites},
                        {"produced", g.produced},
                        {"delivered", g.delivered},
                        {"buffered_at_end", g.buffered_at_end},
                        {"dropped", g.dropped},
                        {"dropped_by_reason", dropped},
                        {"duplicates", g.duplicates},
                        {"peak_buffer_bytes", g.peak_buffer_bytes},
                        {"peak_buffer_p50_bytes", g.peak_buffer_p50_bytes},
                        {"peak_buffer_p99_bytes", g.peak_buffer_p99_bytes},
                        {"peak_buffer_msgs", g.peak_buffer_msgs},
                        {"max_backlog_age_s", g.max_backlog_age_s},
                        {"drains", g.drains},
                        {"undrained", g.undrained},
                        {"drain_p50_s", opt(g.drain_p50_s)},
                        {"drain_p99_s", opt(g.drain_p99_s)},
                        {"drain_max_s", opt(g.drain_max_s)},
                        {"delay_p50_s", opt(g.delay_p50_s)},
                        {"delay_p99_s", opt(g.delay_p99_s)},
                        {"delay_max_s", opt(g.delay_max_s)},
                        {"sites_never_drain", g.sites_never_drain},
                        {"delay_histogram", g.delay_bins},
                        {"gpu",
                         {{"frames_arrived", g.frames_arrived},
                          {"frames_processed", g.frames_processed},
                          {"frames_dropped_queue_full", g.frames_dropped},
                          {"frames_lost_in_failure", g.frames_lost_in_failure},
                          {"peak_frame_queue", g.peak_frame_queue}}}});
    }
    ordered_json never = ordered_json::array();
    for (const auto& site : r.telemetry_sites)
      if (site.live_bytes_per_s >= site.capacity_bytes_per_s)
        never.push_back({{"site", site.site},
                         {"live_bytes_per_s", site.live_bytes_per_s},
                         {"capacity_bytes_per_s", site.capacity_bytes_per_s}});
    j["telemetry"] = {{"groups", groups}, {"never_drains", never}};
  }
  ordered_json exps = ordered_json::array();
  for (const auto& e : r.expectations)
    exps.push_back({{"expect", e.text},
                    {"where", e.where},
                    {"metric", e.metric},
                    {"across_seeds", e.across.empty() ? ordered_json(nullptr) : ordered_json(e.across)},
                    {"op", e.op},
                    {"unit", e.unit},
                    {"expected", e.expected},
                    {"measured", optional_number(e.measured)},
                    {"passed", e.across.empty() ? ordered_json(e.passed) : ordered_json(nullptr)}});
  j["expectations"] = exps;
  ordered_json metrics = ordered_json::object();
  for (const auto& [name, value] : r.metrics) metrics[name] = optional_number(value);
  j["metrics"] = metrics;
  ordered_json viol = ordered_json::array();
  for (const auto& v : r.violations)
    viol.push_back({{"invariant", v.invariant}, {"detail", v.detail}, {"at_s", v.at_s}});
  j["invariant_violations"] = viol;
  if (!r.scenario_errors.empty()) j["scenario_errors"] = r.scenario_errors;
  j["files"] = r.files;
  j["result"] = r.result();
  return j;
}

void write_report_json(const RunResult& r, const std::string& path) {
  // Bytes that are not UTF-8 (a name from a scenario) become U+FFFD instead of making the writer fail.
  write_file(path, report_json(r).dump(2, ' ', false, ordered_json::error_handler_t::replace) + "\n");
}

void write_nodes_csv(const RunResult& r, const std::string& path) {
  std::ostringstream out;
  out << "node,site,bytes_pulled,bytes_wasted";
  for (const auto& op : r.operations)
    out << ',' << csv(op.name + ".notified_s") << ',' << csv(op.name + ".downloaded_s") << ','
        << csv(op.name + ".healthy_s") << ',' << csv(op.name + ".outcome") << ',' << csv(op.name + ".reason") << ','
        << csv(op.name + ".detail");
  out << '\n';
  for (const auto& row : r.node_rows) {
    out << csv(row.node) << ',' << csv(row.site) << ',' << row.bytes_pulled << ',' << row.bytes_wasted;
    for (const auto& t : row.per_operation)
      out << ',' << csv_field(t.notified_s) << ',' << csv_field(t.downloaded_s) << ',' << csv_field(t.healthy_s) << ','
          << csv(t.outcome) << ',' << csv(t.reason) << ',' << csv(t.detail);
    out << '\n';
  }
  write_file(path, out.str());
}

namespace {

// An expectation's failure as one line: what was measured, against what, and by how much it missed.
std::string expectation_failure(const ExpectationResult& e) {
  std::string text = "measured " + (e.measured ? render(*e.measured, e.unit) : std::string("nothing (never reached)")) +
                     ", threshold " + e.op + " " + render(e.expected, e.unit);
  if (e.measured) {
    const double diff = std::fabs(*e.measured - e.expected);
    text += ", off by " + render(diff, e.unit);
    if (e.expected != 0) {
      char buf[32];
      std::snprintf(buf, sizeof buf, " (%.1f%%)", 100.0 * diff / std::fabs(e.expected));
      text += buf;
    }
  }
  return text + ", at " + e.where;
}

std::string seconds_attribute(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", s);
  return buf;
}

// The <testsuites> and <testsuite> elements with every count JUnit readers look for (Jenkins, GitLab, Azure; the
// Jenkins xUnit junit-10 schema, tests/junit-10.xsd): tests, failures, errors, skipped (the suite's), time.
void open_suites(std::ostringstream& out, const std::string& suite, std::size_t tests, std::size_t failures,
                 std::size_t errors, double time_s, std::size_t skipped = 0) {
  const std::string counts = " tests=\"" + std::to_string(tests) + "\" failures=\"" + std::to_string(failures) +
                             "\" errors=\"" + std::to_string(errors) + "\"";
  const std::string time = " time=\"" + seconds_attribute(time_s) + "\"";
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out << "<testsuites name=\"fleetsim\"" << counts << time << ">\n";  // the schema has no skipped here
  out << "<testsuite name=\"" << xml_escape(suite) << "\"" << counts << " skipped=\"" << skipped << "\"" << time << ">\n";
}

}  // namespace

// One test case per expectation and one per invariant checked (named), so that a CI shows which one failed; a
// failure's message has the measured value, the threshold and the gap, and its text the replay command.
void write_junit_xml(const RunResult& r, const std::string& path) {
  std::map<std::string, std::vector<const InvariantViolation*>> by_invariant;
  for (const auto& v : r.violations) by_invariant[v.invariant].push_back(&v);
  std::vector<std::string> invariants = r.invariants_checked;
  for (const auto& [name, list] : by_invariant)  // one the catalogue does not name still gets its test case
    if (std::find(invariants.begin(), invariants.end(), name) == invariants.end()) invariants.push_back(name);
  std::size_t failures = by_invariant.size(), skipped = 0;
  for (const auto& e : r.expectations) {
    if (!e.passed) ++failures;
    if (!e.across.empty()) ++skipped;
  }
  const bool error = r.interrupted || !r.scenario_errors.empty();
  const std::size_t tests = r.expectations.size() + invariants.size() + (error ? 1 : 0);
  const std::string replay = r.replay.empty() ? std::string() : "replay: " + r.replay;
  std::ostringstream out;
  open_suites(out, r.scenario_name.empty() ? r.scenario_file : r.scenario_name, tests, failures, error ? 1 : 0,
              r.wall_s, skipped);
  out << "  <properties><property name=\"seed\" value=\"" << r.seed << "\"/>";
  for (const auto& p : r.parameters)
    out << "<property name=\"param." << xml_escape(p.name) << "\" value=\"" << xml_escape(p.value) << "\"/>";
  if (!r.replay.empty()) out << "<property name=\"replay\" value=\"" << xml_escape(r.replay) << "\"/>";
  out << "</properties>\n";
  if (error) {
    std::string message =
        r.interrupted ? "interrupted at " + run_kind(r) + " " + models::format_duration(r.end_time_s) : "";
    for (const auto& e : r.scenario_errors) message += (message.empty() ? "" : "; ") + e;
    out << "  <testcase classname=\"run\" name=\"runs to its end\" time=\"0\"><error message=\""
        << xml_escape(message) << "\" type=\"" << (r.interrupted ? "interrupted" : "scenario") << "\">"
        << xml_escape(replay) << "</error></testcase>\n";
  }
  for (const auto& e : r.expectations) {
    out << "  <testcase classname=\"expect\" name=\"" << xml_escape(e.text) << "\" time=\"0\">";
    if (!e.across.empty())
      out << "<skipped message=\""
          << xml_escape("a statistic across seeds, judged by fleetsim sweep; this seed measured " +
                        (e.measured ? render(*e.measured, e.unit) : std::string("nothing (never reached)")))
          << "\"/>";
    else if (!e.passed)
      out << "<failure message=\"" << xml_escape(expectation_failure(e)) << "\" type=\"expectation\">"
          << xml_escape(replay) << "</failure>";
    out << "</testcase>\n";
  }
  for (const auto& name : invariants) {
    out << "  <testcase classname=\"invariant\" name=\"" << xml_escape(name) << "\" time=\"0\">";
    auto it = by_invariant.find(name);
    if (it != by_invariant.end()) {
      const auto& list = it->second;
      std::string text;
      for (const InvariantViolation* v : list)
        text += "at " + models::format_duration(v->at_s) + ": " + v->detail + "\n";
      out << "<failure message=\"" << xml_escape(name + ": " + list.front()->detail) << "\" type=\"invariant\">"
          << xml_escape(text + replay) << "</failure>";
    }
    out << "</testcase>\n";
  }
  out << "</testsuite>\n</testsuites>\n";
  write_file(path, out.str());
}

void write_junit_error(const std::string& path, const std::string& suite, const std::string& message) {
  std::ostringstream out;
  open_suites(out, suite, 1, 0, 1, 0);
  out << "  <testcase classname=\"run\" name=\"scenario loads\" time=\"0\"><error message=\"" << xml_escape(message)
      << "\" type=\"scenario\"/></testcase>\n</testsuite>\n</testsuites>\n";
  write_file(path, out.str());
}

void write_events_jsonl(const RunResult& r, const std::string& path) {
  std::string out;
  for (const auto& e : r.events) {
    ordered_json line{{"t", e.at_s}, {"type", e.type}, {"fault", e.fault}, {"kind", e.kind}, {"target", e.target}};
    out += line.dump(-1, ' ', false, ordered_json::error_handler_t::replace) + "\n";
  }
  write_file(path, out);
}

void write_states_csv(const RunResult& r, const std::string& path) {
  std::string out = "time_s,app,version,state,nodes\n";
  char buf[64];
  for (const auto& smp : r.states) {
    std::snprintf(buf, sizeof buf, "%.3f,", smp.at_s);
    out += buf + csv(smp.app) + "," + csv(smp.version) + "," + csv(smp.state) + "," + std::to_string(smp.nodes) + "\n";
  }
  write_file(path, out);
}

void write_telemetry_csv(const RunResult& r, const std::string& path) {
  std::string out =
      "time_s,scope,buffered_bytes,buffered_msgs,max_site_bytes,max_backlog_age_s,sites_behind,delivered,dropped\n";
  char buf[320];
  for (const auto& smp : r.telemetry_series) {
    std::snprintf(buf, sizeof buf, "%.3f,%s,%llu,%llu,%llu,%.3f,%zu,%llu,%llu\n", smp.at_s, csv(smp.scope).c_str(),
                  static_cast<unsigned long long>(smp.buffered_bytes),
                  static_cast<unsigned long long>(smp.buffered_msgs),
                  static_cast<unsigned long long>(smp.max_site_bytes), smp.max_backlog_age_s, smp.sites_behind,
                  static_cast<unsigned long long>(smp.delivered), static_cast<unsigned long long>(smp.dropped));
    out += buf;
  }
  write_file(path, out);
}

void write_telemetry_sites_csv(const RunResult& r, const std::string& path) {
  std::vector<std::string> reasons;
  if (!r.telemetry_sites.empty())
    for (const auto& [reason, n] : r.telemetry_sites.front().dropped_by_reason) reasons.push_back(reason);
  std::string out = "site,scope,produced,delivered,duplicates,dropped";
  for (const auto& reason : reasons) out += ",dropped_" + reason;
  out += ",peak_buffer_bytes,live_bytes_per_s,capacity_bytes_per_s,drains,undrained,drain_max_s\n";
  for (const auto& site : r.telemetry_sites) {
    out += csv(site.site) + "," + csv(site.scope) + "," + std::to_string(site.produced) + "," +
           std::to_string(site.delivered) + "," + std::to_string(site.duplicates) + "," + std::to_string(site.dropped);
    for (const auto& reason : reasons) out += "," + std::to_string(site.dropped_by_reason.at(reason));
    std::size_t undrained = 0;
    std::optional<double> worst;
    for (const auto& d : site.drains) {
      if (!d.drained_after_s)
        ++undrained;
      else
        worst = std::max(worst.value_or(0.0), *d.drained_after_s);
    }
    out += "," + std::to_string(site.peak_buffer_bytes) + "," + csv_field(site.live_bytes_per_s) + "," +
           csv_field(site.capacity_bytes_per_s) + "," + std::to_string(site.drains.size()) + "," +
           std::to_string(undrained) + "," + csv_field(worst) + "\n";
  }
  write_file(path, out);
}

std::string summary_text(const RunResult& r) {
  std::ostringstream out;
  out << "fleetsim: " << r.sites << " sites, " << r.nodes << " nodes, " << run_kind(r) << " "
      << models::format_duration(r.end_time_s) << (r.hit_max_time ? " (stopped at max_time)" : "") << "\n";
  for (const auto& op : r.operations) {
    out << "  " << op.name << " (" << op.kind << " " << op.app << " " << op.version << ", " << op.strategy
        << ") started at " << models::format_duration(op.started_at_s) << ": " << op.succeeded << "/" << op.targeted
        << " healthy";
    if (op.failed) out << ", " << op.failed << " failed";
    if (op.timed_out) out << ", " << op.timed_out << " timed out";
    if (op.canceled) out << ", " << op.canceled << " canceled";
    if (op.failed + op.timed_out > 0) {
      out << " (";
      const char* sep = "";
      for (const auto& [reason, n] : failure_reasons(r, static_cast<std::size_t>(&op - r.operations.data())))
        out << std::exchange(sep, ", ") << reason << " " << n;
      out << ")";
    }
    if (op.aborted_at_s) out << "; ABORTED at " << models::format_duration(*op.aborted_at_s);
    if (!op.rolled_back_by.empty()) out << ", rolled back by " << op.rolled_back_by;
    if (!op.unplaced.empty())
      out << "; " << op.unplaced.size() << " node(s) without room for it (first: " << op.unplaced.front() << ")";
    out << "\n    time to";
    for (const auto& [p, t] : op.time_to_pct) out << "  " << p << "%: " << (t ? models::format_duration(*t) : "-");
    out << "\n";
  }
  out << "  registry egress: " << models::format_bytes(static_cast<double>(r.registry_egress_bytes))
      << "; busiest site uplink: " << r.busiest_uplink_site << " "
      << models::format_bytes(static_cast<double>(r.busiest_uplink_bytes))
      << "; control messages: " << models::format_bytes(static_cast<double>(r.control_bytes));
  if (r.bytes_wasted)
    out << "; wasted by interrupted pulls: " << models::format_bytes(static_cast<double>(r.bytes_wasted));
  if (r.solver && r.solver->precision_hazards > 0)
    out << "\n  sharing: " << r.solver->precision_hazards
        << " level(s) below SimGrid's maxmin/precision: simulation.solver = \"simgrid\" would share those links "
           "differently (docs/SOLVER.md)";
  if (r.solver && r.solver->check)
    out << "\n  solver check: " << r.solver->check->compared << " transfer(s) compared with SimGrid's LMM, "
        << r.solver->check->differences << " differed (largest relative difference "
        << r.solver->check->largest_relative_difference << ")";
  out << "\n  nodes failed: " << r.nodes_failed;
  if (r.crash_reports) out << "; committed releases that crashed and restarted: " << r.crash_reports;
  out << "\n";
  for (const auto& [app, by_version] : r.nodes_at_end) {
    out << "  " << app << " at the end:";
    for (const auto& [version, n] : by_version) out << "  " << version << " on " << n << " node(s)";
    out << "; node time:";
    if (auto it = r.node_time_s.find(app); it != r.node_time_s.end())
      for (const auto& [version, seconds] : it->second)
        out << "  " << version << " " << models::format_duration(seconds);
    out << "\n";
  }
  // Faults, one line per name: how many windows, on how many distinct sites, and the site-time spent down.
  std::map<std::string, std::tuple<std::string, std::size_t, std::set<std::string>, double>> by_name;
  for (const auto& f : r.faults) {
    auto& [kind, windows, sites, down_s] = by_name[f.name];
    kind = f.kind;
    ++windows;
    sites.insert(f.sites.begin(), f.sites.end());
    down_s += (f.end_s - f.start_s) * static_cast<double>(f.sites.size());
  }
  for (const auto& [name, agg] : by_name) {
    const auto& [kind, windows, sites, down_s] = agg;
    out << "  fault " << name << " (" << kind << "): " << windows << " window(s) on " << sites.size() << " target(s), "
        << models::format_duration(down_s) << " " << fault_effect(r, name, kind) << "\n";
  }
  if (!r.telemetry.empty()) {
    out << "  telemetry (delivered / dropped of produced; drain after outages; delay to the cloud):\n";
    for (const auto& g : r.telemetry) {
      const double produced = static_cast<double>(std::max<std::uint64_t>(g.produced, 1));
      char buf[512];
      std::snprintf(buf, sizeof buf,
                    "    %-14s %-26s %4zu sites: %5.1f%% delivered, %5.1f%% dropped, %5.1f%% buffered at the end",
                    g.scope.c_str(), g.preset.c_str(), g.sites, 100.0 * static_cast<double>(g.delivered) / produced,
                    100.0 * static_cast<double>(g.dropped) / produced,
                    100.0 * static_cast<double>(g.buffered_at_end) / produced);
      out << buf;
      std::string reasons;
      for (const auto& [reason, n] : g.dropped_by_reason)
        if (n) reasons += (reasons.empty() ? "" : ", ") + reason + " " + std::to_string(n);
      if (!reasons.empty()) out << " (" << reasons << ")";
      out << "; peak buffer " << models::format_bytes(static_cast<double>(g.peak_buffer_bytes));
      if (g.drains)
        out << "; drain p50 " << (g.drain_p50_s ? models::format_duration(*g.drain_p50_s) : "-") << ", max "
            << (g.drain_max_s ? models::format_duration(*g.drain_max_s) : "-")
            << (g.undrained ? ", " + std::to_string(g.undrained) + " not drained" : std::string());
      if (g.delay_p99_s) out << "; delay p99 " << models::format_duration(*g.delay_p99_s);
      if (g.duplicates) out << "; " << g.duplicates << " duplicates discarded";
      if (g.sites_never_drain) out << "; " << g.sites_never_drain << " site(s) NEVER DRAIN (live rate >= capacity)";
      if (g.frames_arrived)
        out << "; GPU frames " << g.frames_processed << " processed, " << g.frames_dropped << " dropped (queue full), "
            << g.frames_lost_in_failure << " lost in failures";
      out << "\n";
    }
  }
  for (const auto& e : r.expectations) {
    if (!e.across.empty()) {
      out << "  expect " << e.text << ": across seeds, for fleetsim sweep (this seed: "
          << (e.measured ? render(*e.measured, e.unit) : std::string("never reached")) << ")\n";
      continue;
    }
    out << "  expect " << e.text << ": " << (e.passed ? "ok" : "FAILED") << " (measured "
        << (e.measured ? render(*e.measured, e.unit) : std::string("nothing: never reached"));
    if (!e.passed && e.measured) {
      double diff = *e.measured - e.expected;
      out << ", off by " << render(std::fabs(diff), e.unit);
      if (e.expected != 0) {
        char buf[32];
        std::snprintf(buf, sizeof buf, " (%.1f%%)", 100.0 * std::fabs(diff) / std::fabs(e.expected));
        out << buf;
      }
    }
    out << ") at " << e.where << "\n";
  }
  for (const auto& v : r.violations)
    out << "  INVARIANT VIOLATED " << v.invariant << " at " << models::format_duration(v.at_s) << ": " << v.detail
        << "\n";
  for (const auto& e : r.scenario_errors) out << "  SCENARIO ERROR " << e << "\n";
  if (!r.scenario_errors.empty())
    out << "  result: ERROR (the scenario is wrong; these results hold what ran)\n";
  else if (r.interrupted)
    out << "  result: INTERRUPTED at " << run_kind(r) << " " << models::format_duration(r.end_time_s)
        << " (these results hold what ran until then)\n";
  else
    out << "  result: " << (r.passed() ? "PASS" : "FAIL") << "\n";
  return out.str();
}

}  // namespace fleetsim::reports
