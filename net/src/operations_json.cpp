#include "fleetsim/net/operations_json.hpp"

#include <cmath>

#include "fleetsim/net/agent_host.hpp"
#include "json_keys.hpp"

namespace fleetsim::net {

namespace {

std::map<std::string, std::string> string_map(Keys& keys, const std::string& key, const json& v) {
  if (!v.is_object()) keys.fail(keys.path(key), "must map names to strings");
  std::map<std::string, std::string> out;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it.value().is_string()) keys.fail(keys.path(key + "." + it.key()), "must be a string");
    out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

std::size_t whole(Keys& keys, const std::string& key, const json& v) {
  const double d = keys.number(key, v, 0);
  if (d != std::floor(d) || d > 1e12) keys.fail(keys.path(key), "must be a whole number");
  return static_cast<std::size_t>(d);
}

double percent(Keys& keys, const std::string& key, const json& v) {
  const double d = keys.number(key, v, 0);
  if (d > 100) keys.fail(keys.path(key), "must be a percentage from 0 to 100");
  return d;
}

agents::Release release_from(const json& v, const std::string& origin) {
  Keys k(v, "release", origin);
  agents::Release r;
  r.app = k.string("app", k.need("app"));
  if (r.app.empty()) k.fail("release.app", "must not be empty");
  r.version = k.string("version", k.need("version"));
  const json& layers = k.need("layers");
  if (!layers.is_array()) k.fail("release.layers", "must be an array of {digest, size}");
  for (std::size_t i = 0; i < layers.size(); ++i) {
    Keys l(layers[i], "release.layers[" + std::to_string(i) + "]", origin);
    agents::Layer layer;
    layer.digest = l.string("digest", l.need("digest"));
    layer.size_bytes = l.bytes("size", l.need("size"));
    l.done();
    r.layers.push_back(layer);
  }
  if (const json* s = k.find("start")) r.start_s = k.duration("start", *s);
  if (const json* s = k.find("ready")) r.ready_s = k.duration("ready", *s);
  if (const json* s = k.find("requires")) {
    if (!s->is_object()) k.fail("release.requires", "must map resources (cpu, memory, gpu, gpu_memory) to amounts");
    for (auto it = s->begin(); it != s->end(); ++it) {
      static const std::set<std::string> known{"cpu", "memory", "gpu", "gpu_memory"};
      if (known.count(it.key()) == 0) k.fail("release.requires." + it.key(), "unknown resource (cpu, memory, gpu, gpu_memory)");
      r.requires[it.key()] = k.number("requires." + it.key(), it.value(), 0);
    }
  }
  k.done();
  return r;
}

agents::Strategy strategy_from(const json& v, const std::string& origin) {
  Keys k(v, "strategy", origin);
  agents::Strategy s;
  const std::string kind = k.string("kind", k.need("kind"));
  using K = agents::Strategy::Kind;
  if (kind == "all_at_once") s.kind = K::all_at_once;
  else if (kind == "batches") s.kind = K::batches;
  else if (kind == "exponential") s.kind = K::exponential;
  else if (kind == "canary") s.kind = K::canary;
  else if (kind == "rolling") s.kind = K::rolling;
  else k.fail("strategy.kind", "'" + kind + "' is not all_at_once, batches, exponential, canary or rolling");
  if (const json* x = k.find("batch_size")) s.batch_size = whole(k, "batch_size", *x);
  if (const json* x = k.find("batch_percent")) s.batch_percent = percent(k, "batch_percent", *x);
  if (const json* x = k.find("sites_in_parallel")) s.sites_in_parallel = whole(k, "sites_in_parallel", *x);
  if (const json* x = k.find("healthy_time")) s.healthy_time_s = k.duration("healthy_time", *x);
  if (const json* x = k.find("base_per_minute")) s.base_per_minute = k.number("base_per_minute", *x, 0);
  if (const json* x = k.find("increment_factor")) s.increment_factor = k.number("increment_factor", *x, 1);
  if (const json* x = k.find("increase_after")) s.increase_after = whole(k, "increase_after", *x);
  if (const json* x = k.find("count_succeeded")) {
    if (!x->is_boolean()) k.fail("strategy.count_succeeded", "must be true or false");
    s.count_succeeded = x->get<bool>();
  }
  if (const json* x = k.find("maximum_per_minute")) s.maximum_per_minute = k.number("maximum_per_minute", *x, 0);
  if (const json* x = k.find("canary_size")) s.canary_size = whole(k, "canary_size", *x);
  if (const json* x = k.find("canary_percent")) s.canary_percent = percent(k, "canary_percent", *x);
  if (const json* x = k.find("canary_selector")) s.canary_selector = string_map(k, "canary_selector", *x);
  if (const json* x = k.find("canary_time")) s.canary_time_s = k.duration("canary_time", *x);
  if (const json* x = k.find("max_unavailable")) s.max_unavailable = whole(k, "max_unavailable", *x);
  if (const json* x = k.find("max_unavailable_percent")) s.max_unavailable_percent = percent(k, "max_unavailable_percent", *x);
  if (const json* x = k.find("max_surge")) s.max_surge = whole(k, "max_surge", *x);
  if (const json* x = k.find("max_surge_percent")) s.max_surge_percent = percent(k, "max_surge_percent", *x);
  k.done();
  if (s.kind == K::exponential && !(s.base_per_minute > 0))
    k.fail("strategy.base_per_minute", "an exponential rollout needs a rate above 0");
  if (s.kind == K::canary && s.canary_size == 0 && !(s.canary_percent > 0) && s.canary_selector.empty())
    k.fail("strategy.canary_size", "a canary needs canary_size, canary_percent or canary_selector");
  return s;
}

const char* kind_name(agents::Strategy::Kind kind) {
  using K = agents::Strategy::Kind;
  switch (kind) {
    case K::all_at_once: return "all_at_once";
    case K::batches: return "batches";
    case K::exponential: return "exponential";
    case K::canary: return "canary";
    case K::rolling: return "rolling";
  }
  return "?";
}

}  // namespace

agents::Command command_from_json(const json& body, const std::string& origin) {
  if (!body.is_object()) throw ConfigError(origin + ": must be a JSON object");
  Keys k(body, "", origin);
  agents::Command c;
  const std::string kind = k.string("kind", k.need("kind"));
  if (kind == "deploy") c.kind = agents::Command::Kind::deploy;
  else if (kind == "rollout") c.kind = agents::Command::Kind::rollout;
  else k.fail("kind", "'" + kind + "' is not deploy or rollout");
  c.release = release_from(k.need("release"), origin);
  if (const json* x = k.find("selector")) {
    if (c.kind == agents::Command::Kind::rollout) k.fail("selector", "a rollout targets where the app runs: no selector");
    c.selector = string_map(k, "selector", *x);
  }
  if (const json* x = k.find("strategy")) c.strategy = strategy_from(*x, origin);
  if (const json* x = k.find("node_deadline")) c.node_deadline_s = k.duration("node_deadline", *x);
  if (const json* x = k.find("abort")) {
    Keys a(*x, "abort", origin);
    c.abort_threshold_percent = percent(a, "failure_threshold", a.need("failure_threshold"));
    if (const json* m = a.find("min_executed")) c.abort_min_executed = std::max<std::size_t>(1, whole(a, "min_executed", *m));
    if (const json* t = a.find("failure_type")) {
      const std::string type = a.string("failure_type", *t);
      using F = agents::Command::FailureType;
      if (type == "all") c.abort_failure_type = F::all;
      else if (type == "failed") c.abort_failure_type = F::failed;
      else if (type == "timed_out") c.abort_failure_type = F::timed_out;
      else a.fail("abort.failure_type", "'" + type + "' is not all, failed or timed_out");
    }
    a.done();
  }
  if (const json* x = k.find("rollback")) {
    const std::string rollback = k.string("rollback", *x);
    if (rollback == "revert_all") c.rollback = agents::Command::Rollback::revert_all;
    else if (rollback != "none") k.fail("rollback", "'" + rollback + "' is not none or revert_all");
    if (c.rollback == agents::Command::Rollback::revert_all && !(c.abort_threshold_percent > 0))
      k.fail("rollback", "revert_all needs an abort rule (abort.failure_threshold)");
  }
  k.done();
  return c;
}

json command_json(const agents::Command& c) {
  json layers = json::array();
  for (const auto& l : c.release.layers) layers.push_back({{"digest", l.digest}, {"size", l.size_bytes}});
  json release{{"app", c.release.app}, {"version", c.release.version}, {"layers", layers},
               {"start", c.release.start_s}, {"ready", c.release.ready_s}};
  if (!c.release.requires.empty()) release["requires"] = c.release.requires;
  const agents::Strategy& s = c.strategy;
  json strategy{{"kind", kind_name(s.kind)},
                {"batch_size", s.batch_size},
                {"batch_percent", s.batch_percent},
                {"sites_in_parallel", s.sites_in_parallel},
                {"healthy_time", s.healthy_time_s},
                {"base_per_minute", s.base_per_minute},
                {"increment_factor", s.increment_factor},
                {"increase_after", s.increase_after},
                {"count_succeeded", s.count_succeeded},
                {"maximum_per_minute", s.maximum_per_minute},
                {"canary_size", s.canary_size},
                {"canary_percent", s.canary_percent},
                {"canary_selector", s.canary_selector},
                {"canary_time", s.canary_time_s},
                {"max_unavailable", s.max_unavailable},
                {"max_unavailable_percent", s.max_unavailable_percent},
                {"max_surge", s.max_surge},
                {"max_surge_percent", s.max_surge_percent}};
  json out{{"kind", c.kind == agents::Command::Kind::deploy ? "deploy" : "rollout"},
           {"release", release},
           {"strategy", strategy},
           {"node_deadline", c.node_deadline_s}};
  if (c.kind == agents::Command::Kind::deploy) out["selector"] = c.selector;
  if (c.abort_threshold_percent > 0) {
    using F = agents::Command::FailureType;
    out["abort"] = {{"failure_threshold", c.abort_threshold_percent},
                    {"min_executed", c.abort_min_executed},
                    {"failure_type", c.abort_failure_type == F::all ? "all" : c.abort_failure_type == F::failed ? "failed" : "timed_out"}};
    out["rollback"] = c.rollback == agents::Command::Rollback::revert_all ? "revert_all" : "none";
  }
  return out;
}

json operation_json(const agents::Operation& op, bool with_targets) {
  json out{{"id", op.id},
           {"kind", op.kind == agents::Command::Kind::deploy ? "deploy" : "rollout"},
           {"app", op.app},
           {"version", op.version},
           {"from_revision", op.from_revision},
           {"to_revision", op.to_revision},
           {"rollback", op.is_rollback},
           {"started_at_s", op.started_at},
           {"finished", op.finished()},
           {"targets", op.targets.size()},
           {"succeeded", op.succeeded},
           {"failed", op.failed},
           {"timed_out", op.timed_out},
           {"canceled", op.canceled},
           {"pending", op.targets.size() - op.terminal()}};
  if (op.finished_at) out["finished_at_s"] = *op.finished_at;
  if (op.aborted_at) out["aborted_at_s"] = *op.aborted_at;
  if (op.rolled_back_by) out["rolled_back_by"] = *op.rolled_back_by;
  if (!op.unplaced.empty()) {
    json unplaced = json::array();
    for (const auto& [node, why] : op.unplaced) unplaced.push_back({{"node", node}, {"reason", why}});
    out["unplaced"] = unplaced;
  }
  if (with_targets) {
    json nodes = json::array();
    for (const auto& t : op.targets) {
      json n{{"node", t.node}, {"outcome", agents::to_string(t.outcome)}};
      if (t.notified_at >= 0) n["notified_at_s"] = t.notified_at;
      if (t.finished_at >= 0) n["finished_at_s"] = t.finished_at;
      if (t.reason != agents::FailureReason::none) n["reason"] = agents::to_string(t.reason);
      if (!t.detail.empty()) n["detail"] = t.detail;
      nodes.push_back(n);
    }
    out["nodes"] = nodes;
  }
  return out;
}

}  // namespace fleetsim::net
