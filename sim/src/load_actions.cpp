// at(time, deploy { ... }) and at(time, rollout { ... }): an operation on an app version, with its strategy
// (all_at_once, batches, canary, exponential, rolling), per-node deadline, abort rule and rollback.
#include "fields.hpp"
#include "loader_sections.hpp"

namespace fleetsim::sim::loader {
namespace {

using namespace fleetsim::models;

// app, version, name, and which nodes: deploy's where = { label = value }, or, for a rollout, those of an earlier
// deploy of the same app.
void read_target(Fields& f, const std::string& kind, const Scenario& scenario, ActionSpec& a) {
  a.app = f.string("app");
  a.version = f.string("version");
  const AppSpec* app = nullptr;
  for (const auto& candidate : scenario.apps)
    if (candidate.name == a.app) app = &candidate;
  if (app == nullptr) f.fail_at("app", "no app named '" + a.app + "' is declared before this line");
  if (app->find(a.version) == nullptr)
    f.fail_at("version", "app '" + a.app + "' has no version '" + a.version + "' (versions: " +
                             join(app->versions, [](const AppVersionSpec& v) { return v.version; }) + ")");
  a.name = f.name("name", kind + "_" + a.app + "_" + a.version);
  for (const auto& other : scenario.timeline)
    if (other.name == a.name)
      f.fail_at("name", "an operation named '" + a.name + "' is already scheduled at " + other.where +
                            "; give this one a name = \"...\"");
  if (a.kind == ActionSpec::Kind::deploy) {
    a.selector = f.string_map("where");
  } else {
    bool deployed = false;
    for (const auto& other : scenario.timeline)
      if (other.app == a.app && other.kind == ActionSpec::Kind::deploy && other.at_s <= a.at_s) deployed = true;
    if (!deployed) f.fail_at("app", "app '" + a.app + "' is rolled out before it is deployed");
  }
}

// Kubernetes RollingUpdate per site: max_unavailable = 1 | "25%", max_surge = 0 | "25%"
void read_rolling(Fields& st, ActionSpec& a) {
  const std::string expected = "must be a node count or a percentage such as \"25%\", got";
  st.count_or_percent("max_unavailable", 0, a.max_unavailable, a.max_unavailable_percent, expected);
  st.count_or_percent("max_surge", 0, a.max_surge, a.max_surge_percent, expected);
}

// AWS IoT Jobs exponentialRate, with its documented ranges.
void read_exponential(Fields& st, ActionSpec& a) {
  a.base_per_minute = st.number("base_per_minute", std::nullopt, 1, 1000);
  a.increment_factor = st.number("increment_factor", 1.0, 1.1, 5);
  a.increase_after = static_cast<std::uint64_t>(st.integer("increase_after", 0, 0, 1000000));
  a.count_succeeded = st.choice_of("criterion", false, {{"notified", false}, {"succeeded", true}},
                                   "must be \"notified\" or \"succeeded\", got");
  a.maximum_per_minute = st.number("maximum_per_minute", 0.0, 0, 1000);
  if (a.increase_after == 0 && st.has("increment_factor"))
    st.fail_at("increase_after", "is required with increment_factor");
}

// canary = 10 | "5%" | { where = { ring = "canary" } }; then the rest in batches of `size` (or at once)
void read_canary(Fields& st, const Scenario& scenario, ActionSpec& a) {
  if (a.sites_in_parallel > 0) st.fail_at("sites_in_parallel", "applies to kind = \"batches\" only");
  const json* canary = st.raw("canary");
  if (canary == nullptr)
    st.fail_at("canary",
               "is required: a node count, a percentage such as \"5%\", or "
               "{ where = { label = \"value\" } }");
  if (canary->is_object()) {
    Fields cf = st.sub("canary");
    a.canary_selector = cf.string_map("where");
    if (a.canary_selector.empty()) cf.fail_at("where", "is required: { label = \"value\", ... }");
    // Nodes also have the labels site and site_template (the orchestrator adds them).
    if (auto problem = selector_problem(scenario, a.canary_selector, true))
      cf.fail_at("where", "no site template declared before this line has these labels: " + *problem);
    cf.finish();
  } else {
    st.count_or_percent("canary", 1, a.canary_size, a.canary_percent,
                        "must be a node count, a percentage such as \"5%\" or { where = {...} }, got");
  }
  a.healthy_time = st.duration("healthy_time", Duration{0});
  a.canary_time = st.duration("canary_time", a.healthy_time);
}

// kind = "batches" | "canary": size = 10 | "10%" | sites_in_parallel = 2, healthy_time = "10m"
void read_batches(Fields& st, const Scenario& scenario, ActionSpec& a) {
  const json* size = st.raw("size");
  st.count_or_percent("size", 1, a.batch_size, a.batch_percent,
                      "must be a node count or a percentage such as \"10%\", got");
  a.sites_in_parallel = static_cast<std::uint64_t>(st.integer("sites_in_parallel", 0, 0, 1000000));
  if (a.strategy == "canary") {
    read_canary(st, scenario, a);
  } else {
    if ((size != nullptr) == (a.sites_in_parallel > 0))
      st.fail_at("size", "give either size (nodes or \"<n>%\") or sites_in_parallel");
    a.healthy_time = st.duration("healthy_time", Duration{0});
  }
}

// strategy = "all_at_once" | { kind = "batches" | "canary" | "exponential" | "rolling", ... }
void read_strategy(Fields& f, const Scenario& scenario, ActionSpec& a) {
  const json* strategy = f.raw("strategy");
  if (strategy == nullptr || !strategy->is_object()) {
    a.strategy = f.string("strategy", std::string("all_at_once"));
    if (a.strategy != "all_at_once")
      f.fail_at("strategy", "unknown strategy '" + a.strategy +
                                "' (available: \"all_at_once\", or a table { kind = \"batches\", ... })");
    return;
  }
  Fields st = f.sub("strategy");
  a.strategy = st.string("kind");
  if (a.strategy == "rolling")
    read_rolling(st, a);
  else if (a.strategy == "exponential")
    read_exponential(st, a);
  else if (a.strategy == "batches" || a.strategy == "canary")
    read_batches(st, scenario, a);
  else
    st.fail_at("kind", "unknown strategy kind '" + a.strategy + "' (available: batches, exponential, canary, rolling)");
  st.finish();
}

// abort = { failure_threshold = "30%", min_executed = 5, failure_type = "all" }
void read_abort(Fields ab, ActionSpec& a) {
  a.abort_threshold_percent = ab.percent("failure_threshold", "must be a percentage such as \"30%\", got");
  a.abort_min_executed = static_cast<std::uint64_t>(ab.integer("min_executed", 1, 1, 100000000));
  a.abort_failure_type = ab.choice("failure_type", "all", {"all", "failed", "timed_out"},
                                   "must be \"all\", \"failed\" or \"timed_out\" (AWS failureType), got");
  ab.finish();
}

}  // namespace

void load_action(const Declaration& d, Overridden overridden, Scenario& scenario) {
  std::string kind = d.value["__kind"].get<std::string>();
  std::string where = d.value["__where"].get<std::string>();
  Fields f(d.value, where, kind, "", overridden);
  ActionSpec a;
  a.kind = kind == "deploy" ? ActionSpec::Kind::deploy : ActionSpec::Kind::rollout;
  a.at_s = d.at_s;
  a.where = where;
  read_target(f, kind, scenario, a);
  read_strategy(f, scenario, a);
  a.node_deadline = f.duration("node_deadline", Duration{0});
  if (f.given("abort")) read_abort(f.sub("abort"), a);
  a.rollback = f.choice("rollback", "none", {"none", "revert_all"}, "must be \"none\" or \"revert_all\", got");
  if (a.rollback == "revert_all" && a.abort_threshold_percent == 0)
    f.fail_at("rollback", "revert_all needs an abort rule (abort = { failure_threshold = \"30%\" })");
  f.finish();
  scenario.timeline.push_back(std::move(a));
}

}  // namespace fleetsim::sim::loader
