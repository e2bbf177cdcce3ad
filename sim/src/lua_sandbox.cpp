// The sandboxed Lua state (lua_sandbox.hpp). Every lua_CFunction, hook and allocator here is written in the C style:
// no automatic object with a destructor is alive when it calls a Lua function that may raise an error, because a
// Lua error is a longjmp (liblua5.4 is built as C) and a longjmp over such an object skips its destructor.
#include "lua_sandbox.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <type_traits>
#include <utility>

#include <lua.hpp>

#include "fleetsim/models/units.hpp"
#include "fleetsim/sim/interrupt.hpp"
#include "fleetsim/sim/scenario.hpp"

namespace fleetsim::sim::loader {

enum class Stop { none, instructions, memory, interrupted };

struct SandboxState {
  lua_State* L = nullptr;
  void* host = nullptr;
  std::uint64_t instruction_limit = 0;
  std::uint64_t instructions = 0;  // counted by the hook, hook_every at a time
  int hook_every = 0;
  std::size_t memory_limit = 0;
  std::size_t memory = 0;        // bytes Lua holds now
  bool refused = false;          // the allocator refused a block for the budget at least once
  bool refusal_pending = false;  // the last request for more memory was refused
  Stop stop = Stop::none;        // once set, every Lua instruction raises an error
  char where_src[LUA_IDSIZE] = {};
  int where_line = 0;  // where the Lua code was at the last hook (0: not known)
  std::string chunk;   // the name of the chunk being run, for messages when no line is known
  lua_Integer last_id = 0;
};

namespace {

// The count hook runs every kHookEvery VM instructions: it counts them, notes where the code is (for the messages
// of the budgets) and looks at Ctrl-C. Lua calls its trace function at every instruction once any count hook is
// set, so a larger interval would save little; this one stops a loop within a few microseconds.
constexpr int kHookEvery = 1000;
// Work done inside library functions counts too: every byte the Lua code allocates counts as one
// instruction, so that a loop of cheap instructions that each copy megabytes (`string.rep("x", 1e6)` in a loop whose
// garbage the collector frees) meets the instruction budget instead of running for hours under the memory budget.
constexpr std::size_t kBytesPerInstruction = 1;
// What the error path and lua_close may still allocate once the memory budget stopped the Lua code.
constexpr std::size_t kGrace = std::size_t{64} << 20;

// Registry keys (their addresses): the ids of tostring, and the cached order of the tables pairs visits.
char ids_key, orders_key;

SandboxState& state_of(lua_State* L) { return **static_cast<SandboxState**>(lua_getextraspace(L)); }

void budget_hook(lua_State* L, lua_Debug* ar);

// Calls the hook at every instruction from now on (lua_sethook may be called from anywhere, even a signal handler).
void hook_every_instruction(SandboxState& s) {
  s.hook_every = 1;
  if (s.L != nullptr) lua_sethook(s.L, budget_hook, LUA_MASKCOUNT, 1);
}

void stop_lua(SandboxState& s, Stop why) {
  if (s.stop == Stop::none) s.stop = why;
  hook_every_instruction(s);  // every instruction raises an error: a pcall cannot catch the stop and go on
}

bool over_budget(const SandboxState& s, std::size_t more) {
  std::size_t limit = s.memory_limit;
  if (s.stop != Stop::none) limit = limit > std::numeric_limits<std::size_t>::max() - kGrace ? limit : limit + kGrace;
  return more > limit || s.memory > limit - more;
}

// lua_Alloc with a budget. Lua answers a refusal with an emergency collection and asks again: a second refusal in a
// row means the live data really exceed the budget, and the stop becomes sticky.
void* budget_alloc(void* ud, void* block, std::size_t old_size, std::size_t new_size) {
  auto& s = *static_cast<SandboxState*>(ud);
  const std::size_t held = block != nullptr ? old_size : 0;  // for a new object, old_size is its type
  if (new_size == 0) {
    std::free(block);
    s.memory -= held;
    return nullptr;
  }
  if (new_size > held && over_budget(s, new_size - held)) {
    s.refused = true;
    if (s.refusal_pending) stop_lua(s, Stop::memory);
    s.refusal_pending = true;
    return nullptr;
  }
  void* resized = std::realloc(block, new_size);
  if (resized == nullptr) return nullptr;
  s.memory = s.memory - held + new_size;
  if (new_size > held) {
    s.instructions += (new_size - held) / kBytesPerInstruction;
    // Stop at the next instruction, not at the next hook: a thousand instructions of string.rep are a gigabyte.
    if (s.stop == Stop::none && s.instructions > s.instruction_limit) stop_lua(s, Stop::instructions);
  }
  // Past half the budget, the hook notes the line at every instruction, so that a stop for memory names the line
  // that allocated last (Lua calls no handler for a memory error).
  if (s.hook_every > 1 && s.memory > s.memory_limit / 2) hook_every_instruction(s);
  if (new_size > held) s.refusal_pending = false;
  return resized;
}

void budget_hook(lua_State* L, lua_Debug* ar) {
  SandboxState& s = state_of(L);
  // Where the code is, for the messages: at every hook, and once more when a stop came from elsewhere (the
  // allocator, Ctrl-C) before any hook noted a line.
  if ((s.stop == Stop::none || s.where_line == 0) && lua_getinfo(L, "Sl", ar) != 0 && ar->currentline > 0) {
    std::memcpy(s.where_src, ar->short_src, sizeof s.where_src);
    s.where_line = ar->currentline;
  }
  if (s.stop == Stop::none) {
    s.instructions += static_cast<std::uint64_t>(s.hook_every);
    if (fleetsim::sim::interrupt_requested())
      stop_lua(s, Stop::interrupted);
    else if (s.instructions > s.instruction_limit)
      stop_lua(s, Stop::instructions);
    else
      return;
  }
  lua_pushliteral(L, "the scenario's Lua code was stopped by fleetsim");
  lua_error(L);
}

// Lua adds no position to an error object that is not a string (error({}), error(nil)): name the line that raised it.
int message_handler(lua_State* L) {
  if (lua_type(L, 1) == LUA_TSTRING) return 1;
  lua_Debug ar;
  for (int level = 1; lua_getstack(L, level, &ar) != 0; ++level) {
    if (lua_getinfo(L, "Sl", &ar) != 0 && ar.currentline > 0) {
      lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
      break;
    }
  }
  if (lua_gettop(L) == 1) lua_pushliteral(L, "");
  lua_pushfstring(L, "error with a %s value instead of a message (raise a string: error(\"what went wrong\"))",
                  luaL_typename(L, 1));
  lua_concat(L, 2);
  return 1;
}

// ---- pairs and next in a deterministic order -----------------------------------------------------------------
//
// The order is a fixed total order on keys, whatever the table holds: integers from 1 up (the array part), then the
// other numbers ascending, then strings in byte order, then false, true. A traversal sorts the table's keys once
// (when next is called with nil) and caches them; next(t, k) finds what comes after k by binary search, so a key
// removed during the traversal, or a nested traversal of the same table that rebuilt the cache, is no problem.

// A key as the order compares it. Trivially destructible: it lives in Lua memory and on stacks that Lua errors
// longjmp over.
struct OrderKey {
  int rank;  // 0 integer >= 1, 1 other number, 2 string, 3 boolean
  bool is_integer;
  lua_Integer integer;
  lua_Number number;
  const char* text;  // a string key's bytes, alive while the key is on the stack or in the cached order
  std::size_t length;
  lua_Integer slot;  // where the key is in the table of collected keys
};
static_assert(std::is_trivially_destructible_v<OrderKey>, "lives across Lua errors");

bool number_before(const OrderKey& a, const OrderKey& b) {
  if (a.is_integer && b.is_integer) return a.integer < b.integer;
  if (!a.is_integer && !b.is_integer) return a.number < b.number;
  lua_Number x = a.is_integer ? static_cast<lua_Number>(a.integer) : a.number;
  lua_Number y = b.is_integer ? static_cast<lua_Number>(b.integer) : b.number;
  if (x != y) return x < y;
  return a.is_integer;  // equal once rounded (only beyond 2^53): integers first, so the order stays total
}

bool key_before(const OrderKey& a, const OrderKey& b) {
  if (a.rank != b.rank) return a.rank < b.rank;
  if (a.rank <= 1) return number_before(a, b);
  if (a.rank == 2) {
    int c = std::memcmp(a.text, b.text, std::min(a.length, b.length));
    return c != 0 ? c < 0 : a.length < b.length;
  }
  return a.integer < b.integer;  // false before true
}

bool orderable(int type) { return type == LUA_TNUMBER || type == LUA_TSTRING || type == LUA_TBOOLEAN; }

OrderKey order_key(lua_State* L, int index, lua_Integer slot) {
  OrderKey k{};
  k.slot = slot;
  if (lua_type(L, index) == LUA_TNUMBER) {
    k.is_integer = lua_isinteger(L, index) != 0;
    k.integer = lua_tointeger(L, index);
    k.number = lua_tonumber(L, index);
    k.rank = k.is_integer && k.integer >= 1 ? 0 : 1;
  } else if (lua_type(L, index) == LUA_TSTRING) {
    k.rank = 2;
    k.text = lua_tolstring(L, index, &k.length);
  } else {
    k.rank = 3;
    k.integer = lua_toboolean(L, index);
  }
  return k;
}

// Pushes a table of the keys of table t, in lua_next's order (which depends on the hash seed); returns their count.
lua_Integer collect_keys(lua_State* L, int t) {
  lua_newtable(L);
  int keys = lua_gettop(L);
  lua_Integer n = 0;
  lua_pushnil(L);
  while (lua_next(L, t) != 0) {
    lua_pop(L, 1);
    if (!orderable(lua_type(L, -1)))
      luaL_error(L,
                 "pairs/next: the table has a %s as a key, and such keys have no order that is the same on every "
                 "run; use strings or numbers as keys",
                 luaL_typename(L, -1));
    lua_pushvalue(L, -1);
    lua_rawseti(L, keys, ++n);
  }
  return n;
}

// Sorts the keys of table t into orders[t] and pushes that table.
void build_order(lua_State* L, int t) {
  lua_Integer n = collect_keys(L, t);
  int keys = lua_gettop(L);
  auto* sorted = static_cast<OrderKey*>(lua_newuserdatauv(L, sizeof(OrderKey) * static_cast<std::size_t>(n + 1), 0));
  for (lua_Integer i = 0; i < n; ++i) {
    lua_rawgeti(L, keys, i + 1);
    sorted[i] = order_key(L, -1, i + 1);
    lua_pop(L, 1);
  }
  std::sort(sorted, sorted + n, key_before);  // no Lua call while it runs
  lua_createtable(L, static_cast<int>(std::min<lua_Integer>(n, INT32_MAX)), 0);
  for (lua_Integer i = 0; i < n; ++i) {
    lua_rawgeti(L, keys, sorted[i].slot);
    lua_rawseti(L, -2, i + 1);
  }
  lua_rawgetp(L, LUA_REGISTRYINDEX, &orders_key);
  lua_pushvalue(L, t);
  lua_pushvalue(L, -3);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  lua_replace(L, keys);  // leaves the order where the keys were
  lua_settop(L, keys);
}

// Pushes t's cached order, building it if there is none.
void push_order(lua_State* L, int t) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &orders_key);
  lua_pushvalue(L, t);
  if (lua_rawget(L, -2) == LUA_TTABLE) {
    lua_remove(L, -2);
    return;
  }
  lua_pop(L, 2);
  build_order(L, t);
}

