// Runs a scenario file in the sandboxed Lua state (lua_sandbox.hpp) and records what it declares as plain JSON values
// with the file:line of each declaration.
//
// Every fleetsim function exposed to Lua does its C++ work inside run_guarded, which turns any exception into a
// message; the work's C++ objects are all destroyed when it returns, and only then does the function call lua_error
// (a longjmp: over a live C++ object it would skip the destructor). Inside the work, only Lua functions that never
// raise are called (types, raw reads, lua_next, lua_checkstack, lua_getinfo).
#include "lua_host.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cmath>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <new>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>

#include <lua.hpp>

#include "fleetsim/models/units.hpp"
#include "fleetsim/sim/scenario.hpp"
#include "lua_sandbox.hpp"

namespace fleetsim::sim::loader {
namespace {

using nlohmann::json;
using namespace fleetsim::models;

// Sugar over the fleetsim table, in Lua, embedded in the binary.
constexpr const char* kPrelude = R"lua(
local F = fleetsim
scenario, cloud, site, app = F.scenario, F.cloud, F.site, F.app
deploy, rollout, at, expect, simulation, param = F.deploy, F.rollout, F.at, F.expect, F.simulation, F.param
regression, sweep = F.regression, F.sweep
fault = F.fault
)lua";

// Lua shortens long chunk names in its messages: the file runs under a one-byte name, which messages carry as
// "\x1f:12:", and the path is put back in one pass over the finished message (the path may itself contain 0x1f).
constexpr char kChunkMark = '\x1f';
constexpr const char* kChunkName = "=\x1f";
constexpr std::size_t kMaxScenarioBytes = std::size_t{16} << 20;
constexpr int kMaxDepth = 32;
constexpr lua_Integer kMaxKeys = 100000;  // named keys of one table (each takes a Lua stack slot while read)
// The declarations copied out of Lua count against lua.memory too: each value at about what it costs as JSON.
constexpr std::uint64_t kBytesPerValue = 128;

enum class Failure { none, scenario, out_of_memory, internal };

struct Host {
  std::string file;  // the scenario's path
  const ScriptInputs* inputs = nullptr;
  std::vector<ScenarioParam> parameters;  // declared by param(), in order
  std::vector<Declaration> declarations;
  std::uint64_t values = 0;      // copied out of Lua so far
  std::uint64_t max_values = 0;  // lua.memory / kBytesPerValue
  std::vector<json> actions;  // what deploy{...}, rollout{...} and fault.*{...} made; an action value holds its index
  std::vector<bool> scheduled;  // per action: given to at() at least once
  Failure failure = Failure::none;
  std::string error;  // the message of the failing call, raised once the call's C++ objects are gone

  void fail(Failure kind, const char* message) noexcept {
    if (failure != Failure::internal && failure != Failure::out_of_memory) failure = kind;
    try {
      error = message;
    } catch (...) {
      error.clear();
      failure = Failure::out_of_memory;
    }
  }
};

Host& host_of(lua_State* L) { return *static_cast<Host*>(LuaSandbox::host_of(L)); }

char action_key;  // its address is the registry key of the actions' private metatable

std::string with_path(const std::string& message, const std::string& file) {
  std::string out;
  for (char c : message) {
    if (c == kChunkMark)
      out += file;
    else
      out += c;
  }
  return out;
}

// The length of the well-formed UTF-8 sequence at s (Unicode table 3-7: no overlong forms, no surrogates), or 0.
std::size_t utf8_length(const unsigned char* s, std::size_t n) {
  unsigned char c = s[0], lo = 0x80, hi = 0xBF;
  std::size_t length = 0;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) length = 2;
  if (c >= 0xE0 && c <= 0xEF) length = 3, lo = c == 0xE0 ? 0xA0 : lo, hi = c == 0xED ? 0x9F : hi;
  if (c >= 0xF0 && c <= 0xF4) length = 4, lo = c == 0xF0 ? 0x90 : lo, hi = c == 0xF4 ? 0x8F : hi;
  if (length == 0 || n < length || s[1] < lo || s[1] > hi) return 0;
  for (std::size_t i = 2; i < length; ++i)
    if (s[i] < 0x80 || s[i] > 0xBF) return 0;
  return length;
}

