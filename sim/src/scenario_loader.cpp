// Runs a scenario file in one Lua 5.4 state, records what it declares as plain JSON values with the file:line of
// each declaration, applies --set overrides, and validates everything into a Scenario.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>
#include <sstream>

#include <lua.hpp>
#include <nlohmann/json.hpp>

#include "fleetsim/sim/scenario.hpp"

namespace fleetsim::sim {
namespace {

using nlohmann::json;
using namespace fleetsim::models;

// Sugar over the fleetsim table, in Lua, embedded in the binary.
constexpr const char* kPrelude = R"lua(
local F = fleetsim
scenario, cloud, site, app = F.scenario, F.cloud, F.site, F.app
deploy, rollout, at, expect, simulation = F.deploy, F.rollout, F.at, F.expect, F.simulation
fault = F.fault
)lua";

struct Declaration {
  std::string kind;  // scenario, cloud, site, app, action, expect, simulation
  json value;
  std::string where;  // file:line of the call
  double at_s = 0;    // actions only
};

struct LoaderState {
  std::vector<Declaration> declarations;
};

LoaderState& state_of(lua_State* L) { return *static_cast<LoaderState*>(lua_touserdata(L, lua_upvalueindex(1))); }

constexpr char kChunkMark = '\x1f';
constexpr const char* kChunkName = "=\x1f";
thread_local std::string chunk_file;  // the path of the scenario being loaded

std::string where_of(lua_State* L, int level) {
  lua_Debug ar;
  if (lua_getstack(L, level, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
    std::string src = ar.source;
    if (!src.empty() && (src[0] == '@' || src[0] == '=')) src = src.substr(1);
    if (src.size() == 1 && src[0] == kChunkMark) src = chunk_file;
    return src + ":" + std::to_string(ar.currentline);
  }
  return "?";
}

[[noreturn]] void raise(lua_State* L, const std::string& message) {
  lua_pushstring(L, message.c_str());
  lua_error(L);
  std::abort();  // not reached
}

json to_json(lua_State* L, int index, const std::string& path, int depth);

json table_to_json(lua_State* L, int index, const std::string& path, int depth) {
  if (depth > 32) raise(L, where_of(L, 1) + ": " + path + ": tables nested too deeply");
  index = lua_absindex(L, index);
  // Arrays are tables whose keys are exactly 1..n; records have only string keys.
  lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, index));
  std::size_t keys = 0;
  bool string_keys = false;
  lua_pushnil(L);
  while (lua_next(L, index) != 0) {
    ++keys;
    if (lua_type(L, -2) == LUA_TSTRING) string_keys = true;
    lua_pop(L, 1);
  }
  if (keys == 0) return json::object();
  if (!string_keys && static_cast<lua_Integer>(keys) == n) {
    json array = json::array();
    for (lua_Integer i = 1; i <= n; ++i) {
      lua_rawgeti(L, index, i);
      array.push_back(to_json(L, -1, path + "[" + std::to_string(i) + "]", depth + 1));
      lua_pop(L, 1);
    }
    return array;
  }
  json object = json::object();
  lua_pushnil(L);
  while (lua_next(L, index) != 0) {
    if (lua_type(L, -2) != LUA_TSTRING)
      raise(L, where_of(L, 1) + ": " + path + ": a table mixes a list with named keys");
    std::string key = lua_tostring(L, -2);
    object[key] = to_json(L, -1, path.empty() ? key : path + "." + key, depth + 1);
    lua_pop(L, 1);
  }
  return object;
}

json to_json(lua_State* L, int index, const std::string& path, int depth) {
  switch (lua_type(L, index)) {
    case LUA_TNIL:
      return nullptr;
    case LUA_TBOOLEAN:
      return static_cast<bool>(lua_toboolean(L, index));
    case LUA_TNUMBER:
      if (lua_isinteger(L, index)) return static_cast<std::int64_t>(lua_tointeger(L, index));
      return lua_tonumber(L, index);
    case LUA_TSTRING:
      return std::string(lua_tostring(L, index));
    case LUA_TTABLE:
      return table_to_json(L, index, path, depth);
    default:
      raise(L, where_of(L, 1) + ": " + (path.empty() ? std::string("value") : path) + ": a " + luaL_typename(L, index) +
                   " cannot be part of a scenario (only tables, strings, numbers, booleans)");
  }
}

json table_argument(lua_State* L, const char* function) {
  if (lua_type(L, 1) != LUA_TTABLE)
    raise(L, where_of(L, 1) + ": " + function + " expects a table, e.g. " + function + " { ... }, got a " +
                 luaL_typename(L, 1));
  return table_to_json(L, 1, "", 0);
}

int declare(lua_State* L, const char* kind) {
  json value = table_argument(L, kind);
  state_of(L).declarations.push_back({kind, std::move(value), where_of(L, 1), 0});
  return 0;
}

int l_scenario(lua_State* L) { return declare(L, "scenario"); }
int l_cloud(lua_State* L) { return declare(L, "cloud"); }
int l_site(lua_State* L) { return declare(L, "site"); }
int l_app(lua_State* L) { return declare(L, "app"); }
int l_simulation(lua_State* L) { return declare(L, "simulation"); }

// deploy{...} and rollout{...} build an action value; at() schedules it.
int make_action(lua_State* L, const char* kind) {
  json value = table_argument(L, kind);
  value["__kind"] = kind;
  value["__where"] = where_of(L, 1);
  lua_newtable(L);
  lua_pushstring(L, value.dump().c_str());
  lua_setfield(L, -2, "__fleetsim_action");
  return 1;
}
int l_deploy(lua_State* L) { return make_action(L, "deploy"); }
int l_rollout(lua_State* L) { return make_action(L, "rollout"); }
int l_fault_partition(lua_State* L) { return make_action(L, "fault.partition"); }
int l_fault_degrade(lua_State* L) { return make_action(L, "fault.degrade"); }
int l_fault_registry_outage(lua_State* L) { return make_action(L, "fault.registry_outage"); }
int l_fault_trace(lua_State* L) { return make_action(L, "fault.trace"); }
int l_fault_node_crash(lua_State* L) { return make_action(L, "fault.node_crash"); }
int l_fault_disk_full(lua_State* L) { return make_action(L, "fault.disk_full"); }
int l_fault_orchestrator_restart(lua_State* L) { return make_action(L, "fault.orchestrator_restart"); }
int l_fault_gpu_failure(lua_State* L) { return make_action(L, "fault.gpu_failure"); }

int l_at(lua_State* L) {
  std::string where = where_of(L, 1);
  if (lua_type(L, 1) != LUA_TSTRING)
    raise(L, where + ": at: the first argument is a time with a unit, e.g. at(\"10m\", ...), got a " +
                 luaL_typename(L, 1));
  double at_s = 0;
  try {
    at_s = parse_duration(lua_tostring(L, 1)).seconds;
  } catch (const UnitError& e) {
    raise(L, where + ": at: " + e.what());
  }
  if (lua_type(L, 2) != LUA_TTABLE || lua_getfield(L, 2, "__fleetsim_action") != LUA_TSTRING)
    raise(L, where +
                 ": at: the second argument must be an action such as deploy{...}, rollout{...} or "
                 "fault.partition{...}");
  json action = json::parse(lua_tostring(L, -1));
  state_of(L).declarations.push_back({"action", std::move(action), where, at_s});
  return 0;
}

int l_expect(lua_State* L) {
  std::string where = where_of(L, 1);
  if (lua_type(L, 1) != LUA_TSTRING)
    raise(L, where + ": expect takes a string such as expect \"rollout.time_to_100 <= 45m\", got a " +
                 luaL_typename(L, 1));
  state_of(L).declarations.push_back({"expect", std::string(lua_tostring(L, 1)), where, 0});
  return 0;
}

// ---- --set overrides ----------------------------------------------------------------------------------------

json parse_override_value(const std::string& text) {
  if (text == "true") return true;
  if (text == "false") return false;
  if (!text.empty()) {
    char* end = nullptr;
    long long integer = std::strtoll(text.c_str(), &end, 10);
    if (end != nullptr && *end == '\0' && text.find_first_not_of("+-0123456789") == std::string::npos)
      return static_cast<std::int64_t>(integer);
    double real = std::strtod(text.c_str(), &end);
    if (end != nullptr && *end == '\0' && std::isfinite(real)) return real;
  }
  return text;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, sep)) parts.push_back(part);
  return parts;
}

// ---- validation ---------------------------------------------------------------------------------------------