// The index in the order of the first key that comes after the key at k.
lua_Integer first_after(lua_State* L, int order, int k) {
  OrderKey key = order_key(L, k, 0);
  lua_Integer lo = 1, hi = static_cast<lua_Integer>(lua_rawlen(L, order)) + 1;
  while (lo < hi) {
    lua_Integer mid = lo + (hi - lo) / 2;
    lua_rawgeti(L, order, mid);
    bool after = key_before(key, order_key(L, -1, 0));
    lua_pop(L, 1);
    if (after)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

// Returns the first key of the order from index `from` whose value in t is not nil (fields may be cleared while
// traversing), and its value; or nil.
int visit_from(lua_State* L, int t, int order, lua_Integer from) {
  lua_Integer size = static_cast<lua_Integer>(lua_rawlen(L, order));
  for (lua_Integer i = from; i <= size; ++i) {
    lua_rawgeti(L, order, i);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, t) != LUA_TNIL) return 2;
    lua_pop(L, 2);
  }
  lua_pushnil(L);
  return 1;
}

int deterministic_next(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);
  if (lua_isnil(L, 2)) {
    lua_pushnil(L);
    if (lua_next(L, 1) == 0) return 1;  // empty: `next(t) == nil` stays cheap
    lua_settop(L, 2);
    build_order(L, 1);  // a new traversal: keys may have been added since the last one
    return visit_from(L, 1, 3, 1);
  }
  if (!orderable(lua_type(L, 2))) return luaL_error(L, "invalid key to 'next'");
  push_order(L, 1);
  return visit_from(L, 1, 3, first_after(L, 3, 2));
}

