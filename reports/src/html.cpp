// report.html: one self-contained page per run (docs/REPORTS.md, "report.html"): the page (reports/html/), Chart.js
// and the run's data inlined, nothing loaded from anywhere. The data is report.json's content plus the series the
// charts need, read back from the run's nodes.csv, telemetry.csv, telemetry_drains.csv, network.csv and junit.xml
// (written before it) and downsampled so that a 10,000-node day stays a few megabytes. The run and `fleetsim report
// DIR` take the same path, so a rebuilt page is the page the run wrote.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fleetsim/reports/html.hpp"
#include "fleetsim/reports/run_result.hpp"
#include "internal.hpp"

namespace fleetsim::reports {
namespace {

using nlohmann::ordered_json;
namespace fs = std::filesystem;

constexpr std::size_t kMaxCurvePoints = 1500;   // per operation's completion curve
constexpr std::size_t kMaxSeriesPoints = 1500;  // per telemetry scope
constexpr std::size_t kMaxNodeRows = 10000;     // the node table; nodes.csv has them all
constexpr std::size_t kMaxRatePoints = 600;     // per link's throughput series (a chart is ~600 px wide)
constexpr std::size_t kMaxDrains = 3000;        // drains drawn; telemetry_drains.csv has them all

[[noreturn]] void bad_file(const fs::path& file, std::size_t line, const std::string& problem) {
  throw std::runtime_error(file.string() + ":" + std::to_string(line) + ": " + problem);
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + file.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A CSV file as written by csv_field (RFC 4180: quoted fields, "" for a quote): its rows of fields, header first.
std::vector<std::vector<std::string>> read_csv(const fs::path& file) {
  const std::string text = read_file(file);
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false, in_quotes = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_quotes) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        in_quotes = false;
      } else {
        field += c;
      }
    } else if (c == '"' && field.empty() && !quoted) {
      in_quotes = quoted = true;
    } else if (c == ',') {
      rows.back().push_back(field);
      field.clear();
      quoted = false;
    } else if (c == '\n') {
      rows.back().push_back(field);
      field.clear();
      quoted = false;
      rows.emplace_back();
    } else if (c != '\r') {
      field += c;
    }
  }
  if (in_quotes) bad_file(file, rows.size(), "a quoted field is not closed");
  if (!field.empty() || !rows.back().empty()) rows.back().push_back(field);
  if (rows.back().empty()) rows.pop_back();
  for (std::size_t r = 1; r < rows.size(); ++r)
    if (rows[r].size() != rows[0].size())
      bad_file(file, r + 1, std::to_string(rows[r].size()) + " fields, the header has " + std::to_string(rows[0].size()));
  return rows;
}

double number(const fs::path& file, std::size_t line, const std::string& column, const std::string& text) {
  char* end = nullptr;
  const double x = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size()) bad_file(file, line, column + ": '" + text + "' is not a number");
  return x;
}

// What the page shows from nodes.csv: per node, its site and bytes, and per operation its outcome, reason and the
// time it became healthy.
struct NodeLine {
  std::string node, site;
  double bytes_pulled = 0;
  std::vector<std::string> outcome, reason;
  std::vector<std::optional<double>> healthy_s;
};