// Reads the keys of one declared table, remembering which keys were used, so that unknown keys are reported.
class Fields {
 public:
  Fields(const json& value, std::string where, std::string subject, std::string prefix,
         const std::set<std::string>* overridden)
      : value_(value),
        where_(std::move(where)),
        subject_(std::move(subject)),
        prefix_(std::move(prefix)),
        overridden_(overridden) {
    if (!value_.is_object()) fail_at("", std::string("must be a table of named keys, got ") + value_.type_name());
  }

  [[noreturn]] void fail_at(const std::string& key, const std::string& problem) const {
    std::string path = prefix_.empty() ? key : (key.empty() ? prefix_ : prefix_ + "." + key);
    std::string message = where_ + ": " + subject_ + ": " + (path.empty() ? "" : "key '" + path + "': ") + problem;
    if (overridden_ != nullptr && !path.empty()) {
      for (const auto& o : *overridden_)
        if (o == path) message += " (value from --set)";
    }
    throw ScenarioError(message);
  }

  bool has(const std::string& key) const { return value_.contains(key) && !value_.at(key).is_null(); }
  const json* raw(const std::string& key) {
    used_.insert(key);
    if (!has(key)) return nullptr;
    return &value_.at(key);
  }

  std::string string(const std::string& key, std::optional<std::string> fallback = std::nullopt) {
    const json* v = raw(key);
    if (v == nullptr) return require(key, fallback);
    if (!v->is_string()) fail_at(key, std::string("must be a string, got ") + v->type_name());
    return v->get<std::string>();
  }

  // Numbers may also come from --set as text; integers must be whole and within [lo, hi].
  std::int64_t integer(const std::string& key, std::optional<std::int64_t> fallback, std::int64_t lo, std::int64_t hi) {
    const json* v = raw(key);
    if (v == nullptr) return require(key, fallback);
    std::int64_t result = 0;
    if (v->is_number_integer()) {
      result = v->get<std::int64_t>();
    } else if (v->is_number_float()) {
      double d = v->get<double>();
      if (d != std::floor(d) || std::fabs(d) > 9e15) fail_at(key, "must be a whole number, got " + v->dump());
      result = static_cast<std::int64_t>(d);
    } else {
      fail_at(key, std::string("must be a whole number, got ") + v->type_name() +
                       (v->is_string() ? " '" + v->get<std::string>() + "'" : ""));
    }
    if (result < lo || result > hi)
      fail_at(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
                       std::to_string(result));
    return result;
  }

  double number(const std::string& key, std::optional<double> fallback, double lo, double hi) {
    const json* v = raw(key);
    if (v == nullptr) return require(key, fallback);
    if (!v->is_number()) fail_at(key, std::string("must be a number, got ") + v->type_name());
    double d = v->get<double>();
    if (!(d >= lo && d <= hi)) fail_at(key, "must be between " + fmt(lo) + " and " + fmt(hi) + ", got " + fmt(d));
    return d;
  }

  bool boolean(const std::string& key, bool fallback) {
    const json* v = raw(key);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) fail_at(key, std::string("must be true or false, got ") + v->type_name());
    return v->get<bool>();
  }

  template <typename T, typename Parse>
  T unit(const std::string& key, std::optional<T> fallback, Parse parse, const char* example) {
    const json* v = raw(key);
    if (v == nullptr) return require(key, fallback);
    if (!v->is_string())
      fail_at(key, std::string("must be a string with a unit, e.g. \"") + example + "\", got " +
                       (v->is_number() ? "the bare number " + v->dump() + " (no unit)" : v->type_name()));
    try {
      return parse(v->get<std::string>());
    } catch (const UnitError& e) {
      fail_at(key, e.what());
    }
  }
  Bytes bytes(const std::string& key, std::optional<Bytes> fallback = std::nullopt) {
    return unit<Bytes>(key, fallback, parse_bytes, "450MiB");
  }
  Rate rate(const std::string& key, std::optional<Rate> fallback = std::nullopt) {
    Rate r = unit<Rate>(key, fallback, parse_rate, "20Mbps");
    if (!(r.bytes_per_s > 0)) fail_at(key, "must be a positive rate");
    return r;
  }
  Duration duration(const std::string& key, std::optional<Duration> fallback = std::nullopt) {
    return unit<Duration>(key, fallback, parse_duration, "60ms");
  }
  Frequency frequency(const std::string& key, std::optional<Frequency> fallback = std::nullopt) {
    Frequency f = unit<Frequency>(key, fallback, parse_frequency, "5/s");
    if (!(f.per_s > 0)) fail_at(key, "must be a positive rate");
    return f;
  }
  const std::string& where() const { return where_; }
  const std::string& subject() const { return subject_; }
  const std::set<std::string>* overridden() const { return overridden_; }

  std::map<std::string, std::string> string_map(const std::string& key) {
    std::map<std::string, std::string> out;
    const json* v = raw(key);
    if (v == nullptr) return out;
    if (!v->is_object()) fail_at(key, std::string("must be a table of name = value, got ") + v->type_name());
    for (const auto& [k, item] : v->items()) {
      if (item.is_string())
        out[k] = item.get<std::string>();
      else if (item.is_number() || item.is_boolean())
        out[k] = item.dump();
      else
        fail_at(key + "." + k, std::string("must be a string, got ") + item.type_name());
    }
    return out;
  }

  Fields sub(const std::string& key) {
    used_.insert(key);
    static const json empty = json::object();
    const json& v = has(key) ? value_.at(key) : empty;
    return Fields(v, where_, subject_, prefix_.empty() ? key : prefix_ + "." + key, overridden_);
  }

  // Every key that was not read is a mistake (a typo or an unsupported option).
  void finish() const {
    for (const auto& [key, v] : value_.items()) {
      if (key.rfind("__", 0) == 0) continue;
      if (used_.count(key) == 0) {
        std::string known;
        for (const auto& k : used_) known += (known.empty() ? "" : ", ") + k;
        fail_at(key, "unknown key (known keys here: " + known + ")");
      }
    }
  }

 private:
  template <typename T>
  T require(const std::string& key, const std::optional<T>& fallback) const {
    if (!fallback) {
      // A missing key is often a misspelt one: name the present key that is closest to it.
      for (const auto& [present, v] : value_.items())
        if (present != key && edit_distance(present, key) <= 2)
          fail_at(key, "is required (did you mean it instead of '" + present + "'?)");
      fail_at(key, "is required");
    }
    return *fallback;
  }
  static std::size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      std::size_t diagonal = row[0];
      row[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j) {
        std::size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
        diagonal = up;
      }
    }
    return row[b.size()];
  }
  static std::string fmt(double d) {
    std::ostringstream out;
    out << d;
    return out.str();
  }

  const json& value_;
  std::string where_;
  std::string subject_;
  std::string prefix_;
  const std::set<std::string>* overridden_;
  std::set<std::string> used_;
};

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
  });
}

AgentSpec read_agent(Fields f) {
  AgentSpec a;
  a.notify_jitter = f.duration("notify_jitter", Duration{0});
  a.max_concurrent_downloads = static_cast<int>(f.integer("max_concurrent_downloads", 3, 1, 64));
  a.resume = f.string("resume", std::string("range"));
  if (a.resume != "range" && a.resume != "restart")
    f.fail_at("resume",
              "must be \"range\" (continue at the byte offset) or \"restart\" (start over), got '" + a.resume + "'");
  a.max_fetch_attempts = static_cast<int>(f.integer("max_fetch_attempts", 5, 1, 1000));
  a.retry_initial = f.duration("retry_initial", Duration{10});
  a.retry_max = f.duration("retry_max", Duration{300});
  a.verification_window = f.duration("verification_window", Duration{0});
  a.rollback = f.string("rollback", std::string("local"));
  if (a.rollback != "local" && a.rollback != "none")
    f.fail_at("rollback",
              "must be \"local\" (restore the previous release, Greengrass ROLLBACK) or \"none\" (keep the "
              "failed release, DO_NOTHING), got '" +
                  a.rollback + "'");
  a.restart_initial = f.duration("restart_initial", Duration{10});
  a.restart_max = f.duration("restart_max", Duration{300});
  a.restart_reset = f.duration("restart_reset", Duration{600});
  a.poll_interval = f.duration("poll_interval", Duration{0});
  if (a.poll_interval.seconds > 0 && a.poll_interval.seconds < 1) f.fail_at("poll_interval", "must be at least 1s");
  a.poll_jitter = f.number("poll_jitter", 0.2, 0.0, 1.0);
  if (!(a.restart_initial.seconds > 0)) f.fail_at("restart_initial", "must be positive");
  if (a.restart_max.seconds < a.restart_initial.seconds) f.fail_at("restart_max", "must be at least restart_initial");
  f.finish();
  return a;
}