int deterministic_pairs(lua_State* L) {
  luaL_checkany(L, 1);
  if (luaL_getmetafield(L, 1, "__pairs") == LUA_TNIL) {
    lua_pushvalue(L, lua_upvalueindex(1));  // our next, whatever the global next is now
    lua_pushvalue(L, 1);
    lua_pushnil(L);
  } else {
    lua_pushvalue(L, 1);
    lua_call(L, 1, 3);
  }
  return 3;
}

// ---- tostring, print and string.format without addresses ----------------------------------------------------

// The id of a table, function or userdata: 1, 2, 3... in the order tostring first meets them.
lua_Integer id_of(lua_State* L, int index) {
  index = lua_absindex(L, index);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &ids_key);
  lua_pushvalue(L, index);
  if (lua_rawget(L, -2) == LUA_TNUMBER) {
    lua_Integer id = lua_tointeger(L, -1);
    lua_pop(L, 2);
    return id;
  }
  lua_pop(L, 1);
  lua_Integer id = ++state_of(L).last_id;
  lua_pushvalue(L, index);
  lua_pushinteger(L, id);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  return id;
}

bool shown_by_address(int type) {
  return type == LUA_TTABLE || type == LUA_TFUNCTION || type == LUA_TUSERDATA || type == LUA_TTHREAD;
}