std::vector<NodeLine> read_nodes(const fs::path& file, const ordered_json& operations) {
  const auto rows = read_csv(file);
  if (rows.empty()) bad_file(file, 1, "no header");
  const auto& header = rows[0];
  auto column = [&](const std::string& name) {
    const auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) bad_file(file, 1, "no column '" + name + "'");
    return static_cast<std::size_t>(it - header.begin());
  };
  const std::size_t node = column("node"), site = column("site"), bytes = column("bytes_pulled");
  std::vector<std::array<std::size_t, 3>> op_columns;
  for (const auto& op : operations) {
    const std::string name = op.at("name").get<std::string>();
    op_columns.push_back({column(name + ".outcome"), column(name + ".reason"), column(name + ".healthy_s")});
  }
  std::vector<NodeLine> lines;
  for (std::size_t r = 1; r < rows.size(); ++r) {
    NodeLine line{rows[r][node], rows[r][site], number(file, r + 1, "bytes_pulled", rows[r][bytes]), {}, {}, {}};
    for (const auto& c : op_columns) {
      line.outcome.push_back(rows[r][c[0]]);
      line.reason.push_back(rows[r][c[1]]);
      line.healthy_s.push_back(rows[r][c[2]].empty() ? std::nullopt
                                                      : std::optional<double>(number(file, r + 1, header[c[2]], rows[r][c[2]])));
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

// Sorted times since the operation's start at which each target became healthy, as (time, rank) pairs: every one
// up to kMaxCurvePoints, else evenly spaced ranks with the first and the last, so that the curve's shape and its
// ends are exact.
ordered_json completion(const ordered_json& op, const std::vector<NodeLine>& nodes, std::size_t k) {
  const double started = op.at("started_at_s").get<double>();
  std::vector<double> healthy;
  for (const auto& line : nodes)
    if (line.healthy_s[k]) healthy.push_back(*line.healthy_s[k] - started);
  std::sort(healthy.begin(), healthy.end());
  ordered_json times = ordered_json::array(), ranks = ordered_json::array();
  const std::size_t n = healthy.size();
  const std::size_t keep = std::min(n, kMaxCurvePoints);
  std::size_t last = n;  // no index kept yet
  for (std::size_t i = 0; i < keep; ++i) {
    const std::size_t at = keep == 1 ? 0 : (i * (n - 1)) / (keep - 1);
    if (at == last) continue;
    times.push_back(healthy[at]);
    ranks.push_back(at + 1);
    last = at;
  }
  return {{"name", op.at("name")}, {"targeted", op.at("targeted")}, {"healthy_s", times}, {"ranks", ranks}};
}

// The telemetry series per scope from telemetry.csv, at most kMaxSeriesPoints each: beyond, each bucket of samples
// keeps the one with the most bytes buffered and the last (the cumulative counts' end), so peaks survive.
ordered_json telemetry_series(const fs::path& file) {
  struct Sample {
    double t, buffered, dropped, delivered;
  };
  std::vector<std::string> order;
  std::map<std::string, std::vector<Sample>> by_scope;
  const auto rows = read_csv(file);
  for (std::size_t r = 1; r < rows.size(); ++r) {
    const auto& f = rows[r];
    if (f.size() < 9) bad_file(file, r + 1, "fewer fields than time_s,scope,...,delivered,dropped");
    if (!by_scope.count(f[1])) order.push_back(f[1]);
    by_scope[f[1]].push_back({number(file, r + 1, "time_s", f[0]), number(file, r + 1, "buffered_bytes", f[2]),
                              number(file, r + 1, "dropped", f[8]), number(file, r + 1, "delivered", f[7])});
  }
  ordered_json out = ordered_json::array();
  for (const auto& scope : order) {
    const auto& all = by_scope[scope];
    std::vector<const Sample*> kept;
    if (all.size() <= kMaxSeriesPoints) {
      for (const auto& s : all) kept.push_back(&s);
    } else {
      const std::size_t buckets = kMaxSeriesPoints / 2;
      for (std::size_t b = 0; b < buckets; ++b) {
        const std::size_t from = b * all.size() / buckets, to = (b + 1) * all.size() / buckets;
        if (from >= to) continue;
        std::size_t peak = from;
        for (std::size_t i = from; i < to; ++i)
          if (all[i].buffered > all[peak].buffered) peak = i;
        kept.push_back(&all[peak]);
        if (peak != to - 1) kept.push_back(&all[to - 1]);
      }
    }
    ordered_json t = ordered_json::array(), buffered = ordered_json::array(), dropped = ordered_json::array(),
                 delivered = ordered_json::array();
    for (const auto* s : kept) {
      t.push_back(s->t);
      buffered.push_back(s->buffered);
      dropped.push_back(s->dropped);
      delivered.push_back(s->delivered);
    }
    out.push_back({{"scope", scope}, {"t", t}, {"buffered_bytes", buffered}, {"dropped", dropped}, {"delivered", delivered}});
  }
  return out;
}

// Throughput over time per link from network.csv's cumulative bytes: the mean rate between two samples (bytes/s) at
// the later one, with the link's capacity there. Beyond kMaxRatePoints, each bucket keeps its lowest and highest
// rate (in time order), so that neither a saturated stretch nor a stall is smoothed away.
ordered_json network_series(const fs::path& file) {
  struct Link {
    std::string link, direction;
    std::vector<double> t, bytes, capacity;
  };
  std::vector<Link> links;
  std::map<std::pair<std::string, std::string>, std::size_t> index;
  const auto rows = read_csv(file);
  for (std::size_t r = 1; r < rows.size(); ++r) {
    const auto& f = rows[r];
    if (f.size() < 5) bad_file(file, r + 1, "fewer fields than time_s,link,direction,bytes,capacity_bytes_per_s");
    const auto key = std::make_pair(f[1], f[2]);
    if (!index.count(key)) {
      index[key] = links.size();
      links.push_back({f[1], f[2], {}, {}, {}});
    }
    Link& l = links[index[key]];
    l.t.push_back(number(file, r + 1, "time_s", f[0]));
    l.bytes.push_back(number(file, r + 1, "bytes", f[3]));
    l.capacity.push_back(number(file, r + 1, "capacity_bytes_per_s", f[4]));
  }
  ordered_json out = ordered_json::array();
  for (const Link& l : links) {
    std::vector<std::size_t> all;  // samples with a rate: each after the first, at a later time than the one before
    for (std::size_t k = 1; k < l.t.size(); ++k)
      if (l.t[k] > l.t[k - 1]) all.push_back(k);
    auto rate = [&l](std::size_t k) { return std::max(0.0, (l.bytes[k] - l.bytes[k - 1]) / (l.t[k] - l.t[k - 1])); };
    std::vector<std::size_t> kept;
    if (all.size() <= kMaxRatePoints) {
      kept = all;
    } else {
      const std::size_t buckets = kMaxRatePoints / 2;
      for (std::size_t b = 0; b < buckets; ++b) {
        const std::size_t from = b * all.size() / buckets, to = (b + 1) * all.size() / buckets;
        if (from >= to) continue;
        std::size_t lo = from, hi = from;
        for (std::size_t i = from; i < to; ++i) {
          if (rate(all[i]) < rate(all[lo])) lo = i;
          if (rate(all[i]) > rate(all[hi])) hi = i;
        }
        kept.push_back(all[std::min(lo, hi)]);
        if (lo != hi) kept.push_back(all[std::max(lo, hi)]);
      }
    }
    ordered_json t = ordered_json::array(), rates = ordered_json::array(), capacity = ordered_json::array();
    for (std::size_t k : kept) {
      t.push_back(l.t[k]);
      rates.push_back(rate(k));
      capacity.push_back(l.capacity[k]);
    }
    out.push_back({{"link", l.link}, {"direction", l.direction}, {"total_bytes", l.bytes.empty() ? 0.0 : l.bytes.back()},
                   {"t", t}, {"bytes_per_s", rates}, {"capacity_bytes_per_s", capacity}});
  }
  return out;
}

// The drains after uplink outages from telemetry_drains.csv, per scope: when the uplink came back, the backlog and
// how long it took to catch up (null: it did not). Beyond kMaxDrains, the slowest (those that never caught up first).
ordered_json drains(const fs::path& file) {
  struct Drain {
    std::string scope;
    double up_at, backlog;
    std::optional<double> after;
  };
  std::vector<Drain> all;
  const auto rows = read_csv(file);
  for (std::size_t r = 1; r < rows.size(); ++r) {
    const auto& f = rows[r];
    if (f.size() < 5) bad_file(file, r + 1, "fewer fields than site,scope,uplink_up_at_s,backlog_bytes,drained_after_s");
    all.push_back({f[1], number(file, r + 1, "uplink_up_at_s", f[2]), number(file, r + 1, "backlog_bytes", f[3]),
                   f[4].empty() ? std::nullopt : std::optional<double>(number(file, r + 1, "drained_after_s", f[4]))});
  }
  const std::size_t total = all.size();
  if (all.size() > kMaxDrains) {
    std::stable_sort(all.begin(), all.end(), [](const Drain& a, const Drain& b) {
      return (a.after ? *a.after : std::numeric_limits<double>::infinity()) >
             (b.after ? *b.after : std::numeric_limits<double>::infinity());
    });
    all.resize(kMaxDrains);
  }
  ordered_json by_scope = ordered_json::object();
  for (const Drain& d : all) {
    ordered_json& s = by_scope[d.scope];
    if (s.is_null()) s = {{"up_at_s", ordered_json::array()}, {"backlog_bytes", ordered_json::array()},
                          {"drained_after_s", ordered_json::array()}};
    s["up_at_s"].push_back(d.up_at);
    s["backlog_bytes"].push_back(d.backlog);
    s["drained_after_s"].push_back(d.after ? ordered_json(*d.after) : ordered_json(nullptr));
  }
  return {{"total", total}, {"by_scope", by_scope}};
}

// The node table: per node its site and bytes, and per operation that targeted it its outcome, reason and time to
// healthy. Up to kMaxNodeRows: the nodes that did not succeed first, then the others in fleet order.
ordered_json node_table(const ordered_json& operations, const std::vector<NodeLine>& nodes) {
  ordered_json columns = ordered_json::array({"node", "site", "bytes_pulled"});
  ordered_json units = ordered_json::array({"", "", "bytes"});
  for (const auto& op : operations) {
    const std::string name = op.at("name").get<std::string>();
    for (const char* c : {" outcome", " reason", " healthy after"}) columns.push_back(name + c);
    units.push_back("");
    units.push_back("");
    units.push_back("seconds");
  }
  columns.push_back("outcome");  // of the last operation that targeted the node: what the filter selects on
  units.push_back("");
  std::vector<std::string> last(nodes.size());
  std::vector<std::pair<bool, std::size_t>> order;  // (succeeded or untouched, index)
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    for (const auto& o : nodes[i].outcome)
      if (!o.empty()) last[i] = o;
    order.emplace_back(last[i] == "succeeded" || last[i].empty(), i);
  }
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  ordered_json rows = ordered_json::array();
  for (std::size_t k = 0; k < order.size() && k < kMaxNodeRows; ++k) {
    const NodeLine& line = nodes[order[k].second];
    ordered_json cells = ordered_json::array({line.node, line.site, line.bytes_pulled});
    for (std::size_t o = 0; o < operations.size(); ++o) {
      cells.push_back(line.outcome[o]);
      cells.push_back(line.reason[o]);
      cells.push_back(line.healthy_s[o] ? ordered_json(*line.healthy_s[o] - operations[o].at("started_at_s").get<double>())
                                        : ordered_json(nullptr));
    }
    cells.push_back(last[order[k].second]);
    rows.push_back(cells);
  }
  return {{"columns", columns}, {"units", units}, {"total", nodes.size()}, {"rows", rows}};
}

std::string xml_unescape(std::string text) {
  static const std::vector<std::pair<std::string, std::string>> entities{
      {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}, {"&amp;", "&"}};
  for (const auto& [entity, c] : entities)
    for (auto at = text.find(entity); at != std::string::npos; at = text.find(entity, at + c.size()))
      text.replace(at, entity.size(), c);
  return text;
}

// From junit.xml: the replay command (a property) and the invariants checked (test cases of class "invariant").
void read_junit(const fs::path& file, ordered_json& data) {
  const std::string xml = read_file(file);
  const std::string replay = "<property name=\"replay\" value=\"";
  if (const auto at = xml.find(replay); at != std::string::npos)
    data["replay"] = xml_unescape(xml.substr(at + replay.size(), xml.find('"', at + replay.size()) - at - replay.size()));
  ordered_json invariants = ordered_json::array();
  const std::string invariant = "<testcase classname=\"invariant\" name=\"";
  for (auto at = xml.find(invariant); at != std::string::npos; at = xml.find(invariant, at + 1))
    invariants.push_back(xml_unescape(xml.substr(at + invariant.size(), xml.find('"', at + invariant.size()) - at - invariant.size())));
  data["invariants"] = invariants;
}

// Text for inside a <script> element: "</" could close it, so every "<" of the JSON is written as \u003c.
std::string script_safe(const std::string& json) {
  std::string out;
  out.reserve(json.size());
  for (char c : json) {
    if (c == '<')
      out += "\\u003c";
    else
      out += c;
  }
  return out;
}

void replace_marker(std::string& page, const std::string& marker, const std::string& content) {
  const auto at = page.find(marker);
  if (at != std::string::npos) page.replace(at, marker.size(), content);
}

}  // namespace