HardwareSpec read_hardware(Fields f) {
  HardwareSpec h;
  h.cpu_cores = static_cast<int>(f.integer("cpu", 4, 1, 1024));
  h.memory = f.bytes("memory", Bytes{8ULL << 30});
  h.disk = f.bytes("disk", Bytes{64ULL << 30});
  h.arch = f.string("arch", std::string("x86_64"));
  if (f.has("gpu")) {
    Fields g = f.sub("gpu");
    GpuSpec gpu;
    gpu.model = g.string("model");
    gpu.count = static_cast<int>(g.integer("count", 1, 1, 64));
    gpu.memory = g.bytes("memory", Bytes{16ULL << 30});
    gpu.throughput = g.frequency("throughput", Frequency{30});
    gpu.driver = g.string("driver", std::string());
    g.finish();
    h.gpu = gpu;
  } else {
    f.raw("gpu");
  }
  f.finish();
  return h;
}

namespace telem = fleetsim::agents::telemetry;

// The stream keys of a bus table (the bus itself, or one entry of bus.streams).
void read_stream(Fields& f, telem::StreamConfig& c) {
  if (f.has("storage")) {
    std::string storage = f.string("storage");
    if (storage != "memory" && storage != "disk")
      f.fail_at("storage", "must be \"memory\" or \"disk\", got '" + storage + "'");
    c.storage = storage == "memory" ? telem::Storage::memory : telem::Storage::disk;
  } else {
    f.raw("storage");
  }
  c.max_bytes = f.bytes("max_bytes", Bytes{c.max_bytes}).count;
  c.max_msgs = static_cast<std::uint64_t>(f.integer("max_msgs", static_cast<std::int64_t>(c.max_msgs), 0, 1LL << 50));
  if (c.max_bytes == 0 && c.max_msgs == 0)
    f.fail_at(f.has("max_bytes") ? "max_bytes" : "max_msgs", "a stream needs a bound: max_bytes or max_msgs above 0");
  c.segment_bytes = f.bytes("segment", Bytes{c.segment_bytes}).count;
  c.ttl_s = f.duration("ttl", Duration{c.ttl_s}).seconds;
  if (f.has("overflow")) {
    std::string o = f.string("overflow");
    if (o == "drop_oldest")
      c.overflow = telem::Overflow::drop_oldest;
    else if (o == "reject_new")
      c.overflow = telem::Overflow::reject_new;
    else if (o == "priority_evict")
      c.overflow = telem::Overflow::priority_evict;
    else
      f.fail_at("overflow", "must be drop_oldest, reject_new or priority_evict, got '" + o + "'");
  } else {
    f.raw("overflow");
  }
  c.priority = static_cast<int>(f.integer("priority", c.priority, 0, 9));
  c.fsync_interval_s = f.duration("fsync_interval", Duration{c.fsync_interval_s}).seconds;
  c.keep_qos0_offline = f.boolean("keep_qos0_offline", c.keep_qos0_offline);
}

BusSpec read_bus(Fields f, const std::vector<std::string>& streams) {
  BusSpec b;
  b.config.preset = "";
  std::string name = f.string("preset", std::string());
  if (!name.empty()) {
    auto p = telem::preset(name);
    if (!p) {
      std::string known;
      for (const auto& n : telem::preset_names()) known += (known.empty() ? "" : ", ") + n;
      f.fail_at("preset", "unknown preset '" + name + "' (known: " + known + ")");
    }
    b.config = *p;
  }
  read_stream(f, b.config.stream);
  auto& fw = b.config.forwarder;
  fw.batch_interval_s = f.duration("batch_interval", Duration{fw.batch_interval_s}).seconds;
  if (!(fw.batch_interval_s >= 0.1)) f.fail_at("batch_interval", "must be at least 100ms");
  fw.max_batch_bytes = f.bytes("max_batch", Bytes{fw.max_batch_bytes}).count;
  fw.max_batch_msgs = static_cast<std::uint64_t>(
      f.integer("max_batch_msgs", static_cast<std::int64_t>(fw.max_batch_msgs), 0, 1LL << 40));
  if (fw.max_batch_bytes == 0 && fw.max_batch_msgs == 0)
    f.fail_at("max_batch", "a batch needs a bound: max_batch or max_batch_msgs above 0");
  fw.compression = f.number("compression", fw.compression, 1e-3, 1.0);
  if (f.has("upload_cap"))
    fw.upload_cap_bytes_per_s = f.rate("upload_cap").bytes_per_s;
  else
    f.raw("upload_cap");
  fw.retry_initial_s = f.duration("retry_initial", Duration{fw.retry_initial_s}).seconds;
  fw.retry_max_s = f.duration("retry_max", Duration{fw.retry_max_s}).seconds;
  if (!(fw.retry_initial_s > 0)) f.fail_at("retry_initial", "must be positive");
  if (fw.retry_max_s < fw.retry_initial_s) f.fail_at("retry_max", "must be at least retry_initial");
  fw.retry_limit = static_cast<unsigned>(f.integer("retry_limit", fw.retry_limit, 0, 1000000));
  const json* per = f.raw("streams");
  if (per != nullptr) {
    if (!per->is_object()) f.fail_at("streams", "must be a table of stream name = { ... }");
    Fields sf = f.sub("streams");
    for (const auto& [stream, body] : per->items()) {
      if (std::find(streams.begin(), streams.end(), stream) == streams.end()) {
        std::string known;
        for (const auto& n : streams) known += (known.empty() ? "" : ", ") + n;
        sf.fail_at(stream, "no sensor or inference app of this site writes to a stream '" + stream +
                               "' (streams: " + known + ")");
      }
      Fields one = sf.sub(stream);
      telem::StreamConfig c = b.config.stream;
      read_stream(one, c);
      one.finish();
      b.streams[stream] = c;
    }
  }
  f.finish();
  return b;
}

std::vector<SensorSpec> read_sensors(Fields& f, const json& list) {
  std::vector<SensorSpec> out;
  if (!list.is_array() || list.empty())
    f.fail_at("sensors", "must be a list of sensor tables, e.g. { { name = \"temp\", rate = \"1/s\" } }");
  for (std::size_t i = 0; i < list.size(); ++i) {
    Fields one(list[i], f.where(), f.subject(), "sensors." + std::to_string(i + 1), f.overridden());
    SensorSpec sensor;
    sensor.name = one.string("name");
    if (!valid_name(sensor.name)) one.fail_at("name", "must be 1-64 letters, digits, '_', '-' or '.'");
    for (const auto& other : out)
      if (other.name == sensor.name) one.fail_at("name", "a sensor '" + sensor.name + "' is already in this list");
    sensor.stream = one.string("stream", std::string("telemetry"));
    if (!valid_name(sensor.stream)) one.fail_at("stream", "must be 1-64 letters, digits, '_', '-' or '.'");
    std::string process = one.string("process", std::string("periodic"));
    if (process == "periodic")
      sensor.model.process = SensorProcess::periodic;
    else if (process == "poisson")
      sensor.model.process = SensorProcess::poisson;
    else if (process == "bursty")
      sensor.model.process = SensorProcess::bursty;
    else
      one.fail_at("process", "must be periodic, poisson or bursty, got '" + process + "'");
    sensor.model.rate_per_s = one.frequency("rate").per_s;
    if (sensor.model.process == SensorProcess::bursty) {
      sensor.model.on_mean_s = one.duration("on").seconds;
      sensor.model.off_mean_s = one.duration("off").seconds;
      if (!(sensor.model.on_mean_s > 0)) one.fail_at("on", "must be positive");
      if (!(sensor.model.off_mean_s > 0)) one.fail_at("off", "must be positive");
    } else {
      if (one.has("on") || one.has("off"))
        one.fail_at(one.has("on") ? "on" : "off", "only applies to process = \"bursty\"");
      one.raw("on");
      one.raw("off");
    }
    sensor.size = one.bytes("size", Bytes{200});
    if (sensor.size.count == 0 || sensor.size.count > (1ULL << 31)) one.fail_at("size", "must be between 1B and 2GiB");
    sensor.priority = static_cast<int>(one.integer("priority", 5, 0, 9));
    sensor.qos = static_cast<int>(one.integer("qos", 1, 0, 1));
    one.finish();
    out.push_back(std::move(sensor));
  }
  return out;
}