// Pushes what tostring gives for the value, "table: #3" where Lua would print an address.
void push_text(lua_State* L, int index) {
  index = lua_absindex(L, index);
  if (!shown_by_address(lua_type(L, index))) {
    luaL_tolstring(L, index, nullptr);
    return;
  }
  if (luaL_getmetafield(L, index, "__tostring") != LUA_TNIL) {
    lua_pop(L, 1);
    luaL_tolstring(L, index, nullptr);
    return;
  }
  int name_type = luaL_getmetafield(L, index, "__name");
  const char* kind = name_type == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, index);
  lua_Integer id = id_of(L, index);
  lua_pushfstring(L, "%s: #%I", kind, id);
  if (name_type != LUA_TNIL) lua_remove(L, -2);
}

int deterministic_tostring(lua_State* L) {
  luaL_checkany(L, 1);
  push_text(L, 1);
  return 1;
}

int deterministic_print(lua_State* L) {
  int n = lua_gettop(L);
  for (int i = 1; i <= n; ++i) {
    push_text(L, i);
    std::size_t length = 0;
    const char* text = lua_tolstring(L, -1, &length);
    if (i > 1) std::fputc('\t', stdout);
    std::fwrite(text, 1, length, stdout);
    lua_pop(L, 1);
  }
  std::fputc('\n', stdout);
  std::fflush(stdout);
  return 0;
}

