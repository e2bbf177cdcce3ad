// load_scenario with its options, and the checks that need the whole scenario rather than one declaration: a
// deploy's where against every site template, the targets of GPU faults, and when a scenario without deploy or
// rollout ends.
#include <set>

#include "fields.hpp"
#include "loader_sections.hpp"

namespace fleetsim::sim {
namespace loader {
namespace {

// Set for the duration of one load_scenario call (the trace reader has no other way to them: the readers of the
// sections are called by scenario_loader.cpp with the declaration and the scenario only).
thread_local const LoadOptions* current_options = nullptr;

class OptionsScope {
 public:
  explicit OptionsScope(const LoadOptions& options) : previous_(current_options) { current_options = &options; }
  ~OptionsScope() { current_options = previous_; }
  OptionsScope(const OptionsScope&) = delete;
  OptionsScope& operator=(const OptionsScope&) = delete;

 private:
  const LoadOptions* previous_;
};

// Whether a node of this template has the value `value` for the label `key`.
bool template_has(const SiteTemplate& tpl, const std::string& key, const std::string& value, bool implicit) {
  // The orchestrator sets these two on every node, over a template label of the same name (make_inventory).
  if (implicit && key == "site_template") return value == tpl.name;
  if (implicit && key == "site") return site_number(tpl, value).has_value();
  auto it = tpl.labels.find(key);
  return it != tpl.labels.end() && it->second == value;
}

bool template_matches(const SiteTemplate& tpl, const std::map<std::string, std::string>& selector, bool implicit) {
  for (const auto& [key, value] : selector)
    if (!template_has(tpl, key, value, implicit)) return false;
  return true;
}

// The label names of the scenario's templates, and the values each takes.
std::map<std::string, std::set<std::string>> label_values(const Scenario& scenario, bool implicit) {
  std::map<std::string, std::set<std::string>> values;
  for (const auto& tpl : scenario.sites) {
    for (const auto& [key, value] : tpl.labels) values[key].insert(value);
    if (implicit) {
      values["site_template"].insert(tpl.name);
      values["site"].insert(tpl.name + "-1");  // one example: sites are <template>-<k>
    }
  }
  return values;
}

}  // namespace

const LoadOptions& load_options() {
  static const LoadOptions none;
  return current_options != nullptr ? *current_options : none;
}

std::optional<std::string> selector_problem(const Scenario& scenario,
                                            const std::map<std::string, std::string>& selector, bool implicit) {
  for (const auto& tpl : scenario.sites)
    if (template_matches(tpl, selector, implicit)) return std::nullopt;
  auto values = label_values(scenario, implicit);
  std::set<std::string> names;
  for (const auto& [key, v] : values) names.insert(key);
  for (const auto& [key, value] : selector) {
    if (!implicit && (key == "site" || key == "site_template") && values.count(key) == 0)
      return "a fault's where reads the site templates' own labels, and none has '" + key +
             "': choose with template = \"...\" or sites = { ... }";
    if (values.count(key) == 0) {
      auto near = closest(key, names);
      return "no site template has a label '" + key + "'" +
             (near ? " (did you mean '" + *near + "'?)" : " (labels: " + (names.empty() ? "none" : join(names)) + ")");
    }
    bool some = false;
    for (const auto& tpl : scenario.sites) some = some || template_has(tpl, key, value, implicit);
    if (!some)
      return "no site template has " + key + " = \"" + value + "\" (" + key + ": " + join(values[key]) +
             (key == "site" ? ", ..." : "") + ")";
  }
  return "no site template has all of these labels together";
}

namespace {

// A deploy whose where matches no node would target nothing and "succeed".
void check_deploy_selectors(const Scenario& scenario) {
  for (const auto& a : scenario.timeline) {
    if (a.kind != ActionSpec::Kind::deploy || a.selector.empty()) continue;
    if (auto problem = selector_problem(scenario, a.selector, true))
      throw ScenarioError(a.where + ": deploy: key 'where': matches no node: " + *problem);
  }
}

// fault.gpu_failure chooses among the nodes that run GPU inference: its template or where (or the whole fleet)
// must include some. (Faults given nodes or sites are checked where they are read.)
void check_gpu_faults(const Scenario& scenario) {
  for (const auto& fault : scenario.faults) {
    if (fault.kind != "gpu_failure" || !fault.sites.empty()) continue;
    bool some = false;
    for (const auto& tpl : scenario.sites)
      some = some || ((fault.site_template.empty() || tpl.name == fault.site_template) &&
                      template_matches(tpl, fault.selector, false) && tpl.inference.has_value());
    if (some) continue;
    std::string subject = fault.where + ": fault.gpu_failure: ";
    if (!fault.site_template.empty())
      throw ScenarioError(subject + "key 'template': site template '" + fault.site_template +
                          "' runs no GPU inference (it has no inference = { ... })");
    if (!fault.selector.empty())
      throw ScenarioError(subject + "key 'where': no site template with these labels runs GPU inference");
    throw ScenarioError(subject + "no site template runs GPU inference (none has inference = { ... })");
  }
}

// Without a deploy or rollout the run ends at simulation.duration: it must be given, and every scripted fault must
// start before it (a later one would never be injected).
void check_end_without_actions(const Scenario& scenario) {
  if (!scenario.timeline.empty()) return;
  const double end = scenario.simulation.duration.seconds;
  if (!(end > 0)) {
    const std::string& where = scenario.simulation.where.empty() ? scenario.file : scenario.simulation.where;
    throw ScenarioError(where +
                        ": the scenario has no deploy or rollout, so nothing decides when the run ends: give "
                        "simulation { duration = \"...\" } (e.g. \"6h\")");
  }
  for (const auto& fault : scenario.faults)
    if (fault.at_s >= end)
      throw ScenarioError(fault.where + ": at: fault '" + fault.name + "' starts at " +
                          models::format_duration(fault.at_s) + ", at or after simulation.duration (" +
                          models::format_duration(end) +
                          "): a scenario without deploy or rollout ends there, so it would never be injected");
}

}  // namespace
}  // namespace loader

Scenario load_scenario(const std::string& file, const std::vector<std::string>& overrides, const LoadOptions& options) {
  loader::OptionsScope scope(options);
  Scenario scenario = loader::read_declarations(file, overrides, options);
  for (const auto& [text, where] : options.expectations)
    scenario.expectations.push_back(parse_expectation(scenario, text, where));
  loader::check_end_without_actions(scenario);
  loader::check_deploy_selectors(scenario);
  loader::check_gpu_faults(scenario);
  return scenario;
}

}  // namespace fleetsim::sim
