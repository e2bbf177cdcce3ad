// at(time, fault.<kind> { ... }): partition, degrade, registry_outage, node_crash, disk_full, orchestrator_restart,
// gpu_failure, and fault.trace, which replays recorded outages from a CSV file as partitions.
#include <fstream>
#include <sstream>

#include "fields.hpp"
#include "loader_sections.hpp"

namespace fleetsim::sim::loader {
namespace {

using namespace fleetsim::models;

// Whether "name" is a declared site: <template>-<k> with 1 <= k <= the template's count.
bool is_site(const Scenario& scenario, const std::string& name) {
  for (const auto& tpl : scenario.sites) {
    const std::string prefix = tpl.name + "-";
    if (name.rfind(prefix, 0) != 0) continue;
    std::string index = name.substr(prefix.size());
    if (!index.empty() && index.find_first_not_of("0123456789") == std::string::npos && index.size() < 9 &&
        std::stoi(index) >= 1 && std::stoi(index) <= tpl.count)
      return true;
  }
  return false;
}

// Whether "name" is a declared node: <site>/n<k> with 1 <= k <= the template's nodes.
bool is_node(const Scenario& scenario, const std::string& name) {
  auto slash = name.rfind("/n");
  if (slash == std::string::npos || !is_site(scenario, name.substr(0, slash))) return false;
  std::string k = name.substr(slash + 2);
  int nodes_in_site = 0;
  for (const auto& tpl : scenario.sites)
    if (name.rfind(tpl.name + "-", 0) == 0) nodes_in_site = tpl.nodes;
  return !k.empty() && k.size() < 7 && k.find_first_not_of("0123456789") == std::string::npos && std::stoi(k) >= 1 &&
         std::stoi(k) <= nodes_in_site;
}

// A line of a trace file, for its messages.
struct TraceLine {
  const std::string& path;
  int number;
  const std::string& fault;
  const std::string& where;
  [[noreturn]] void bad(const std::string& problem) const {
    throw ScenarioError(path + ":" + std::to_string(number) + ": " + problem + " (trace of fault '" + fault + "' at " +
                        where + ")");
  }
};

// One row "site,down_at,up_at" of a trace: a partition of that site.
FaultSpec trace_outage(const TraceLine& at, const std::string& line, double at_s, const Scenario& scenario) {
  std::vector<std::string> cells;
  std::istringstream row(line);
  for (std::string cell; std::getline(row, cell, ',');) {
    cell.erase(0, cell.find_first_not_of(' '));
    cells.push_back(cell);
  }
  if (cells.size() != 3) at.bad("expected 3 columns site,down_at,up_at, got " + std::to_string(cells.size()));
  if (!is_site(scenario, cells[0])) at.bad("column site: no site named '" + cells[0] + "'");
  double down = 0, up = 0;
  try {
    down = parse_duration(cells[1]).seconds;
  } catch (const UnitError& e) {
    at.bad(std::string("column down_at: ") + e.what());
  }
  try {
    up = parse_duration(cells[2]).seconds;
  } catch (const UnitError& e) {
    at.bad(std::string("column up_at: ") + e.what());
  }
  if (!(up > down)) at.bad("up_at must come after down_at");
  FaultSpec fault;
  fault.kind = "partition";
  fault.name = at.fault;
  fault.at_s = at_s + down;
  fault.duration_s = up - down;
  fault.sites = {cells[0]};
  fault.where = at.path + ":" + std::to_string(at.number);
  return fault;
}

// fault.trace { file = "outages.csv" }: replays recorded outages. Each line is "site,down_at,up_at" (times with
// units, relative to the at() time); '#' starts a comment; a first line "site,down_at,up_at" is a header.
void read_trace(Fields& f, double at_s, const std::string& where, Scenario& scenario) {
  std::string name = f.string("name", "trace_" + std::to_string(scenario.faults.size() + 1));
  std::string path = f.string("file");
  f.finish();
  if (!path.empty() && path[0] != '/') {
    auto slash = scenario.file.rfind('/');
    if (slash != std::string::npos) path = scenario.file.substr(0, slash + 1) + path;
  }
  std::ifstream in(path);
  if (!in) f.fail_at("file", "cannot open the trace '" + path + "'");
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
    if (line.empty() || (number == 1 && line.rfind("site,", 0) == 0)) continue;
    scenario.faults.push_back(trace_outage(TraceLine{path, number, name, where}, line, at_s, scenario));
  }
}

// nodes = { "store-1/n2", ... } (node_crash, disk_full, gpu_failure)
void read_fault_nodes(Fields& f, const Scenario& scenario, FaultSpec& fault) {
  const json* nodes = f.list("nodes", "must be a list of node names such as { \"store-1/n2\" }");
  for (const auto& node : *nodes) {
    std::string name = node.is_string() ? node.get<std::string>() : std::string();
    if (!is_node(scenario, name))
      f.fail_at("nodes", "no node named '" + name + "' (nodes are <site>/n<k>, e.g. store-1/n2)");
    if (fault.kind == "gpu_failure")
      for (const auto& tpl : scenario.sites)
        if (name.rfind(tpl.name + "-", 0) == 0 && !tpl.inference)
          f.fail_at("nodes", "node '" + name + "' runs no GPU inference (site template '" + tpl.name +
                                 "' has no inference = { ... })");
    fault.sites.push_back(name);
  }
}

// sites = { "store-1", ... } by name, or template/where/fraction: a share of the sites of a template (or of the
// fleet) whose labels match.
void read_fault_sites(Fields& f, const Scenario& scenario, FaultSpec& fault) {
  fault.selector = f.string_map("where");
  if (!fault.selector.empty() && !any_template_has(scenario, fault.selector))
    f.fail_at("where", "no site template declared before this line has these labels");
  const json* sites = f.raw("sites");
  fault.site_template = f.string("template", std::string());
  fault.fraction = f.number("fraction", 1.0, 0.0, 1.0);
  if (sites != nullptr) {
    if (!fault.site_template.empty() || f.has("fraction") || !fault.selector.empty())
      f.fail_at("sites", "give either sites = { ... } or template/where/fraction, not both");
    f.list("sites", "must be a list of site names such as { \"store-1\", \"store-7\" }");
    for (const auto& site : *sites) {
      if (!site.is_string()) f.fail_at("sites", "must be a list of site names (strings)");
      std::string name = site.get<std::string>();
      if (!is_site(scenario, name))
        f.fail_at("sites", "no site named '" + name +
                               "' (sites are <template>-<k>, k from 1 to the count, "
                               "declared before this line)");
      fault.sites.push_back(name);
    }
  } else if (!fault.site_template.empty()) {
    bool known = false;
    for (const auto& tpl : scenario.sites) known = known || tpl.name == fault.site_template;
    if (!known) f.fail_at("template", "no site template '" + fault.site_template + "' is declared before this line");
  }
}

}  // namespace