// string.format: "%s" of a table shows its id, not its address; "%p" (an address) is refused.
int deterministic_format(lua_State* L) {
  std::size_t length = 0;
  const char* format = luaL_checklstring(L, 1, &length);
  int top = lua_gettop(L);
  int arg = 1;
  for (std::size_t i = 0; i < length; ++i) {
    if (format[i] != '%') continue;
    if (++i < length && format[i] == '%') continue;
    while (i < length && format[i] != '\0' && std::strchr("-+ #0123456789.", format[i]) != nullptr) ++i;
    if (i >= length) break;
    ++arg;
    if (format[i] == 'p')
      return luaL_error(L, "string.format: '%%p' formats an address, which differs between runs (use tostring)");
    if (format[i] == 's' && arg <= top && shown_by_address(lua_type(L, arg))) {
      push_text(L, arg);
      lua_replace(L, arg);
    }
  }
  lua_pushvalue(L, lua_upvalueindex(1));  // Lua's string.format
  lua_insert(L, 1);
  lua_call(L, top, 1);
  return 1;
}

// load(chunk, name, mode, env) in mode "t" whatever mode says: Lua does not verify bytecode, and a crafted binary
// chunk crashes the process.
int text_only_load(lua_State* L) {
  if (lua_gettop(L) < 3) lua_settop(L, 3);  // env stays absent (not nil) when it was not given
  lua_pushliteral(L, "t");
  lua_replace(L, 3);
  lua_pushvalue(L, lua_upvalueindex(1));  // Lua's load
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

// The rest of the sandbox, in Lua: what is simpler there and not on a hot path.
constexpr const char* kSandboxPrelude = R"lua(
local error, type, select, rawget, min = error, type, select, rawget, math.min
local raw_setmetatable, raw_randomseed = setmetatable, math.randomseed

-- A __gc finalizer runs when memory is collected, which no line of the scenario decides, and Lua drops its errors.
function setmetatable(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("setmetatable: __gc finalizers are not available in scenarios (they run when memory is collected, " ..
          "and their errors are lost)", 2)
  end
  return raw_setmetatable(t, mt)
end

-- Without a seed, Lua 5.4 seeds from the clock.
function math.randomseed(...)
  if select("#", ...) == 0 then
    error("math.randomseed needs a seed (without one, Lua seeds from the clock and runs differ)", 2)
  end
  return raw_randomseed(...)
end
raw_randomseed(0)

-- Lua's quicksort takes a pivot from the clock on large unbalanced arrays, and then orders equal elements
-- differently from run to run: a stable merge sort instead.
local function less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb or ta == "nil" or ta == "boolean" or ta == "function" then
    error("table.sort: cannot compare a " .. ta .. " with a " .. tb, 3)  -- at the line that called table.sort
  end
  return a < b
end
function table.sort(t, lt)
  if type(t) ~= "table" then error("bad argument #1 to 'sort' (table expected, got " .. type(t) .. ")", 2) end
  if lt ~= nil and type(lt) ~= "function" then
    error("bad argument #2 to 'sort' (function expected, got " .. type(lt) .. ")", 2)
  end
  lt = lt or less
  local n = #t
  local a, b = {}, {}
  for i = 1, n do a[i] = t[i] end
  local width = 1
  while width < n do
    for lo = 1, n, 2 * width do
      local mid, hi = min(lo + width, n + 1), min(lo + 2 * width, n + 1)
      local i, j = lo, mid
      for k = lo, hi - 1 do
        if j < hi and (i >= mid or lt(a[j], a[i])) then
          b[k], j = a[j], j + 1
        else
          b[k], i = a[i], i + 1
        end
      end
    end
    a, b, width = b, a, 2 * width
  end
  for i = 1, n do t[i] = a[i] end
end
)lua";

void new_weak_table(lua_State* L, const void* key) {
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

// Replaces field `name` of the table on top by a C closure over the field's current value.
void wrap_field(lua_State* L, const char* name, lua_CFunction wrapper) {
  lua_getfield(L, -1, name);
  lua_pushcclosure(L, wrapper, 1);
  lua_setfield(L, -2, name);
}

// Only deterministic libraries: no io, no os (clocks), no package loading, no debug.
void open_libraries(lua_State* L) {
  for (auto [name, open] : {std::pair<const char*, lua_CFunction>{LUA_GNAME, luaopen_base},
                            {LUA_TABLIBNAME, luaopen_table},
                            {LUA_STRLIBNAME, luaopen_string},
                            {LUA_MATHLIBNAME, luaopen_math},
                            {LUA_UTF8LIBNAME, luaopen_utf8}}) {
    luaL_requiref(L, name, open, 1);
    lua_pop(L, 1);
  }
}

int open_sandbox(lua_State* L) {
  open_libraries(L);
  new_weak_table(L, &ids_key);
  new_weak_table(L, &orders_key);
  lua_pushglobaltable(L);
  for (const char* unsafe : {"dofile", "loadfile", "collectgarbage"}) {
    lua_pushnil(L);
    lua_setfield(L, -2, unsafe);
  }
  lua_pushcfunction(L, deterministic_next);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "next");
  lua_pushcclosure(L, deterministic_pairs, 1);
  lua_setfield(L, -2, "pairs");
  lua_pushcfunction(L, deterministic_tostring);
  lua_setfield(L, -2, "tostring");
  lua_pushcfunction(L, deterministic_print);
  lua_setfield(L, -2, "print");
  wrap_field(L, "load", text_only_load);
  lua_getfield(L, -1, LUA_STRLIBNAME);
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");  // bytecode, which load no longer accepts anyway
  wrap_field(L, "format", deterministic_format);
  lua_pop(L, 2);
  if (luaL_loadbufferx(L, kSandboxPrelude, std::strlen(kSandboxPrelude), "=sandbox", "t") != LUA_OK) lua_error(L);
  lua_call(L, 0, 0);
  return 0;
}

std::string size_text(std::uint64_t bytes) {
  for (auto [unit, size] : {std::pair<const char*, std::uint64_t>{"TiB", 1ULL << 40},
                            {"GiB", 1ULL << 30},
                            {"MiB", 1ULL << 20},
                            {"KiB", 1ULL << 10}})
    if (bytes >= size && bytes % size == 0) return std::to_string(bytes / size) + unit;
  return std::to_string(bytes) + "B";
}

std::uint64_t parse_instructions(const std::string& text, const std::string& value) {
  char* end = nullptr;
  double n = std::strtod(value.c_str(), &end);
  bool plain = !value.empty() && value.find_first_not_of("0123456789.eE+") == std::string::npos;
  if (!plain || end == nullptr || *end != '\0' || !std::isfinite(n) || n != std::floor(n) || n < 1e6 || n > 1e15)
    throw ScenarioError("--set " + text +
                        ": lua.instructions must be a whole number of Lua instructions from 1e6 to 1e15, such as 5e9; "
                        "got '" +
                        value + "'");
  return static_cast<std::uint64_t>(n);
}

std::uint64_t parse_memory(const std::string& text, const std::string& value) {
  std::uint64_t bytes = 0;
  try {
    bytes = models::parse_bytes(value).count;
  } catch (const models::UnitError& e) {
    throw ScenarioError("--set " + text + ": lua.memory must be a size such as 2GiB: " + e.what());
  }
  if (bytes < (1ULL << 20)) throw ScenarioError("--set " + text + ": lua.memory must be at least 1MiB");
  return bytes;
}

}  // namespace