// The page: the template with the style, Chart.js, the shared script, the page's script and the data inlined.
std::string assemble(const std::string& page_js, const ordered_json& data) {
  std::string page = html_assets::page();
  // The scripts go in first: the data, inserted last, may hold any text.
  replace_marker(page, "/*FLEETSIM_STYLE*/", html_assets::style());
  replace_marker(page, "/*FLEETSIM_CHART_JS*/", html_assets::chart_js());
  replace_marker(page, "/*FLEETSIM_COMMON_JS*/", html_assets::common_js());
  replace_marker(page, "/*FLEETSIM_PAGE_JS*/", page_js);
  replace_marker(page, "/*FLEETSIM_DATA*/",
                 script_safe(data.dump(-1, ' ', false, ordered_json::error_handler_t::replace)));
  return page;
}

std::string report_html(const ordered_json& report, const std::string& dir) {
  const fs::path root(dir);
  ordered_json data;
  data["report"] = report;
  data["replay"] = "";
  data["invariants"] = ordered_json::array();
  if (fs::exists(root / "junit.xml")) read_junit(root / "junit.xml", data);
  const ordered_json& operations = report.at("operations");
  const std::vector<NodeLine> nodes = read_nodes(root / "nodes.csv", operations);
  ordered_json curves = ordered_json::array();
  for (std::size_t k = 0; k < operations.size(); ++k) curves.push_back(completion(operations[k], nodes, k));
  data["completion"] = curves;
  data["telemetry_series"] =
      fs::exists(root / "telemetry.csv") ? telemetry_series(root / "telemetry.csv") : ordered_json::array();
  data["network"] = fs::exists(root / "network.csv") ? network_series(root / "network.csv") : ordered_json::array();
  data["drains"] = fs::exists(root / "telemetry_drains.csv") ? drains(root / "telemetry_drains.csv") : ordered_json(nullptr);
  data["nodes"] = node_table(operations, nodes);
  return assemble(html_assets::run_js(), data);
}