// Why a string cannot become part of a scenario, or nullptr: names end up in C strings, JSON, CSV and XML.
const char* string_problem(const char* text, std::size_t length) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text);
  for (std::size_t i = 0; i < length;) {
    if (bytes[i] == 0) return "contains a zero byte";
    std::size_t n = utf8_length(bytes + i, length - i);
    if (n == 0) return "is not valid UTF-8";
    i += n;
  }
  return nullptr;
}

// The text with bytes that are not UTF-8, and control characters other than newline and tab, as \xNN: a message
// must be printable on a terminal and storable in JSON and XML.
std::string printable(const std::string& text) {
  std::string out;
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  for (std::size_t i = 0; i < text.size();) {
    std::size_t n = utf8_length(bytes + i, text.size() - i);
    if (n > 1 || (n == 1 && (bytes[i] >= 0x20 || bytes[i] == '\n' || bytes[i] == '\t') && bytes[i] != 0x7F)) {
      out.append(text, i, n);
      i += n;
      continue;
    }
    char escaped[8];
    std::snprintf(escaped, sizeof escaped, "\\x%02X", bytes[i]);
    out += escaped;
    ++i;
  }
  return out;
}

// "\x1f:12" (kChunkMark for the scenario file): the first Lua function from `level` up that has a current line.
std::string where_of(lua_State* L, int level) {
  lua_Debug ar;
  for (; lua_getstack(L, level, &ar) != 0; ++level)
    if (lua_getinfo(L, "Sl", &ar) != 0 && ar.currentline > 0)
      return std::string(ar.short_src) + ":" + std::to_string(ar.currentline);
  return "?";
}

ScenarioError error_at(lua_State* L, const std::string& path, const std::string& problem) {
  return ScenarioError(where_of(L, 1) + ": " + (path.empty() ? std::string("value") : path) + ": " + problem);
}

// Runs the C++ work of a Lua C function; any exception becomes the host's error. Never throws.
template <typename Work>
bool run_guarded(Host& host, Work&& work) noexcept {
  try {
    work();
    return true;
  } catch (const ScenarioError& e) {
    host.fail(Failure::scenario, e.what());
  } catch (const std::bad_alloc&) {
    host.fail(Failure::out_of_memory, "out of memory");
  } catch (const std::exception& e) {
    host.fail(Failure::internal, e.what());
  } catch (...) {
    host.fail(Failure::internal, "unknown exception");
  }
  return false;
}

// Raises the host's error in Lua. Called once run_guarded has returned: no C++ object of the work is alive.
int raise_failure(lua_State* L, Host& host) {
  lua_pushlstring(L, host.error.data(), host.error.size());
  return lua_error(L);
}

std::string checked_string(lua_State* L, int index, const std::string& path) {
  std::size_t length = 0;
  const char* text = lua_tolstring(L, index, &length);  // only called on strings: no conversion, no allocation
  std::string value(text, length);
  if (const char* problem = string_problem(text, length))
    throw error_at(L, path, std::string("the string ") + problem + " ('" + printable(value) + "')");
  return value;
}

json to_json(lua_State* L, int index, const std::string& path, int depth);

json list_to_json(lua_State* L, int index, lua_Integer n, const std::string& path, int depth) {
  json array = json::array();
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_rawgeti(L, index, i);
    array.push_back(to_json(L, -1, path + "[" + std::to_string(i) + "]", depth + 1));
    lua_pop(L, 1);
  }
  return array;
}