LuaLimits take_lua_limits(std::vector<std::string>& overrides) {
  LuaLimits limits;
  std::vector<std::string> rest;
  for (const auto& text : overrides) {
    std::string path = text.substr(0, text.find('='));
    if (path != "lua" && path.rfind("lua.", 0) != 0) {
      rest.push_back(text);
      continue;
    }
    if (path == "lua" || path.size() == text.size())
      throw ScenarioError("--set " + text + ": expected lua.instructions=N or lua.memory=SIZE");
    std::string key = path.substr(4), value = text.substr(path.size() + 1);
    if (key == "instructions")
      limits.instructions = parse_instructions(text, value);
    else if (key == "memory")
      limits.memory = parse_memory(text, value);
    else
      throw ScenarioError("--set " + text + ": unknown key '" + path + "' (lua keys: instructions, memory)");
  }
  overrides = std::move(rest);
  return limits;
}

LuaSandbox::LuaSandbox(const LuaLimits& limits, void* host) : state_(std::make_unique<SandboxState>()) {
  SandboxState& s = *state_;
  s.host = host;
  s.instruction_limit = limits.instructions;
  s.memory_limit = static_cast<std::size_t>(std::min<std::uint64_t>(limits.memory, SIZE_MAX / 2));
  s.L = lua_newstate(budget_alloc, &s);
  if (s.L == nullptr) throw ScenarioError("cannot create a Lua state within lua.memory = " + size_text(limits.memory));
  *static_cast<SandboxState**>(lua_getextraspace(s.L)) = &s;
  setup(open_sandbox);
  s.hook_every = kHookEvery;
  lua_sethook(s.L, budget_hook, LUA_MASKCOUNT, kHookEvery);
}

