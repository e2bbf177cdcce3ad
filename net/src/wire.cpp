#include "fleetsim/net/wire.hpp"

#include <cmath>

#include <nlohmann/json.hpp>

namespace fleetsim::net {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& where, const std::string& problem) {
  throw WireError(where + ": " + problem);
}

// On the wire every value has a name: FailureReason::none, which agents::to_string leaves empty, is "none".
const char* name_of(agents::NodeAppState state) { return agents::to_string(state); }
const char* name_of(agents::FailureReason reason) {
  return reason == agents::FailureReason::none ? "none" : agents::to_string(reason);
}

// An enum's value from its name, among the values below `count`.
template <typename Enum>
Enum enum_of(const std::string& where, const std::string& key, const std::string& text, int count) {
  std::string names;
  for (int i = 0; i < count; ++i) {
    const auto value = static_cast<Enum>(i);
    if (text == name_of(value)) return value;
    names += (names.empty() ? "" : ", ") + std::string(name_of(value));
  }
  fail(where, "key '" + key + "': '" + text + "' is not one of " + names);
}

const json& field(const json& object, const std::string& where, const std::string& key, json::value_t type) {
  auto it = object.find(key);
  if (it == object.end()) fail(where, "key '" + key + "' is missing");
  const bool number = type == json::value_t::number_unsigned || type == json::value_t::number_float;
  const bool ok = number ? (type == json::value_t::number_unsigned ? it->is_number_unsigned() : it->is_number())
                         : it->type() == type;
  if (!ok) fail(where, "key '" + key + "' has the wrong type (" + std::string(it->type_name()) + ")");
  return *it;
}
std::string text(const json& o, const std::string& where, const std::string& key) {
  return field(o, where, key, json::value_t::string).get<std::string>();
}
std::uint64_t count(const json& o, const std::string& where, const std::string& key) {
  return field(o, where, key, json::value_t::number_unsigned).get<std::uint64_t>();
}
// A time or an amount: finite and not negative (JSON numbers may overflow to infinity when parsed).
double real(const json& o, const std::string& where, const std::string& key) {
  const double v = field(o, where, key, json::value_t::number_float).get<double>();
  if (!std::isfinite(v)) fail(where, "key '" + key + "' is out of range");
  if (v < 0) fail(where, "key '" + key + "': " + o.at(key).dump() + " is negative");
  return v;
}
std::uint32_t small(const json& o, const std::string& where, const std::string& key) {
  const std::uint64_t v = count(o, where, key);
  if (v > 0xffffffffULL) fail(where, "key '" + key + "': " + std::to_string(v) + " is out of range");
  return static_cast<std::uint32_t>(v);
}

json release_json(const agents::Release& r) {
  json layers = json::array();
  for (const auto& l : r.layers) layers.push_back({{"digest", l.digest}, {"size_bytes", l.size_bytes}});
  return {{"app", r.app},         {"revision", r.revision}, {"version", r.version}, {"layers", layers},
          {"start_s", r.start_s}, {"ready_s", r.ready_s},   {"requires", r.requires}};
}

agents::Release release_of(const json& o, const std::string& where) {
  agents::Release r;
  r.app = text(o, where, "app");
  r.revision = small(o, where, "revision");
  r.version = text(o, where, "version");
  for (const auto& l : field(o, where, "layers", json::value_t::array)) {
    if (!l.is_object()) fail(where + ".layers", "a layer is not an object");
    r.layers.push_back({text(l, where + ".layers", "digest"), count(l, where + ".layers", "size_bytes")});
  }
  r.start_s = real(o, where, "start_s");
  r.ready_s = real(o, where, "ready_s");
  const json& needs = field(o, where, "requires", json::value_t::object);
  for (const auto& item : needs.items()) r.requires[item.key()] = real(needs, where + ".requires", item.key());
  return r;
}

json parse_line(std::string_view line) {
  json j = json::parse(line.begin(), line.end(), nullptr, false);
  if (j.is_discarded()) fail("message", "not JSON");
  if (!j.is_object()) fail("message", "not a JSON object");
  const auto v = j.find("v");
  if (v == j.end() || !v->is_number_integer() || v->get<int>() != kProtocolVersion)
    fail("message", "key 'v': protocol version " + std::to_string(kProtocolVersion) + " expected");
  return j;
}

}  // namespace

std::string encode(const agents::Message& message) {
  json j{{"v", kProtocolVersion}};
  if (const auto* d = std::get_if<agents::DesiredState>(&message)) {
    j["type"] = "desired_state";
    j["generation"] = d->generation;
    j["rollback"] = d->rollback;
    j["release"] = release_json(d->release);
  } else if (const auto* s = std::get_if<agents::StatusReport>(&message)) {
    j["type"] = "status";
    j["node"] = s->node;
    j["app"] = s->app;
    j["revision"] = s->revision;
    j["generation"] = s->generation;
    j["state"] = name_of(s->state);
    j["detail"] = s->detail;
    j["reason"] = name_of(s->reason);
  } else {
    const auto& p = std::get<agents::Poll>(message);
    j["type"] = "poll";
    j["node"] = p.node;
    j["generations"] = p.generations;
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

agents::Message decode(std::string_view line) {
  const json j = parse_line(line);
  const std::string type = text(j, "message", "type");
  if (type == "desired_state") {
    agents::DesiredState d;
    d.generation = count(j, type, "generation");
    d.rollback = field(j, type, "rollback", json::value_t::boolean).get<bool>();
    d.release = release_of(field(j, type, "release", json::value_t::object), type + ".release");
    return d;
  }
  if (type == "status") {
    agents::StatusReport s;
    s.node = small(j, type, "node");
    s.app = text(j, type, "app");
    s.revision = small(j, type, "revision");
    s.generation = count(j, type, "generation");
    s.state = enum_of<agents::NodeAppState>(type, "state", text(j, type, "state"), 5);
    s.detail = text(j, type, "detail");
    s.reason = enum_of<agents::FailureReason>(type, "reason", text(j, type, "reason"), 10);
    return s;
  }
  if (type == "poll") {
    agents::Poll p;
    p.node = small(j, type, "node");
    for (const auto& [app, generation] : field(j, type, "generations", json::value_t::object).items()) {
      if (!generation.is_number_unsigned()) fail(type + ".generations", "key '" + app + "' is not a generation");
      p.generations[app] = generation.get<std::uint64_t>();
    }
    return p;
  }
  fail("message", "key 'type': '" + type + "' is not one of desired_state, status, poll");
}

std::string encode_hello(agents::NodeId node) {
  return json{{"v", kProtocolVersion}, {"type", "hello"}, {"node", node}}.dump();
}

agents::NodeId decode_hello(std::string_view line) {
  const json j = parse_line(line);
  if (text(j, "hello", "type") != "hello") fail("hello", "key 'type': a connection starts with a hello");
  return small(j, "hello", "node");
}

}  // namespace fleetsim::net