// Records have only string keys. They are read in byte order of the keys, so that the first error found, the one
// reported, is the same on every run (lua_next's order changes from run to run): each key is pushed on the Lua stack
// (no allocation), the keys are sorted, and each value is read back with its key.
json record_to_json(lua_State* L, int index, lua_Integer keys, const std::string& path, int depth) {
  if (keys > kMaxKeys || lua_checkstack(L, static_cast<int>(keys) + 2) == 0)
    throw error_at(L, path, "a table has too many keys (the most is " + std::to_string(kMaxKeys) + ")");
  int base = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, index) != 0) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) throw error_at(L, path, "a table mixes a list with named keys");
    lua_pushvalue(L, -1);  // the copy is lua_next's, the key stays on the stack
  }
  std::vector<std::pair<std::string_view, int>> order;  // key, its stack slot
  for (int slot = base + 1; slot <= lua_gettop(L); ++slot) {
    std::size_t length = 0;
    const char* text = lua_tolstring(L, slot, &length);
    order.emplace_back(std::string_view(text, length), slot);
  }
  std::sort(order.begin(), order.end());
  json object = json::object();
  for (const auto& [key_text, slot] : order) {
    std::string key(key_text);
    if (const char* problem = string_problem(key.data(), key.size()))
      throw error_at(L, path.empty() ? "key" : path, "the key '" + printable(key) + "' " + problem);
    lua_pushvalue(L, slot);
    lua_rawget(L, index);
    object[key] = to_json(L, -1, path.empty() ? key : path + "." + key, depth + 1);
    lua_pop(L, 1);
  }
  lua_settop(L, base);
  return object;
}

json table_to_json(lua_State* L, int index, const std::string& path, int depth) {
  // Lua guarantees a C function only LUA_MINSTACK free slots, and each level of nesting takes three.
  if (depth > kMaxDepth || lua_checkstack(L, 3) == 0) throw error_at(L, path, "tables nested too deeply");
  index = lua_absindex(L, index);
  // Arrays are tables whose keys are exactly 1..n; records have only string keys.
  auto n = static_cast<lua_Integer>(lua_rawlen(L, index));
  lua_Integer keys = 0;
  bool string_keys = false;
  lua_pushnil(L);
  while (lua_next(L, index) != 0) {
    ++keys;
    if (lua_type(L, -2) == LUA_TSTRING) string_keys = true;
    lua_pop(L, 1);
  }
  if (keys == 0) return json::object();
  if (!string_keys && keys == n) return list_to_json(L, index, n, path, depth);
  return record_to_json(L, index, keys, path, depth);
}

json to_json(lua_State* L, int index, const std::string& path, int depth) {
  // A table used in several places is copied at each: without a bound, 32 levels of {a = t, b = t} make 2^32 values.
  Host& host = host_of(L);
  if (++host.values > host.max_values)
    throw error_at(L, path,
                   "the scenario's declarations hold more than " + std::to_string(host.max_values) +
                       " values, which at " + std::to_string(kBytesPerValue) +
                       " bytes each is lua.memory (a table used in several places counts at each use); raise "
                       "lua.memory if it really needs more");
  switch (lua_type(L, index)) {
    case LUA_TNIL:
      return nullptr;
    case LUA_TBOOLEAN:
      return static_cast<bool>(lua_toboolean(L, index));
    case LUA_TNUMBER:
      if (lua_isinteger(L, index)) return static_cast<std::int64_t>(lua_tointeger(L, index));
      return lua_tonumber(L, index);
    case LUA_TSTRING:
      return checked_string(L, index, path);
    case LUA_TTABLE:
      return table_to_json(L, index, path, depth);
    default:
      throw error_at(L, path,
                     std::string("a ") + luaL_typename(L, index) +
                         " cannot be part of a scenario (only tables, strings, numbers, booleans)");
  }
}