LuaSandbox::~LuaSandbox() { lua_close(state_->L); }

lua_State* LuaSandbox::state() const { return state_->L; }

void* LuaSandbox::host_of(lua_State* L) { return state_of(L).host; }

void LuaSandbox::setup(int (*function)(lua_State*)) {
  lua_State* L = state_->L;
  lua_settop(L, 0);
  lua_pushcfunction(L, function);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    std::string message = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "an error";
    lua_settop(L, 0);
    throw ScenarioError("cannot set up the Lua state: " + message);
  }
}

std::optional<std::string> LuaSandbox::run(const std::string& source, const char* chunk_name) {
  lua_State* L = state_->L;
  state_->chunk = chunk_name[0] == '=' || chunk_name[0] == '@' ? chunk_name + 1 : chunk_name;
  lua_settop(L, 0);
  lua_pushcfunction(L, message_handler);
  int status = luaL_loadbufferx(L, source.data(), source.size(), chunk_name, "t");
  if (status == LUA_OK) status = lua_pcall(L, 0, 0, 1);
  std::optional<std::string> message;
  if (status != LUA_OK) message = failure(status);
  lua_settop(L, 0);
  return message;
}

// Why the Lua code failed: a budget or Ctrl-C when one stopped it (whatever error object reached the top), else
// the error Lua or the scenario raised.
std::string LuaSandbox::failure(int status) const {
  const SandboxState& s = *state_;
  std::string where =
      (s.where_line > 0 ? std::string(s.where_src) + ":" + std::to_string(s.where_line) : s.chunk) + ": ";
  if (s.stop == Stop::interrupted) return where + "interrupted (Ctrl-C or SIGTERM) while the scenario's Lua code ran";
  if (s.stop == Stop::instructions)
    return where + "the scenario ran more than " + std::to_string(s.instruction_limit) +
           " Lua instructions; raise lua.instructions if it really needs more (e.g. --set lua.instructions=" +
           std::to_string(s.instruction_limit * 2) + ")";
  if (s.stop == Stop::memory || (status == LUA_ERRMEM && s.refused))
    return where + "the scenario's Lua code used more than " + size_text(s.memory_limit) +
           " of memory; raise lua.memory if it really needs more (e.g. --set lua.memory=" +
           size_text(s.memory_limit * 2) + ")";
  if (status == LUA_ERRMEM) throw std::bad_alloc();  // the machine's memory, not the budget
  std::size_t length = 0;
  const char* text = lua_type(s.L, -1) == LUA_TSTRING ? lua_tolstring(s.L, -1, &length) : nullptr;
  if (text == nullptr) return "the scenario's Lua code failed with an error that is not a message";
  return std::string(text, length);
}

}  // namespace fleetsim::sim::loader