void write_report_html(const RunResult& result, const std::string& path) {
  write_file(path, report_html(report_json(result), fs::path(path).parent_path().string()));
}

ordered_json completion_curves(const std::string& dir) {
  const fs::path root(dir);
  ordered_json report = ordered_json::parse(read_file(root / "report.json"));
  const ordered_json& operations = report.at("operations");
  const std::vector<NodeLine> nodes = read_nodes(root / "nodes.csv", operations);
  ordered_json curves = ordered_json::array();
  for (std::size_t k = 0; k < operations.size(); ++k) curves.push_back(completion(operations[k], nodes, k));
  return curves;
}

void write_compare_html(const ordered_json& comparison, const std::string& path) {
  write_file(path, assemble(html_assets::compare_js(), comparison));
}

std::string report_html_of(const std::string& dir) {
  const fs::path file = fs::path(dir) / "report.json";
  ordered_json report;
  try {
    report = ordered_json::parse(read_file(file));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(file.string() + ": not a report.json (" + e.what() + ")");
  }
  if (report.value("schema", "") != "fleetsim.report" || !report.contains("operations"))
    throw std::runtime_error(file.string() + ": not a fleetsim report.json (schema fleetsim.report)");
  return report_html(report, dir);
}

void rebuild_report_html(const std::string& dir) {
  write_file((fs::path(dir) / "report.html").string(), report_html_of(dir));
}

void write_sweep_html(const ordered_json& sweep, const std::vector<std::string>& shown,
                      const std::map<std::string, std::string>& links, const std::string& path) {
  ordered_json data;
  data["sweep"] = sweep;
  data["shown"] = shown;
  data["links"] = links;
  write_file(path, assemble(html_assets::sweep_js(), data));
}

}  // namespace fleetsim::reports