json table_argument(lua_State* L, const char* function) {
  if (lua_type(L, 1) != LUA_TTABLE)
    throw ScenarioError(where_of(L, 1) + ": " + function + " expects a table, e.g. " + function + " { ... }, got a " +
                        luaL_typename(L, 1));
  json value = table_to_json(L, 1, "", 0);
  if (value.is_array() && value.empty()) value = json::object();
  if (!value.is_object())
    throw ScenarioError(where_of(L, 1) + ": " + function + " expects a table of named keys, e.g. " + function +
                        " { name = ... }, got a list");
  return value;
}

int declare(lua_State* L, const char* kind) {
  Host& host = host_of(L);
  bool ok = run_guarded(host, [&] {
    json value = table_argument(L, kind);
    host.declarations.push_back({kind, std::move(value), with_path(where_of(L, 1), host.file), 0});
  });
  return ok ? 0 : raise_failure(L, host);
}

int l_scenario(lua_State* L) { return declare(L, "scenario"); }
int l_cloud(lua_State* L) { return declare(L, "cloud"); }
int l_site(lua_State* L) { return declare(L, "site"); }
int l_app(lua_State* L) { return declare(L, "app"); }
int l_simulation(lua_State* L) { return declare(L, "simulation"); }
int l_regression(lua_State* L) { return declare(L, "regression"); }
int l_sweep(lua_State* L) { return declare(L, "sweep"); }  // read by fleetsim sweep only (sweep_definition.cpp)

// deploy{...}, rollout{...} and fault.*{...} make an action, a userdata with a private metatable that holds the
// index of its JSON value: a table written by hand cannot pass for one. at() schedules it.
int make_action(lua_State* L, const char* kind) {
  Host& host = host_of(L);
  lua_Integer index = 0;
  bool ok = run_guarded(host, [&] {
    json value = table_argument(L, kind);
    value["__kind"] = kind;
    value["__where"] = with_path(where_of(L, 1), host.file);
    host.actions.push_back(std::move(value));
    host.scheduled.push_back(false);
    index = static_cast<lua_Integer>(host.actions.size() - 1);
  });
  if (!ok) return raise_failure(L, host);
  *static_cast<lua_Integer*>(lua_newuserdatauv(L, sizeof(lua_Integer), 0)) = index;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &action_key);
  lua_setmetatable(L, -2);
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

// The index of the action at `index`, or -1 when the value is not one. Raises nothing.
lua_Integer action_index(lua_State* L, int index) {
  if (lua_type(L, index) != LUA_TUSERDATA || lua_getmetatable(L, index) == 0) return -1;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &action_key);
  bool is_action = lua_rawequal(L, -1, -2) != 0;
  lua_pop(L, 2);
  return is_action ? *static_cast<lua_Integer*>(lua_touserdata(L, index)) : -1;
}

void schedule(lua_State* L, Host& host, lua_Integer action) {
  std::string where = where_of(L, 1);
  if (lua_type(L, 1) != LUA_TSTRING)
    throw ScenarioError(where + ": at: the first argument is a time with a unit, e.g. at(\"10m\", ...), got a " +
                        luaL_typename(L, 1));
  double at_s = 0;
  try {
    at_s = parse_duration(checked_string(L, 1, "at: the time")).seconds;
  } catch (const UnitError& e) {
    throw ScenarioError(where + ": at: " + e.what());
  }
  if (action < 0)
    throw ScenarioError(where +
                        ": at: the second argument must be an action made by deploy{...}, rollout{...} or "
                        "fault.partition{...}, got a " +
                        luaL_typename(L, 2));
  host.declarations.push_back(
      {"action", host.actions[static_cast<std::size_t>(action)], with_path(where, host.file), at_s});
  host.scheduled[static_cast<std::size_t>(action)] = true;
}

int l_at(lua_State* L) {
  Host& host = host_of(L);
  lua_Integer action = action_index(L, 2);
  bool ok = run_guarded(host, [&] { schedule(L, host, action); });
  return ok ? 0 : raise_failure(L, host);
}

