// The Lua 5.4 state a scenario runs in, built so that a run depends only on the file, --set and the seed, and so
// that no scenario can crash, hang or exhaust the process: only deterministic libraries; pairs, next, tostring,
// print, string.format and table.sort replaced by versions whose results are the same on every run; load restricted
// to text (Lua does not verify bytecode); no string.dump, collectgarbage or __gc; a budget of VM instructions and
// one of memory; Ctrl-C stops the Lua code. docs/LUA_API.md, "The Lua sandbox", is the user's view of it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct lua_State;

namespace fleetsim::sim::loader {

struct LuaLimits {
  // Measured with the count hook on (2-core dev VM): a tight loop runs ~320 M VM instructions/s, a loop of calls,
  // string building and table writes ~63 M/s, so 1e9 is 3-16 s of CPU; the example scenarios need under 1e6.
  std::uint64_t instructions = 1'000'000'000;
  std::uint64_t memory = std::uint64_t{1} << 30;  // 1 GiB; the example scenarios need under 1 MiB
};

// Takes the lua.* entries (lua.instructions=N, lua.memory=SIZE) out of the --set list: they must be known before
// the Lua code runs, while the other entries apply to what it declared. Throws ScenarioError for an unknown key or
// a bad value.
LuaLimits take_lua_limits(std::vector<std::string>& overrides);

struct SandboxState;

class LuaSandbox {
 public:
  // `host` is what the caller's C functions find with host_of(). Throws ScenarioError when the state cannot be built.
  LuaSandbox(const LuaLimits& limits, void* host);
  ~LuaSandbox();
  LuaSandbox(const LuaSandbox&) = delete;
  LuaSandbox& operator=(const LuaSandbox&) = delete;

  lua_State* state() const;
  static void* host_of(lua_State* L);

  // Calls `setup` (a lua_CFunction that builds globals) in protected mode; throws ScenarioError if it fails.
  void setup(int (*function)(lua_State*));
  // Compiles `source` (text only) under `chunk_name` and runs it within the budgets. Returns the error message if
  // it failed, with "chunk:line:" where Lua or the budget knows it. Throws std::bad_alloc when the machine, not the
  // budget, ran out of memory.
  std::optional<std::string> run(const std::string& source, const char* chunk_name);

 private:
  std::string failure(int status) const;
  std::unique_ptr<SandboxState> state_;
};

}  // namespace fleetsim::sim::loader
