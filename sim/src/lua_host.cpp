// Runs a scenario file in one Lua 5.4 state and records what it declares as plain JSON values with the file:line of
// each declaration.
#include "lua_host.hpp"

#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <utility>

#include <lua.hpp>

#include "fleetsim/sim/scenario.hpp"

namespace fleetsim::sim::loader {
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

// Only deterministic libraries: no io, no os (clocks), no package loading.
void open_safe_libraries(lua_State* L) {
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
}

// Sets each function as a field of the table on top of the stack, with the state as its upvalue.
void set_functions(lua_State* L, LoaderState& state,
                   std::initializer_list<std::pair<const char*, lua_CFunction>> functions) {
  for (auto [name, fn] : functions) {
    lua_pushlightuserdata(L, &state);
    lua_pushcclosure(L, fn, 1);
    lua_setfield(L, -2, name);
  }
}

// The global table fleetsim, and the prelude that makes its functions globals.
void open_fleetsim(lua_State* L, LoaderState& state) {
  lua_newtable(L);
  set_functions(L, state,
                {{"scenario", l_scenario},
                 {"cloud", l_cloud},
                 {"site", l_site},
                 {"app", l_app},
                 {"deploy", l_deploy},
                 {"rollout", l_rollout},
                 {"at", l_at},
                 {"expect", l_expect},
                 {"simulation", l_simulation}});
  lua_newtable(L);  // fleetsim.fault
  set_functions(L, state,
                {{"partition", l_fault_partition},
                 {"degrade", l_fault_degrade},
                 {"registry_outage", l_fault_registry_outage},
                 {"trace", l_fault_trace},
                 {"node_crash", l_fault_node_crash},
                 {"disk_full", l_fault_disk_full},
                 {"orchestrator_restart", l_fault_orchestrator_restart},
                 {"gpu_failure", l_fault_gpu_failure}});
  lua_setfield(L, -2, "fault");
  lua_pushstring(L, "0.1.0");
  lua_setfield(L, -2, "version");
  lua_setglobal(L, "fleetsim");
  if (luaL_dostring(L, kPrelude) != LUA_OK) throw ScenarioError(std::string("prelude: ") + lua_tostring(L, -1));
}

// Lua shortens long chunk names in its messages; load under a one-byte name and put the path back.
void run_chunk(lua_State* L, const std::string& file) {
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

}  // namespace

std::vector<Declaration> run_scenario_file(const std::string& file) {
  LoaderState state;
  {
    std::unique_ptr<lua_State, decltype(&lua_close)> holder(luaL_newstate(), &lua_close);
    lua_State* L = holder.get();
    if (L == nullptr) throw ScenarioError(file + ": cannot create a Lua state");
    open_safe_libraries(L);
    open_fleetsim(L, state);
    run_chunk(L, file);
  }  // closed before the declarations are handed out: finalizers run by lua_close may still declare
  // Moved, not copied: the vector keeps its capacity, which the --set pass relies on (see overrides.cpp).
  return std::move(state.declarations);
}

}  // namespace fleetsim::sim::loader