void load_fault(const Declaration& d, Overridden overridden, Scenario& scenario) {
  std::string where = d.value["__where"].get<std::string>();
  std::string kind = d.value["__kind"].get<std::string>().substr(6);
  Fields f(d.value, where, "fault." + kind, "", overridden);
  if (kind == "trace") return read_trace(f, d.at_s, where, scenario);
  FaultSpec fault;
  fault.kind = kind;
  fault.at_s = d.at_s;
  fault.where = where;
  fault.name = f.name("name", kind + "_" + std::to_string(scenario.faults.size() + 1));
  const char* length_key = kind == "node_crash"             ? "reboot_after"
                           : kind == "orchestrator_restart" ? "downtime"
                                                            : "duration";
  fault.duration_s = f.duration(length_key).seconds;
  if (!(fault.duration_s > 0)) f.fail_at(length_key, "must be positive");
  if (kind == "disk_full") fault.free_bytes = f.bytes("free", Bytes{0}).count;
  if ((kind == "node_crash" || kind == "disk_full" || kind == "gpu_failure") && f.has("nodes")) {
    read_fault_nodes(f, scenario, fault);
  } else if (kind != "registry_outage" && kind != "orchestrator_restart") {  // those have one target: no selection
    if (kind == "degrade") fault.factor = f.number("factor", std::nullopt, 1e-6, 1.0);
    read_fault_sites(f, scenario, fault);
  }
  f.finish();
  scenario.faults.push_back(std::move(fault));
}

bool any_template_has(const Scenario& scenario, const std::map<std::string, std::string>& labels) {
  for (const auto& tpl : scenario.sites) {
    bool match = true;
    for (const auto& [k, v] : labels) {
      auto it = tpl.labels.find(k);
      match = match && it != tpl.labels.end() && it->second == v;
    }
    if (match) return true;
  }
  return false;
}

}  // namespace fleetsim::sim::loader
