// at(time, fault.<kind> { ... }): partition, degrade, registry_outage, node_crash, disk_full, orchestrator_restart,
// gpu_failure, and fault.trace, which replays recorded outages from a CSV file as partitions.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fields.hpp"
#include "loader_sections.hpp"

namespace fleetsim::sim::loader {
namespace {

namespace fs = std::filesystem;
using namespace fleetsim::models;

// The template of a declared site, <template>-<k> with 1 <= k <= the template's count, resolved exactly: with
// templates "a" and "a-1", "a-1-1" is the first site of "a-1" and nothing else.
const SiteTemplate* site_template_of(const Scenario& scenario, const std::string& site) {
  for (const auto& tpl : scenario.sites)
    if (site_number(tpl, site)) return &tpl;
  return nullptr;
}

// The template of a declared node, <site>/n<k> with 1 <= k <= the template's nodes (no leading zeros).
const SiteTemplate* node_template_of(const Scenario& scenario, const std::string& node) {
  auto slash = node.rfind("/n");
  if (slash == std::string::npos) return nullptr;
  const SiteTemplate* tpl = site_template_of(scenario, node.substr(0, slash));
  std::string k = node.substr(slash + 2);
  if (tpl == nullptr || k.empty() || k.size() > 6 || k[0] == '0' ||
      k.find_first_not_of("0123456789") != std::string::npos)
    return nullptr;
  return std::stoi(k) <= tpl->nodes ? tpl : nullptr;
}

bool is_site(const Scenario& scenario, const std::string& name) { return site_template_of(scenario, name) != nullptr; }

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

constexpr std::uintmax_t kMaxTraceBytes = 64ULL << 20;

// Whether `path` is `folder` or below it; both absolute and normal.
bool inside_any(const fs::path& path, const std::vector<fs::path>& folders) {
  for (const auto& folder : folders) {
    fs::path relative = path.lexically_relative(folder);
    if (!relative.empty() && *relative.begin() != "..") return true;
  }
  return false;
}

// The folders a trace may be in: the scenario's own for a relative path, and those allowed with --allow-path.
std::vector<fs::path> trace_folders(const std::string& requested, const std::string& scenario_file) {
  std::vector<fs::path> folders;
  fs::path scenario_folder = fs::path(scenario_file).parent_path();
  if (fs::path(requested).is_relative())
    folders.push_back(fs::absolute(scenario_folder.empty() ? fs::path(".") : scenario_folder).lexically_normal());
  for (const auto& allowed : load_options().allowed_paths)
    if (!allowed.empty()) folders.push_back(fs::absolute(allowed).lexically_normal());
  return folders;
}

// Reads at most kMaxTraceBytes + 1 bytes of a regular file.
std::string read_bounded(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::string text;
  char buffer[65536];
  while (in && text.size() <= kMaxTraceBytes) {
    in.read(buffer, sizeof buffer);
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
  }
  return text;
}

// The text of a trace file: `shown` is its path as messages name it (relative to the current folder). The file
// must be in a folder of trace_folders, before and after symlinks are resolved, a regular file, and at most
// 64 MiB. A path refused for where it is gets the same message whether or not something exists there.
std::string read_trace_file(const Fields& f, const std::string& requested, const std::string& shown,
                            const std::string& scenario_file) {
  const std::string refused = "the trace '" + requested +
                              "' is outside the scenario's folder: a trace file must be in the scenario's folder "
                              "(or below it), or in a folder allowed with --allow-path";
  std::vector<fs::path> folders = trace_folders(requested, scenario_file);
  fs::path full = fs::absolute(shown).lexically_normal();
  if (!inside_any(full, folders)) f.fail_at("file", refused);  // decided before the file system is asked anything
  std::error_code error;
  fs::path real = fs::canonical(full, error);
  if (error) f.fail_at("file", "cannot open the trace '" + shown + "'");
  std::vector<fs::path> real_folders;
  for (const auto& folder : folders)
    if (fs::path r = fs::canonical(folder, error); !error) real_folders.push_back(r);
  if (!inside_any(real, real_folders)) f.fail_at("file", refused);  // a symlink that leads out
  if (!fs::is_regular_file(real, error)) f.fail_at("file", "the trace '" + shown + "' is not a regular file");
  // The size as listed, then as read (a file may grow, or list no size, as /proc's do).
  std::uintmax_t size = fs::file_size(real, error);
  std::string text = error || size > kMaxTraceBytes ? std::string() : read_bounded(real);
  if (error || size > kMaxTraceBytes || text.size() > kMaxTraceBytes)
    f.fail_at("file", "the trace '" + shown + "' is larger than 64 MiB");
  return text;
}

// fault.trace { file = "outages.csv" }: replays recorded outages. Each line is "site,down_at,up_at" (times with
// units, relative to the at() time); '#' starts a comment; a first line "site,down_at,up_at" is a header.
void read_trace(Fields& f, double at_s, const std::string& where, Scenario& scenario) {
  std::string name = f.string("name", "trace_" + std::to_string(scenario.faults.size() + 1));
  std::string requested = f.string("file");
  f.finish();
  if (requested.empty()) f.fail_at("file", "must name a CSV file, e.g. file = \"traces/october.csv\"");
  std::string path = requested;  // relative to the scenario's folder
  if (path[0] != '/') {
    auto slash = scenario.file.rfind('/');
    if (slash != std::string::npos) path = scenario.file.substr(0, slash + 1) + path;
  }
  std::istringstream in(read_trace_file(f, requested, path, scenario.file));
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
    const SiteTemplate* tpl = node_template_of(scenario, name);
    if (tpl == nullptr) f.fail_at("nodes", "no node named '" + name + "' (nodes are <site>/n<k>, e.g. store-1/n2)");
    if (fault.kind == "gpu_failure" && !tpl->inference)
      f.fail_at("nodes", "node '" + name + "' runs no GPU inference (site template '" + tpl->name +
                             "' has no inference = { ... })");
    fault.sites.push_back(name);
  }
}

// A site named in sites = { ... }: a partition or degradation targets it; a node fault targets its nodes (the
// runtime resolves node faults' targets as node names), gpu_failure only where GPU inference runs.
void add_site_target(Fields& f, const SiteTemplate& tpl, const std::string& site, FaultSpec& fault) {
  if (fault.kind != "node_crash" && fault.kind != "disk_full" && fault.kind != "gpu_failure") {
    fault.sites.push_back(site);
    return;
  }
  if (fault.kind == "gpu_failure" && !tpl.inference)
    f.fail_at("sites", "site '" + site + "' runs no GPU inference (site template '" + tpl.name +
                           "' has no inference = { ... })");
  for (int k = 1; k <= tpl.nodes; ++k) fault.sites.push_back(site + "/n" + std::to_string(k));
}

// sites = { "store-1", ... } by name, or template/where/fraction: a share of the sites of a template (or of the
// fleet) whose labels match.
void read_fault_sites(Fields& f, const Scenario& scenario, FaultSpec& fault) {
  fault.selector = f.string_map("where");
  if (!fault.selector.empty() && !any_template_has(scenario, fault.selector))
    f.fail_at("where", "no site template declared before this line has these labels: " +
                           selector_problem(scenario, fault.selector, false).value_or(""));
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
      const SiteTemplate* tpl = site_template_of(scenario, name);
      if (tpl == nullptr)
        f.fail_at("sites", "no site named '" + name +
                               "' (sites are <template>-<k>, k from 1 to the count, "
                               "declared before this line)");
      add_site_target(f, *tpl, name, fault);
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

std::optional<int> site_number(const SiteTemplate& tpl, const std::string& site) {
  if (site.size() <= tpl.name.size() + 1 || site.compare(0, tpl.name.size(), tpl.name) != 0 ||
      site[tpl.name.size()] != '-')
    return std::nullopt;
  std::string k = site.substr(tpl.name.size() + 1);
  if (k.size() > 7 || k[0] == '0' || k.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  int number = std::stoi(k);
  if (number > tpl.count) return std::nullopt;
  return number;
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