InferenceSpec read_inference(Fields f) {
  InferenceSpec in;
  in.cameras = static_cast<int>(f.integer("cameras", 1, 1, 1024));
  in.fps = f.frequency("fps", Frequency{15});
  in.queue_frames = static_cast<std::uint64_t>(f.integer("queue", 30, 0, 1LL << 40));
  in.stream = f.string("stream", std::string("detections"));
  if (!valid_name(in.stream)) f.fail_at("stream", "must be 1-64 letters, digits, '_', '-' or '.'");
  in.result_size = f.bytes("result", Bytes{512});
  if (in.result_size.count == 0 || in.result_size.count > (1ULL << 31))
    f.fail_at("result", "must be between 1B and 2GiB");
  in.priority = static_cast<int>(f.integer("priority", 3, 0, 9));
  f.finish();
  return in;
}

}  // namespace

std::vector<std::string> SiteTemplate::streams() const {
  std::vector<std::string> out;
  auto add = [&](const std::string& stream) {
    if (std::find(out.begin(), out.end(), stream) == out.end()) out.push_back(stream);
  };
  for (const auto& sensor : sensors) add(sensor.stream);
  if (inference) add(inference->stream);
  return out;
}

bool AppVersionSpec::bad_on(const HardwareSpec& hardware) const {
  for (const auto& [key, value] : fails_on) {
    if (key == "arch" && hardware.arch != value) return false;
    if (key == "gpu_model" && (!hardware.gpu || hardware.gpu->model != value)) return false;
    if (key == "gpu_driver" && (!hardware.gpu || hardware.gpu->driver != value)) return false;
  }
  return true;
}

const AppVersionSpec* AppSpec::find(const std::string& version) const {
  for (const auto& v : versions)
    if (v.version == version) return &v;
  return nullptr;
}

std::size_t Scenario::node_count() const {
  std::size_t n = 0;
  for (const auto& s : sites) n += static_cast<std::size_t>(s.count) * static_cast<std::size_t>(s.nodes);
  return n;
}
std::size_t Scenario::site_count() const {
  std::size_t n = 0;
  for (const auto& s : sites) n += static_cast<std::size_t>(s.count);
  return n;
}

std::optional<MetricUnit> metric_unit(const Scenario& scenario, const std::string& metric) {
  static const std::map<std::string, MetricUnit> fleet_metrics{
      {"fleet.registry_egress_bytes", MetricUnit::bytes}, {"fleet.busiest_uplink_bytes", MetricUnit::bytes},
      {"fleet.nodes_failed", MetricUnit::count},          {"fleet.nodes", MetricUnit::count},
      {"fleet.bytes_wasted", MetricUnit::bytes},          {"fleet.end_time", MetricUnit::seconds},
      {"fleet.crash_reports", MetricUnit::count}};
  if (auto it = fleet_metrics.find(metric); it != fleet_metrics.end()) return it->second;
  static const std::map<std::string, MetricUnit> op_metrics{
      {"time_to_50", MetricUnit::seconds}, {"time_to_90", MetricUnit::seconds},
      {"time_to_99", MetricUnit::seconds}, {"time_to_100", MetricUnit::seconds},
      {"duration", MetricUnit::seconds},   {"targeted", MetricUnit::count},
      {"succeeded", MetricUnit::count},    {"failed", MetricUnit::count},
      {"timed_out", MetricUnit::count},    {"bytes_pulled", MetricUnit::bytes},
      {"canceled", MetricUnit::count},     {"time_to_abort", MetricUnit::seconds}};
  // <app>@<version>.node_time | nodes_at_end
  if (const auto at = metric.find('@'); at != std::string::npos && metric.rfind('.') > at) {
    const auto last = metric.rfind('.');
    const std::string app = metric.substr(0, at), version = metric.substr(at + 1, last - at - 1);
    const std::string field = metric.substr(last + 1);
    for (const auto& a : scenario.apps)
      if (a.name == app && a.find(version) != nullptr) {
        if (field == "node_time") return MetricUnit::seconds;
        if (field == "nodes_at_end") return MetricUnit::count;
      }
    return std::nullopt;
  }
  // telemetry.<template|fleet>.<field> and gpu.<template|fleet>.<field>
  static const std::map<std::string, MetricUnit> telemetry_metrics{{"produced", MetricUnit::count},
                                                                   {"delivered", MetricUnit::count},
                                                                   {"dropped", MetricUnit::count},
                                                                   {"duplicates", MetricUnit::count},
                                                                   {"dropped_evicted", MetricUnit::count},
                                                                   {"dropped_rejected", MetricUnit::count},
                                                                   {"dropped_ttl_expired", MetricUnit::count},
                                                                   {"dropped_crash_lost", MetricUnit::count},
                                                                   {"loss_ppm", MetricUnit::count},
                                                                   {"peak_buffer_bytes", MetricUnit::bytes},
                                                                   {"drain_p50", MetricUnit::seconds},
                                                                   {"drain_max", MetricUnit::seconds},
                                                                   {"undrained", MetricUnit::count},
                                                                   {"delay_p50", MetricUnit::seconds},
                                                                   {"delay_p99", MetricUnit::seconds},
                                                                   {"max_backlog_age", MetricUnit::seconds}};
  static const std::map<std::string, MetricUnit> gpu_metrics{{"frames_arrived", MetricUnit::count},
                                                             {"frames_processed", MetricUnit::count},
                                                             {"frames_dropped", MetricUnit::count},
                                                             {"frames_lost_in_failure", MetricUnit::count}};
  for (const auto* family : {"telemetry.", "gpu."}) {
    if (metric.rfind(family, 0) != 0) continue;
    const bool gpu = family[0] == 'g';
    const auto& fields = gpu ? gpu_metrics : telemetry_metrics;
    auto last = metric.rfind('.');
    std::string scope = metric.substr(std::string(family).size(), last - std::string(family).size());
    const std::string field = metric.substr(last + 1);
    auto it = fields.find(field);
    bool reason = false;
    for (std::size_t k = 0; !gpu && k < telem::kDropReasons; ++k)
      reason = reason || field == std::string("dropped_") + telem::to_string(static_cast<telem::DropReason>(k));
    if (it == fields.end() && !reason) return std::nullopt;
    bool known = scope == "fleet";
    for (const auto& tpl : scenario.sites)
      known = known || (tpl.name == scope && (gpu ? tpl.inference.has_value() : tpl.bus.has_value()));
    if (!known) return std::nullopt;
    return reason ? MetricUnit::count : it->second;
  }
  auto dot = metric.rfind('.');
  if (dot == std::string::npos) return std::nullopt;
  std::string op = metric.substr(0, dot);
  auto it = op_metrics.find(metric.substr(dot + 1));
  if (it == op_metrics.end()) return std::nullopt;
  for (const auto& action : scenario.timeline)
    if (action.name == op || (action.rollback == "revert_all" && action.name + "_revert" == op)) return it->second;
  return std::nullopt;
}

namespace {

// Whether some site template declared so far has every one of these labels.
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

// fault.trace { file = "outages.csv" }: replays recorded outages. Each line is "site,down_at,up_at" (times with
// units, relative to the at() time); '#' starts a comment; a first line "site,down_at,up_at" is a header.
void read_trace(Fields& f, const std::string& scenario_file, double at_s, const std::string& where,
                Scenario& scenario) {
  std::string name = f.string("name", "trace_" + std::to_string(scenario.faults.size() + 1));
  std::string path = f.string("file");
  f.finish();
  if (!path.empty() && path[0] != '/') {
    auto slash = scenario_file.rfind('/');
    if (slash != std::string::npos) path = scenario_file.substr(0, slash + 1) + path;
  }
  std::ifstream in(path);
  if (!in) f.fail_at("file", "cannot open the trace '" + path + "'");
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    auto bad = [&](const std::string& problem) {
      throw ScenarioError(path + ":" + std::to_string(number) + ": " + problem + " (trace of fault '" + name + "' at " +
                          where + ")");
    };
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
    if (line.empty() || (number == 1 && line.rfind("site,", 0) == 0)) continue;
    std::vector<std::string> cells;
    std::istringstream row(line);
    for (std::string cell; std::getline(row, cell, ',');) {
      cell.erase(0, cell.find_first_not_of(' '));
      cells.push_back(cell);
    }
    if (cells.size() != 3) bad("expected 3 columns site,down_at,up_at, got " + std::to_string(cells.size()));
    if (!is_site(scenario, cells[0])) bad("column site: no site named '" + cells[0] + "'");
    double down = 0, up = 0;
    try {
      down = parse_duration(cells[1]).seconds;
    } catch (const UnitError& e) {
      bad(std::string("column down_at: ") + e.what());
    }
    try {
      up = parse_duration(cells[2]).seconds;
    } catch (const UnitError& e) {
      bad(std::string("column up_at: ") + e.what());
    }
    if (!(up > down)) bad("up_at must come after down_at");
    FaultSpec fault;
    fault.kind = "partition";
    fault.name = name;
    fault.at_s = at_s + down;
    fault.duration_s = up - down;
    fault.sites = {cells[0]};
    fault.where = path + ":" + std::to_string(number);
    scenario.faults.push_back(std::move(fault));
  }
}

}  // namespace