int l_expect(lua_State* L) {
  Host& host = host_of(L);
  bool ok = run_guarded(host, [&] {
    std::string where = where_of(L, 1);
    if (lua_type(L, 1) != LUA_TSTRING)
      throw ScenarioError(where + ": expect takes a string such as expect \"rollout.time_to_100 <= 45m\", got a " +
                          luaL_typename(L, 1));
    host.declarations.push_back({"expect", checked_string(L, 1, "expect"), with_path(where, host.file), 0});
  });
  return ok ? 0 : raise_failure(L, host);
}

// The kind of a parameter's string default: the unit it is written in, or a plain string.
std::string string_kind(const std::string& text) {
  auto parses = [&](auto parse) {
    try {
      parse(text);
      return true;
    } catch (const std::exception&) {
      return false;
    }
  };
  if (parses([](const std::string& t) { models::parse_rate(t); })) return "rate";
  if (parses([](const std::string& t) { models::parse_bytes(t); })) return "size";
  if (parses([](const std::string& t) { models::parse_duration(t); })) return "duration";
  if (parses([](const std::string& t) { models::parse_frequency(t); })) return "frequency";
  return "string";
}

// Why a -p value is not of its parameter's kind (the unit parser's words for a unit kind), or nullopt.
std::optional<std::string> value_problem(const std::string& kind, const std::string& value) {
  try {
    if (kind == "rate") models::parse_rate(value);
    if (kind == "size") models::parse_bytes(value);
    if (kind == "duration") models::parse_duration(value);
    if (kind == "frequency") models::parse_frequency(value);
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
  if (kind == "number" || kind == "integer") {
    char* end = nullptr;
    errno = 0;
    const double x = std::strtod(value.c_str(), &end);
    if (value.empty() || end != value.c_str() + value.size() || errno == ERANGE || !std::isfinite(x))
      return "not a number";
    if (kind == "integer" && (x != std::floor(x) || std::abs(x) > 9007199254740992.0)) return "not a whole number";
  }
  if (kind == "boolean" && value != "true" && value != "false") return "neither true nor false";
  return std::nullopt;
}

// param(name, default): the value of a scenario parameter, from -p name=value or the default, typed as the default
// (a string in the default's unit, a number, a boolean). Declared once; a second declaration must repeat the default.
int l_param(lua_State* L) {
  Host& host = host_of(L);
  std::string kind, value;
  bool ok = run_guarded(host, [&] {
    if (lua_type(L, 1) != LUA_TSTRING)
      throw error_at(L, "param", std::string("the first argument is the parameter's name, a string; got a ") +
                                     luaL_typename(L, 1));
    const std::string name = checked_string(L, 1, "param");
    const bool identifier = !name.empty() && name.size() <= 64 && (std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_') &&
                            std::all_of(name.begin(), name.end(), [](char c) {
                              return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                            });
    if (!identifier)
      throw error_at(L, "param", "'" + printable(name) + "' is not a parameter name (letters, digits and _, at most 64)");
    const std::string key = "param " + name;
    std::string default_text;
    switch (lua_type(L, 2)) {
      case LUA_TNUMBER:
        kind = lua_isinteger(L, 2) ? "integer" : "number";
        default_text = lua_isinteger(L, 2) ? std::to_string(lua_tointeger(L, 2)) : [&] {
          char buf[64];
          std::snprintf(buf, sizeof buf, "%.17g", lua_tonumber(L, 2));
          return std::string(buf);
        }();
        break;
      case LUA_TBOOLEAN:
        kind = "boolean";
        default_text = lua_toboolean(L, 2) ? "true" : "false";
        break;
      case LUA_TSTRING:
        default_text = checked_string(L, 2, key);
        kind = string_kind(default_text);
        break;
      default:
        throw error_at(L, key, std::string("needs a default: a number, a string (\"20Mbps\") or a boolean; got ") +
                                   (lua_isnone(L, 2) ? "nothing" : luaL_typename(L, 2)));
    }
    for (const auto& p : host.parameters)
      if (p.name == name) {
        if (p.default_text != default_text || p.kind != kind)
          throw error_at(L, key, "declared again with the default " + default_text + ", first at " + p.where +
                                     " with " + p.default_text);
        value = p.value_text;
        return;
      }
    ScenarioParam p{name, kind, default_text, default_text, false, with_path(where_of(L, 1), host.file)};
    if (host.inputs != nullptr)
      for (const auto& [given_name, given_value] : host.inputs->parameters)
        if (given_name == name) {
          if (auto problem = value_problem(kind, given_value))
            throw error_at(L, key, "-p " + name + "=" + printable(given_value) + " is not " + (kind == "integer" ? std::string("an ") : std::string("a ")) + kind +
                                       " like the default " + default_text + ": " + *problem);
          p.value_text = given_value;
          p.given = true;
        }
    value = p.value_text;
    host.parameters.push_back(std::move(p));
  });
  if (!ok) return raise_failure(L, host);
  if (kind == "integer") {
    lua_pushinteger(L, static_cast<lua_Integer>(std::strtod(value.c_str(), nullptr)));
  } else if (kind == "number") {
    lua_pushnumber(L, std::strtod(value.c_str(), nullptr));
  } else if (kind == "boolean") {
    lua_pushboolean(L, value == "true" ? 1 : 0);
  } else {
    lua_pushlstring(L, value.data(), value.size());
  }
  return 1;
}

// Sets each function as a field of the table on top of the stack.
void set_functions(lua_State* L, std::initializer_list<std::pair<const char*, lua_CFunction>> functions) {
  for (auto [name, fn] : functions) {
    lua_pushcfunction(L, fn);
    lua_setfield(L, -2, name);
  }
}

// The actions' metatable (private: getmetatable answers a string), the global table fleetsim, and the prelude that
// makes its functions globals. A lua_CFunction, run by LuaSandbox::setup in protected mode.
int open_fleetsim(lua_State* L) {
  lua_createtable(L, 0, 2);
  lua_pushliteral(L, "fleetsim action");
  lua_setfield(L, -2, "__name");
  lua_pushliteral(L, "fleetsim action");
  lua_setfield(L, -2, "__metatable");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &action_key);
  lua_newtable(L);
  set_functions(L, {{"scenario", l_scenario},
                    {"cloud", l_cloud},
                    {"site", l_site},
                    {"app", l_app},
                    {"deploy", l_deploy},
                    {"rollout", l_rollout},
                    {"at", l_at},
                    {"expect", l_expect},
                    {"param", l_param},
                    {"simulation", l_simulation},
                    {"regression", l_regression},
                    {"sweep", l_sweep}});
  lua_newtable(L);  // fleetsim.fault
  set_functions(L, {{"partition", l_fault_partition},
                    {"degrade", l_fault_degrade},
                    {"registry_outage", l_fault_registry_outage},
                    {"trace", l_fault_trace},
                    {"node_crash", l_fault_node_crash},
                    {"disk_full", l_fault_disk_full},
                    {"orchestrator_restart", l_fault_orchestrator_restart},
                    {"gpu_failure", l_fault_gpu_failure}});
  lua_setfield(L, -2, "fault");
  lua_pushliteral(L, "0.1.0");
  lua_setfield(L, -2, "version");
  lua_setglobal(L, "fleetsim");
  if (luaL_loadbufferx(L, kPrelude, std::strlen(kPrelude), "=prelude", "t") != LUA_OK) lua_error(L);
  lua_call(L, 0, 0);
  // fleet.seed, and math.random drawing from the run's seed (the sandbox seeded it with 0 until now).
  const ScriptInputs* inputs = host_of(L).inputs;
  const auto seed = static_cast<lua_Integer>(inputs != nullptr ? inputs->seed : 1);  // two's complement above 2^63
  lua_createtable(L, 0, 1);
  lua_pushinteger(L, seed);
  lua_setfield(L, -2, "seed");
  lua_setglobal(L, "fleet");
  lua_getglobal(L, "math");
  lua_getfield(L, -1, "randomseed");
  lua_pushinteger(L, seed);
  lua_call(L, 1, 0);
  lua_pop(L, 1);
  return 0;
}

struct FileCloser {
  int fd;
  ~FileCloser() { ::close(fd); }
};

// Only a regular file of at most kMaxScenarioBytes: a directory is not a scenario, and a FIFO or a device would
// block or never end. Opened without blocking, and checked on the open file (no race with a rename).
std::string read_scenario_file(const std::string& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw ScenarioError(file + ": cannot open the scenario file: " + std::strerror(errno));
  FileCloser closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw ScenarioError(file + ": cannot read the scenario file: " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw ScenarioError(file + ": is a directory, not a scenario file");
  if (!S_ISREG(st.st_mode))
    throw ScenarioError(file + ": is not a regular file (a FIFO, socket or device cannot be a scenario)");
  auto too_big = [&] {
    return ScenarioError(file + ": the scenario file is larger than 16MiB, the most a scenario may be");
  };
  if (static_cast<std::uint64_t>(st.st_size) > kMaxScenarioBytes) throw too_big();
  std::string source;
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw ScenarioError(file + ": cannot read the scenario file: " + std::strerror(errno));
    if (n == 0) return source;
    source.append(buffer, static_cast<std::size_t>(n));
    if (source.size() > kMaxScenarioBytes) throw too_big();  // it grew since fstat
  }
}

}  // namespace

std::vector<Declaration> run_scenario_file(const std::string& file, const LuaLimits& limits,
                                           const ScriptInputs& inputs, std::vector<ScenarioParam>* parameters) {
  const std::string source = read_scenario_file(file);
  Host host;
  host.file = file;
  host.inputs = &inputs;
  host.max_values = limits.memory / kBytesPerValue;
  std::optional<std::string> error;
  {
    LuaSandbox sandbox(limits, &host);
    sandbox.setup(open_fleetsim);
    error = sandbox.run(source, kChunkName);
  }
  // A fleetsim bug or the machine's memory, even if the scenario caught the error with pcall.
  if (host.failure == Failure::internal) throw std::runtime_error("in the Lua host: " + host.error);
  if (host.failure == Failure::out_of_memory) throw std::bad_alloc();
  if (error) throw ScenarioError(printable(with_path(*error, file)));
  // An action made and never given to at() would never happen, and the run would say nothing of it: a fault
  // written `fault.partition { ... }` on its own line is a fault the user believes was injected.
  for (std::size_t a = 0; a < host.actions.size(); ++a)
    if (!host.scheduled[a]) {
      const std::string kind = host.actions[a]["__kind"].get<std::string>();
      throw ScenarioError(printable(host.actions[a]["__where"].get<std::string>()) + ": " + kind +
                          " { ... } is never scheduled, so it would never happen: give it a time, at(\"10m\", " + kind +
                          " { ... })");
    }
  // Every -p must name a parameter the file declared (a typo would otherwise run the default silently).
  for (const auto& [name, value] : inputs.parameters) {
    bool declared = false;
    for (const auto& p : host.parameters) declared = declared || p.name == name;
    if (declared) continue;
    std::string known;
    for (const auto& p : host.parameters) known += (known.empty() ? "" : ", ") + p.name;
    throw ScenarioError(file + ": -p " + printable(name) + "=" + printable(value) +
                        ": the scenario declares no parameter '" + printable(name) + "' (" +
                        (known.empty() ? std::string("it declares none; param(\"name\", default) declares one")
                                       : "it declares: " + known) +
                        ")");
  }
  if (parameters != nullptr) *parameters = std::move(host.parameters);
  return std::move(host.declarations);
}

}  // namespace fleetsim::sim::loader