Scenario load_scenario(const std::string& file, const std::vector<std::string>& overrides) {
  LoaderState state;
  Scenario scenario;
  scenario.file = file;
  scenario.overrides = overrides;

  {
    std::unique_ptr<lua_State, decltype(&lua_close)> holder(luaL_newstate(), &lua_close);
    lua_State* L = holder.get();
    if (L == nullptr) throw ScenarioError(file + ": cannot create a Lua state");
    // Only deterministic libraries: no io, no os (clocks), no package loading.
    for (auto [name, open] :
         std::initializer_list<std::pair<const char*, lua_CFunction>>{{LUA_GNAME, luaopen_base},
                                                                      {LUA_TABLIBNAME, luaopen_table},
                                                                      {LUA_STRLIBNAME, luaopen_string},
                                                                      {LUA_MATHLIBNAME, luaopen_math},
                                                                      {LUA_UTF8LIBNAME, luaopen_utf8}}) {
      luaL_requiref(L, name, open, 1);
      lua_pop(L, 1);
    }
    // math.random is seeded from the clock by Lua 5.4; scenario-level randomness must be reproducible.
    luaL_dostring(L, "math.randomseed(0)");
    for (const char* unsafe : {"dofile", "loadfile", "collectgarbage"}) {
      lua_pushnil(L);
      lua_setglobal(L, unsafe);
    }
    lua_newtable(L);
    for (auto [name, fn] : std::initializer_list<std::pair<const char*, lua_CFunction>>{{"scenario", l_scenario},
                                                                                        {"cloud", l_cloud},
                                                                                        {"site", l_site},
                                                                                        {"app", l_app},
                                                                                        {"deploy", l_deploy},
                                                                                        {"rollout", l_rollout},
                                                                                        {"at", l_at},
                                                                                        {"expect", l_expect},
                                                                                        {"simulation", l_simulation}}) {
      lua_pushlightuserdata(L, &state);
      lua_pushcclosure(L, fn, 1);
      lua_setfield(L, -2, name);
    }
    lua_newtable(L);  // fleetsim.fault
    for (auto [name, fn] : std::initializer_list<std::pair<const char*, lua_CFunction>>{
             {"partition", l_fault_partition},
             {"degrade", l_fault_degrade},
             {"registry_outage", l_fault_registry_outage},
             {"trace", l_fault_trace},
             {"node_crash", l_fault_node_crash},
             {"disk_full", l_fault_disk_full},
             {"orchestrator_restart", l_fault_orchestrator_restart},
             {"gpu_failure", l_fault_gpu_failure}}) {
      lua_pushlightuserdata(L, &state);
      lua_pushcclosure(L, fn, 1);
      lua_setfield(L, -2, name);
    }
    lua_setfield(L, -2, "fault");
    lua_pushstring(L, "0.1.0");
    lua_setfield(L, -2, "version");
    lua_setglobal(L, "fleetsim");
    if (luaL_dostring(L, kPrelude) != LUA_OK) throw ScenarioError(std::string("prelude: ") + lua_tostring(L, -1));

    // Lua shortens long chunk names in its messages; load under a one-byte name and put the path back.
    std::ifstream in(file, std::ios::binary);
    if (!in) throw ScenarioError(file + ": cannot open the scenario file");
    std::string source((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto full_path = [&](std::string message) {
      for (auto pos = message.find(kChunkMark); pos != std::string::npos; pos = message.find(kChunkMark, pos))
        message.replace(pos, 1, file);
      return message;
    };
    if (luaL_loadbufferx(L, source.data(), source.size(), kChunkName, "t") != LUA_OK)
      throw ScenarioError(full_path(lua_tostring(L, -1)));  // syntax errors read "file:line: ..."
    chunk_file = file;
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) throw ScenarioError(full_path(lua_tostring(L, -1)));
  }

  // Apply --set path=value to the recorded declarations.
  std::set<std::string> overridden_paths;  // "<subject path>" as Fields sees it, e.g. "uplink.down"
  std::map<const Declaration*, std::set<std::string>> overridden_by_decl;
  for (const auto& text : overrides) {
    auto eq = text.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ScenarioError("--set " + text + ": expected path=value, e.g. --set site.store.count=100");
    std::string path = text.substr(0, eq);
    json value = parse_override_value(text.substr(eq + 1));
    std::vector<std::string> parts = split(path, '.');
    std::string kind = parts[0];
    std::size_t key_start = 1;
    Declaration* target = nullptr;
    if (kind == "site" || kind == "app") {
      if (parts.size() < 3) throw ScenarioError("--set " + text + ": expected " + kind + ".<name>.<key>=value");
      std::vector<std::string> names;
      for (auto& d : state.declarations) {
        if (d.kind != kind || !d.value.contains("name") || !d.value["name"].is_string()) continue;
        names.push_back(d.value["name"].get<std::string>());
        if (names.back() == parts[1]) target = &d;
      }
      if (target == nullptr) {
        std::string list;
        for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
        throw ScenarioError("--set " + text + ": the scenario declares no " + kind + " named '" + parts[1] + "' (" +
                            kind + "s: " + (list.empty() ? "none" : list) + ")");
      }
      key_start = 2;
    } else if (kind == "cloud" || kind == "simulation" || kind == "scenario") {
      if (parts.size() < 2) throw ScenarioError("--set " + text + ": expected " + kind + ".<key>=value");
      for (auto& d : state.declarations)
        if (d.kind == kind) target = &d;
      if (target == nullptr) {
        state.declarations.push_back({kind, json::object(), "--set", 0});
        target = &state.declarations.back();
      }
    } else {
      throw ScenarioError("--set " + text +
                          ": a path starts with site.<name>, app.<name>, cloud, simulation or "
                          "scenario");
    }
    json* node = &target->value;
    std::string key_path;
    for (std::size_t i = key_start; i < parts.size(); ++i) {
      if (parts[i].empty()) throw ScenarioError("--set " + text + ": empty key in the path");
      if (!node->is_object()) throw ScenarioError("--set " + text + ": '" + key_path + "' is not a table");
      // Keys may contain dots (version "2.0"): prefer the longest run of parts that names an existing key.
      std::string key = parts[i];
      for (std::size_t j = parts.size() - 1; j > i; --j) {
        std::string joined = parts[i];
        for (std::size_t k = i + 1; k <= j; ++k) joined += "." + parts[k];
        if (node->contains(joined)) {
          key = joined;
          i = j;
          break;
        }
      }
      key_path += (key_path.empty() ? "" : ".") + key;
      node = &(*node)[key];
    }
    *node = value;
    overridden_by_decl[target].insert(key_path);
  }
  auto overridden_of = [&](const Declaration& d) -> const std::set<std::string>* {
    auto it = overridden_by_decl.find(&d);
    return it == overridden_by_decl.end() ? nullptr : &it->second;
  };

  // Validate, in declaration order.
  std::set<std::string> digests_seen;
  for (const auto& d : state.declarations) {
    const auto* ov = overridden_of(d);
    if (d.kind == "scenario") {
      Fields f(d.value, d.where, "scenario", "", ov);
      scenario.name = f.string("name", std::string());
      scenario.description = f.string("description", std::string());
      f.finish();
    } else if (d.kind == "cloud") {
      Fields f(d.value, d.where, "cloud", "", ov);
      Fields reg = f.sub("registry");
      scenario.cloud.registry_egress = reg.rate("egress", scenario.cloud.registry_egress);
      scenario.cloud.registry_latency = reg.duration("latency", scenario.cloud.registry_latency);
      reg.finish();
      Fields orch = f.sub("orchestrator");
      scenario.cloud.orchestrator_bandwidth = orch.rate("bandwidth", scenario.cloud.orchestrator_bandwidth);
      scenario.cloud.orchestrator_latency = orch.duration("latency", scenario.cloud.orchestrator_latency);
      orch.finish();
      f.finish();
      scenario.cloud.where = d.where;
    } else if (d.kind == "site") {
      std::string subject = "site";
      if (d.value.is_object() && d.value.contains("name") && d.value["name"].is_string())
        subject = "site '" + d.value["name"].get<std::string>() + "'";
      Fields f(d.value, d.where, subject, "", ov);
      SiteTemplate s;
      s.where = d.where;
      s.name = f.string("name");
      if (!valid_name(s.name)) f.fail_at("name", "must be 1-64 letters, digits, '_', '-' or '.'");
      for (const auto& other : scenario.sites)
        if (other.name == s.name)
          f.fail_at("name", "a site template '" + s.name + "' is already declared at " + other.where);
      s.count = static_cast<int>(f.integer("count", 1, 1, 1000000));
      s.nodes = static_cast<int>(f.integer("nodes", 1, 1, 100000));
      Fields up = f.sub("uplink");
      s.uplink_down = up.rate("down");
      s.uplink_up = up.rate("up", s.uplink_down);
      s.uplink_latency = up.duration("latency");
      s.uplink_loss = up.number("loss", 0.0, 0.0, 0.5);
      s.uplink_mss = up.bytes("mss", Bytes{1460});
      if (s.uplink_mss.count == 0) up.fail_at("mss", "must be positive");
      up.finish();
      Fields lan = f.sub("lan");
      s.lan_bandwidth = lan.rate("bandwidth", s.lan_bandwidth);
      s.lan_latency = lan.duration("latency", s.lan_latency);
      lan.finish();
      s.hardware = read_hardware(f.sub("hardware"));
      s.labels = f.string_map("labels");
      s.agent = read_agent(f.sub("agent"));
      if (f.has("outages")) {
        Fields o = f.sub("outages");
        s.outages.mtbf = o.duration("mtbf");
        s.outages.mttr = o.duration("mttr");
        if (!(s.outages.mtbf.seconds > 0)) o.fail_at("mtbf", "must be positive");
        if (!(s.outages.mttr.seconds > 0)) o.fail_at("mttr", "must be positive");
        s.outages.distribution = o.string("distribution", std::string("exponential"));
        if (s.outages.distribution != "exponential" && s.outages.distribution != "weibull")
          o.fail_at("distribution", "must be \"exponential\" or \"weibull\", got '" + s.outages.distribution + "'");
        s.outages.shape = o.number("shape", 1.0, 0.05, 20.0);
        if (o.has("shape") && s.outages.distribution != "weibull")
          o.fail_at("shape", "only applies to distribution = \"weibull\"");
        o.finish();
      } else {
        f.raw("outages");
      }
      if (const json* sensors = f.raw("sensors")) s.sensors = read_sensors(f, *sensors);
      if (f.has("inference")) {
        if (!s.hardware.gpu)
          f.fail_at("inference", "needs a GPU: give hardware.gpu = { model = ..., throughput = \"200/s\" }");
        s.inference = read_inference(f.sub("inference"));
      } else {
        f.raw("inference");
      }
      if (f.has("bus")) {
        if (s.sensors.empty() && !s.inference)
          f.fail_at("bus", "a bus needs something to carry: add sensors = { ... } or inference = { ... }");
        s.bus = read_bus(f.sub("bus"), s.streams());
      } else {
        f.raw("bus");
        if (!s.sensors.empty() || s.inference) s.bus = BusSpec{};
      }
      f.finish();
      scenario.sites.push_back(std::move(s));
    } else if (d.kind == "app") {
      std::string subject = "app";
      if (d.value.is_object() && d.value.contains("name") && d.value["name"].is_string())
        subject = "app '" + d.value["name"].get<std::string>() + "'";
      Fields f(d.value, d.where, subject, "", ov);
      AppSpec a;
      a.where = d.where;
      a.name = f.string("name");
      if (!valid_name(a.name)) f.fail_at("name", "must be 1-64 letters, digits, '_', '-' or '.'");
      for (const auto& other : scenario.apps)
        if (other.name == a.name) f.fail_at("name", "an app '" + a.name + "' is already declared at " + other.where);
      const json* versions = f.raw("versions");
      if (versions == nullptr || !versions->is_object() || versions->empty())
        f.fail_at("versions", "is required: a table of version = { image = \"200MiB\" } or { layers = {...} }");
      Fields vf = f.sub("versions");
      for (const auto& [version, body] : versions->items()) {
        Fields v = vf.sub(version);
        AppVersionSpec spec;
        spec.version = version;
        bool has_image = v.has("image");
        bool has_layers = v.has("layers");
        if (has_image == has_layers) v.fail_at("", "give either image = \"<size>\" or layers = { ... }, not both");
        if (has_image) {
          Bytes size = v.bytes("image");
          spec.layers.push_back({a.name + "@" + version + "/image", size});
        } else {
          const json* layers = v.raw("layers");
          if (!layers->is_array() || layers->empty())
            v.fail_at("layers", "must be a list of sizes or { name = \"...\", size = \"...\" } tables");
          for (std::size_t i = 0; i < layers->size(); ++i) {
            const json& layer = (*layers)[i];
            std::string key = std::to_string(i + 1);
            LayerSpec ls;
            if (layer.is_string()) {
              try {
                ls.size = parse_bytes(layer.get<std::string>());
              } catch (const UnitError& e) {
                v.fail_at("layers." + key, e.what());
              }
              ls.digest = a.name + "@" + version + "/" + key;
            } else if (layer.is_object()) {
              Fields one(layer, d.where, subject, "versions." + version + ".layers." + key, ov);
              ls.digest = "shared/" + one.string("name");
              ls.size = one.bytes("size");
              one.finish();
            } else {
              v.fail_at("layers." + key, "must be a size such as \"80MiB\" or { name = \"base\", size = \"80MiB\" }");
            }
            if (ls.size.count == 0) v.fail_at("layers." + key, "a layer must not be empty");
            spec.layers.push_back(std::move(ls));
          }
        }
        spec.start_time = v.duration("start_time", Duration{1});
        spec.ready_time = v.duration("ready_time", Duration{0});
        spec.crash_on_start = v.number("crash_on_start", 0.0, 0.0, 1.0);
        spec.fail_after = v.duration("fail_after", Duration{0});
        spec.fails_on = v.string_map("fails_on");
        if (v.has("requires")) {
          Fields rq = v.sub("requires");
          if (rq.has("cpu")) spec.requires["cpu"] = rq.number("cpu", std::nullopt, 0, 1e6);
          if (rq.has("gpu")) spec.requires["gpu"] = static_cast<double>(rq.integer("gpu", std::nullopt, 0, 1024));
          if (rq.has("memory")) spec.requires["memory"] = static_cast<double>(rq.bytes("memory").count);
          if (rq.has("gpu_memory")) spec.requires["gpu_memory"] = static_cast<double>(rq.bytes("gpu_memory").count);
          for (const char* key : {"cpu", "gpu", "memory", "gpu_memory"}) rq.raw(key);
          rq.finish();
        } else {
          v.raw("requires");
        }
        for (const auto& [key, value] : spec.fails_on)
          if (key != "gpu_model" && key != "gpu_driver" && key != "arch")
            v.fail_at("fails_on." + key, "unknown hardware key (known: gpu_model, gpu_driver, arch)");
        v.finish();
        a.versions.push_back(std::move(spec));
      }
      f.finish();
      scenario.apps.push_back(std::move(a));
    } else if (d.kind == "action" && d.value["__kind"].get<std::string>().rfind("fault.", 0) == 0) {
      std::string where = d.value["__where"].get<std::string>();
      std::string kind = d.value["__kind"].get<std::string>().substr(6);
      Fields f(d.value, where, "fault." + kind, "", ov);
      if (kind == "trace") {
        read_trace(f, file, d.at_s, where, scenario);
        continue;
      }
      FaultSpec fault;
      fault.kind = kind;
      fault.at_s = d.at_s;
      fault.where = where;
      fault.name = f.string("name", kind + "_" + std::to_string(scenario.faults.size() + 1));
      if (!valid_name(fault.name)) f.fail_at("name", "must be 1-64 letters, digits, '_', '-' or '.'");
      const char* length_key = kind == "node_crash"             ? "reboot_after"
                               : kind == "orchestrator_restart" ? "downtime"
                                                                : "duration";
      fault.duration_s = f.duration(length_key).seconds;
      if (!(fault.duration_s > 0)) f.fail_at(length_key, "must be positive");
      if (kind == "disk_full") fault.free_bytes = f.bytes("free", Bytes{0}).count;
      if ((kind == "node_crash" || kind == "disk_full" || kind == "gpu_failure") && f.has("nodes")) {
        const json* nodes = f.raw("nodes");
        if (!nodes->is_array() || nodes->empty())
          f.fail_at("nodes", "must be a list of node names such as { \"store-1/n2\" }");
        for (const auto& node : *nodes) {
          std::string name = node.is_string() ? node.get<std::string>() : std::string();
          auto slash = name.rfind("/n");
          bool ok = slash != std::string::npos && is_site(scenario, name.substr(0, slash));
          if (ok) {
            std::string k = name.substr(slash + 2);
            int nodes_in_site = 0;
            for (const auto& tpl : scenario.sites)
              if (name.rfind(tpl.name + "-", 0) == 0) nodes_in_site = tpl.nodes;
            ok = !k.empty() && k.size() < 7 && k.find_first_not_of("0123456789") == std::string::npos &&
                 std::stoi(k) >= 1 && std::stoi(k) <= nodes_in_site;
          }
          if (!ok) f.fail_at("nodes", "no node named '" + name + "' (nodes are <site>/n<k>, e.g. store-1/n2)");
          if (kind == "gpu_failure")
            for (const auto& tpl : scenario.sites)
              if (name.rfind(tpl.name + "-", 0) == 0 && !tpl.inference)
                f.fail_at("nodes", "node '" + name + "' runs no GPU inference (site template '" + tpl.name +
                                       "' has no inference = { ... })");
          fault.sites.push_back(name);
        }
        f.finish();
        scenario.faults.push_back(std::move(fault));
        continue;
      }
      if (kind == "registry_outage" || kind == "orchestrator_restart") {  // one target: no selection
        f.finish();
        scenario.faults.push_back(std::move(fault));
        continue;
      }
      if (kind == "degrade") {
        fault.factor = f.number("factor", std::nullopt, 1e-6, 1.0);
      }
      fault.selector = f.string_map("where");
      if (!fault.selector.empty()) {
        if (!any_template_has(scenario, fault.selector))
          f.fail_at("where", "no site template declared before this line has these labels");
      }
      const json* sites = f.raw("sites");
      fault.site_template = f.string("template", std::string());
      fault.fraction = f.number("fraction", 1.0, 0.0, 1.0);
      if (sites != nullptr) {
        if (!fault.site_template.empty() || f.has("fraction") || !fault.selector.empty())
          f.fail_at("sites", "give either sites = { ... } or template/where/fraction, not both");
        if (!sites->is_array() || sites->empty())
          f.fail_at("sites", "must be a list of site names such as { \"store-1\", \"store-7\" }");
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
        if (!known)
          f.fail_at("template", "no site template '" + fault.site_template + "' is declared before this line");
      }
      f.finish();
      scenario.faults.push_back(std::move(fault));
    } else if (d.kind == "action") {
      std::string kind = d.value["__kind"].get<std::string>();
      std::string where = d.value["__where"].get<std::string>();
      Fields f(d.value, where, kind, "", ov);
      ActionSpec a;
      a.kind = kind == "deploy" ? ActionSpec::Kind::deploy : ActionSpec::Kind::rollout;
      a.at_s = d.at_s;
      a.where = where;
      a.app = f.string("app");
      a.version = f.string("version");
      const AppSpec* app = nullptr;
      for (const auto& candidate : scenario.apps)
        if (candidate.name == a.app) app = &candidate;
      if (app == nullptr) f.fail_at("app", "no app named '" + a.app + "' is declared before this line");
      if (app->find(a.version) == nullptr) {
        std::string list;
        for (const auto& v : app->versions) list += (list.empty() ? "" : ", ") + v.version;
        f.fail_at("version", "app '" + a.app + "' has no version '" + a.version + "' (versions: " + list + ")");
      }
      a.name = f.string("name", kind + "_" + a.app + "_" + a.version);
      if (!valid_name(a.name)) f.fail_at("name", "must be 1-64 letters, digits, '_', '-' or '.'");
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
      // strategy = "all_at_once" | { kind = "batches", size = 10 | "10%" | sites_in_parallel = 2, healthy_time = "10m"
      // }
      const json* strategy = f.raw("strategy");
      if (strategy != nullptr && strategy->is_object()) {
        Fields st = f.sub("strategy");
        a.strategy = st.string("kind");
        if (a.strategy != "batches" && a.strategy != "exponential" && a.strategy != "canary" && a.strategy != "rolling")
          st.fail_at("kind",
                     "unknown strategy kind '" + a.strategy + "' (available: batches, exponential, canary, rolling)");
      }
      if (strategy != nullptr && strategy->is_object() && a.strategy == "rolling") {
        // Kubernetes RollingUpdate per site: max_unavailable = 1 | "25%", max_surge = 0 | "25%"
        Fields st = f.sub("strategy");
        st.string("kind");
        auto count_or_percent = [&](const char* key, std::uint64_t& count, double& percent) {
          const json* v = st.raw(key);
          if (v == nullptr) return;
          if (v->is_string()) {
            std::string text = v->get<std::string>();
            char* end = nullptr;
            percent = std::strtod(text.c_str(), &end);
            if (text.empty() || end == nullptr || std::string(end) != "%" || percent < 0 || percent > 100)
              st.fail_at(key, "must be a node count or a percentage such as \"25%\", got '" + text + "'");
          } else {
            count = static_cast<std::uint64_t>(st.integer(key, std::nullopt, 0, 10000000));
          }
        };
        count_or_percent("max_unavailable", a.max_unavailable, a.max_unavailable_percent);
        count_or_percent("max_surge", a.max_surge, a.max_surge_percent);
        st.finish();
      } else if (strategy != nullptr && strategy->is_object() && a.strategy == "exponential") {
        // AWS IoT Jobs exponentialRate, with its documented ranges.
        Fields st = f.sub("strategy");
        st.string("kind");
        a.base_per_minute = st.number("base_per_minute", std::nullopt, 1, 1000);
        a.increment_factor = st.number("increment_factor", 1.0, 1.1, 5);
        a.increase_after = static_cast<std::uint64_t>(st.integer("increase_after", 0, 0, 1000000));
        std::string criterion = st.string("criterion", std::string("notified"));
        if (criterion != "notified" && criterion != "succeeded")
          st.fail_at("criterion", "must be \"notified\" or \"succeeded\", got '" + criterion + "'");
        a.count_succeeded = criterion == "succeeded";
        a.maximum_per_minute = st.number("maximum_per_minute", 0.0, 0, 1000);
        if (f.has("strategy") && a.increase_after == 0 && st.has("increment_factor"))
          st.fail_at("increase_after", "is required with increment_factor");
        st.finish();
      } else if (strategy != nullptr && strategy->is_object()) {
        Fields st = f.sub("strategy");
        st.string("kind");
        const json* size = st.raw("size");
        if (size != nullptr && size->is_string()) {
          std::string text = size->get<std::string>();
          char* end = nullptr;
          a.batch_percent = std::strtod(text.c_str(), &end);
          if (text.empty() || end == nullptr || std::string(end) != "%" || !(a.batch_percent > 0) ||
              a.batch_percent > 100)
            st.fail_at("size", "must be a node count or a percentage such as \"10%\", got '" + text + "'");
        } else if (size != nullptr) {
          a.batch_size = static_cast<std::uint64_t>(st.integer("size", std::nullopt, 1, 10000000));
        }
        a.sites_in_parallel = static_cast<std::uint64_t>(st.integer("sites_in_parallel", 0, 0, 1000000));
        if (a.strategy == "canary") {
          // canary = 10 | "5%" | { where = { ring = "canary" } }; then the rest in batches of `size` (or at once)
          if (a.sites_in_parallel > 0) st.fail_at("sites_in_parallel", "applies to kind = \"batches\" only");
          const json* canary = st.raw("canary");
          if (canary == nullptr)
            st.fail_at("canary",
                       "is required: a node count, a percentage such as \"5%\", or "
                       "{ where = { label = \"value\" } }");
          if (canary->is_string()) {
            std::string text = canary->get<std::string>();
            char* end = nullptr;
            a.canary_percent = std::strtod(text.c_str(), &end);
            if (text.empty() || end == nullptr || std::string(end) != "%" || !(a.canary_percent > 0) ||
                a.canary_percent > 100)
              st.fail_at("canary",
                         "must be a node count, a percentage such as \"5%\" or { where = {...} }, got '" + text + "'");
          } else if (canary->is_object()) {
            Fields cf = st.sub("canary");
            a.canary_selector = cf.string_map("where");
            if (a.canary_selector.empty()) cf.fail_at("where", "is required: { label = \"value\", ... }");
            if (!any_template_has(scenario, a.canary_selector))
              cf.fail_at("where", "no site template declared before this line has these labels");
            cf.finish();
          } else {
            a.canary_size = static_cast<std::uint64_t>(st.integer("canary", std::nullopt, 1, 10000000));
          }
          a.healthy_time = st.duration("healthy_time", Duration{0});
          a.canary_time = st.duration("canary_time", a.healthy_time);
        } else {
          if ((size != nullptr) == (a.sites_in_parallel > 0))
            st.fail_at("size", "give either size (nodes or \"<n>%\") or sites_in_parallel");
          a.healthy_time = st.duration("healthy_time", Duration{0});
        }
        st.finish();
      } else {
        a.strategy = f.string("strategy", std::string("all_at_once"));
        if (a.strategy != "all_at_once")
          f.fail_at("strategy", "unknown strategy '" + a.strategy +
                                    "' (available: \"all_at_once\", or a table { kind = \"batches\", ... })");
      }
      a.node_deadline = f.duration("node_deadline", Duration{0});
      if (f.has("abort")) {
        Fields ab = f.sub("abort");
        std::string threshold = ab.string("failure_threshold");
        char* end = nullptr;
        a.abort_threshold_percent = std::strtod(threshold.c_str(), &end);
        if (end == nullptr || std::string(end) != "%" || !(a.abort_threshold_percent > 0) ||
            a.abort_threshold_percent > 100)
          ab.fail_at("failure_threshold", "must be a percentage such as \"30%\", got '" + threshold + "'");
        a.abort_min_executed = static_cast<std::uint64_t>(ab.integer("min_executed", 1, 1, 100000000));
        a.abort_failure_type = ab.string("failure_type", std::string("all"));
        if (a.abort_failure_type != "all" && a.abort_failure_type != "failed" && a.abort_failure_type != "timed_out")
          ab.fail_at("failure_type", "must be \"all\", \"failed\" or \"timed_out\" (AWS failureType), got '" +
                                         a.abort_failure_type + "'");
        ab.finish();
      } else {
        f.raw("abort");
      }
      a.rollback = f.string("rollback", std::string("none"));
      if (a.rollback != "none" && a.rollback != "revert_all")
        f.fail_at("rollback", "must be \"none\" or \"revert_all\", got '" + a.rollback + "'");
      if (a.rollback == "revert_all" && a.abort_threshold_percent == 0)
        f.fail_at("rollback", "revert_all needs an abort rule (abort = { failure_threshold = \"30%\" })");
      f.finish();
      scenario.timeline.push_back(std::move(a));
    } else if (d.kind == "simulation") {
      Fields f(d.value, d.where, "simulation", "", ov);
      SimulationSpec& s = scenario.simulation;
      s.where = d.where;
      s.max_time = f.duration("max_time", s.max_time);
      s.duration = f.duration("duration", s.duration);
      if (!(s.max_time.seconds > 0)) f.fail_at("max_time", "must be positive");
      s.network_model = f.string("network_model", s.network_model);
      if (s.network_model != "CM02" && s.network_model != "LV08" && s.network_model != "SMPI" &&
          s.network_model != "Constant")
        f.fail_at("network_model", "must be one of CM02, LV08, SMPI, Constant; got '" + s.network_model + "'");
      s.precision_s = f.number("precision", s.precision_s, 1e-12, 60);
      s.crosstraffic = f.boolean("crosstraffic", s.crosstraffic);
      s.control_messages = f.string("control_messages", s.control_messages);
      if (s.control_messages != "network" && s.control_messages != "timed")
        f.fail_at("control_messages", "must be \"network\" or \"timed\", got '" + s.control_messages + "'");
      s.simgrid_cfg = f.string_map("simgrid");
      s.telemetry_sample = f.duration("telemetry_sample", s.telemetry_sample);
      s.states_sample = f.duration("states_sample", s.states_sample);
      if (!(s.states_sample.seconds >= 1)) f.fail_at("states_sample", "must be at least 1s");
      if (!(s.telemetry_sample.seconds >= 1)) f.fail_at("telemetry_sample", "must be at least 1s");
      f.finish();
    }
  }
  // Expectations last: they refer to operations declared anywhere in the file.
  for (const auto& d : state.declarations) {
    if (d.kind != "expect") continue;
    ExpectationSpec e;
    e.text = d.value.get<std::string>();
    e.where = d.where;
    std::istringstream in(e.text);
    std::string value_text;
    in >> e.metric >> e.op;
    std::getline(in, value_text);
    value_text.erase(0, value_text.find_first_not_of(' '));
    auto bad = [&](const std::string& problem) {
      throw ScenarioError(d.where + ": expect \"" + e.text + "\": " + problem);
    };
    static const std::set<std::string> ops{"<", "<=", ">", ">=", "==", "!="};
    if (e.metric.empty() || ops.count(e.op) == 0 || value_text.empty())
      bad("write it as \"<metric> <op> <value>\", op one of < <= > >= == !=, e.g. \"rollout_app_2.time_to_100 <= "
          "45m\"");
    auto unit = metric_unit(scenario, e.metric);
    if (!unit) {
      std::string ops_list;
      for (const auto& a : scenario.timeline) ops_list += (ops_list.empty() ? "" : ", ") + a.name;
      bad("unknown metric '" + e.metric +
          "' (operation metrics: <operation>.time_to_50|90|99|100, duration, targeted, "
          "succeeded, failed, timed_out, canceled, bytes_pulled, time_to_abort with operations " +
          ops_list + " (and <operation>_revert for a revert_all rollback)" +
          "; fleet metrics: fleet.registry_egress_bytes, fleet.busiest_uplink_bytes, fleet.bytes_wasted, "
          "fleet.nodes_failed, fleet.nodes, fleet.end_time, fleet.crash_reports; version metrics: "
          "<app>@<version>.node_time, nodes_at_end; telemetry metrics: telemetry.<site "
          "template|fleet>.produced, "
          "delivered, dropped, dropped_<reason>, duplicates, loss_ppm, peak_buffer_bytes, drain_p50, drain_max, "
          "undrained, delay_p50, delay_p99, max_backlog_age; gpu.<site template|fleet>.frames_arrived, "
          "frames_processed, frames_dropped, frames_lost_in_failure)");
    }
    try {
      switch (*unit) {
        case MetricUnit::seconds:
          e.value = parse_duration(value_text).seconds;
          break;
        case MetricUnit::bytes:
          e.value = static_cast<double>(parse_bytes(value_text).count);
          break;
        case MetricUnit::count: {
          char* end = nullptr;
          e.value = std::strtod(value_text.c_str(), &end);
          if (end == value_text.c_str() || *end != '\0') bad("'" + value_text + "' is not a number");
          break;
        }
      }
    } catch (const UnitError& err) {
      bad(err.what());
    }
    scenario.expectations.push_back(std::move(e));
  }

  if (scenario.sites.empty()) throw ScenarioError(file + ": the scenario declares no site (site { name = ..., ... })");
  std::stable_sort(scenario.timeline.begin(), scenario.timeline.end(),
                   [](const ActionSpec& a, const ActionSpec& b) { return a.at_s < b.at_s; });
  std::stable_sort(scenario.faults.begin(), scenario.faults.end(),
                   [](const FaultSpec& a, const FaultSpec& b) { return a.at_s < b.at_s; });
  for (const auto& fault : scenario.faults)
    if (fault.at_s > scenario.simulation.max_time.seconds)
      throw ScenarioError(fault.where + ": at: the fault comes after simulation.max_time (" +
                          format_duration(scenario.simulation.max_time.seconds) + ")");
  for (const auto& a : scenario.timeline)
    if (a.at_s > scenario.simulation.max_time.seconds)
      throw ScenarioError(a.where + ": at: the action comes after simulation.max_time (" +
                          format_duration(scenario.simulation.max_time.seconds) + ")");
  return scenario;
}

}  // namespace fleetsim::sim
