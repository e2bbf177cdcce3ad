// The Lua sandbox holds against hostile scenarios: runs are deterministic, and every attack ends in exit 2 (130 for
// Ctrl-C) with a message, never a signal, a hang or an abort. Every test runs the real fleetsim binary.
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sim_test_support.hpp"

namespace fleetsim::testing {
namespace {

// The smallest valid scenario; each test appends Lua to it.
const char* kSite = "site { name = \"s\", uplink = { down = \"20Mbps\", latency = \"40ms\" } }\n";

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs fleetsim under `timeout`: a hang becomes exit 137 (SIGKILL after `seconds`) and fails the test instead of
// blocking the suite; `signal_after` > 0 sends SIGINT after that many seconds, as a Ctrl-C would (and SIGKILL
// `seconds` later if it did not stop).
RunOutput run_bounded(const std::vector<std::string>& args, int seconds, int signal_after = 0) {
  std::string dir = fresh_dir("bounded");
  std::string cmd = "CI=1 timeout --preserve-status ";
  // --foreground: without it timeout sends the signal to the child and then to its whole process group, so the
  // child gets SIGINT twice at once, and a second Ctrl-C is fleetsim's "exit now" (no reports): the test failed
  // whenever the two were not merged. A Ctrl-C at a terminal is one SIGINT.
  if (signal_after > 0)
    cmd += "--foreground -k " + std::to_string(seconds) + " -s INT " + std::to_string(signal_after) + " ";
  else
    cmd += "-s KILL " + std::to_string(seconds) + " ";
  cmd += quote(FLEETSIM_BINARY);
  for (const auto& a : args) cmd += " " + quote(a);
  cmd += " > " + quote(dir + "/stdout") + " 2> " + quote(dir + "/stderr") + " < /dev/null";
  int status = std::system(cmd.c_str());
  RunOutput r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(dir + "/stdout");
  r.err = read_file(dir + "/stderr");
  return r;
}

// Writes kSite + lua + a one-minute duration (a scenario without actions needs one) as <test dir>/<name> and runs
// it (with `args`), bounded to 60 s. The duration comes last so that the lines of `lua` keep their numbers.
RunOutput run_lua(const std::string& lua, const std::vector<std::string>& args = {},
                  const std::string& name = "s.lua") {
  std::string dir = fresh_dir("run");
  std::string file = std::string(kSite) + lua + "\nsimulation { duration = \"1m\" }\n";
  std::vector<std::string> all{"run", write_scenario(dir, name, file)};
  all.insert(all.end(), args.begin(), args.end());
  all.insert(all.end(), {"--out", dir, "--no-progress", "-q"});
  RunOutput r = run_bounded(all, 60);
  r.dir = dir;
  return r;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(Sandbox, PairsLoopGivesTheSameReportOnEveryRun) {
  // Declares 20 sites in a pairs loop over string keys, runs it 5 times in separate processes with the same seed
  // (each a new Lua state with a new random string hash seed), and compares the bytes of report.json.
  std::string lua = R"(
app { name = "pos", versions = { ["1"] = { image = "1MiB" } } }
local sites = {}
for i = 1, 20 do sites["store_" .. string.char(96 + i)] = i end
for name, nodes in pairs(sites) do
  site { name = name, count = 1, nodes = nodes % 3 + 1, uplink = { down = nodes .. "Mbps", latency = "40ms" } }
end
at("0s", deploy { app = "pos", version = "1" })
)";
  std::string dir = fresh_dir("run");
  std::string path = write_scenario(dir, "pairs.lua", lua);
  std::string first;
  for (int i = 0; i < 5; ++i) {
    auto run = run_fleetsim(path, {"--seed", "7"}, fresh_dir("out" + std::to_string(i)));
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    std::string report = read_file(run.dir + "/report.json");
    if (i == 0) first = report;
    EXPECT_EQ(report, first) << "run " << i << " differs from run 0";
  }
}

TEST(Sandbox, PairsAndNextVisitInTheDocumentedOrder) {
  // Prints the keys pairs visits in a table of every kind of key, removing each while traversing: integers from 1
  // up, the other numbers ascending, strings in byte order, false, true; tables as keys are an error.
  auto run = run_lua(R"(
local t = { 1, 2, 3, [-1] = 0, [0.5] = 0, [10] = 0, b = 0, a = 0, ab = 0, [""] = 0, [true] = 0, [false] = 0 }
local seen = {}
for k in pairs(t) do seen[#seen + 1] = tostring(k); t[k] = nil end
print(table.concat(seen, ","), next(t), next({}), next({ x = 1 }))
)");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(contains(run.out, "1,2,3,10,-1,0.5,,a,ab,b,false,true\tnil\tnil\tx\t1\n")) << run.out;
  auto table_key = run_lua("for k in pairs({ [{}] = 1 }) do end\n");
  EXPECT_EQ(table_key.exit_code, 2) << table_key.err;
  EXPECT_TRUE(contains(table_key.err, "s.lua:2: pairs/next: the table has a table as a key")) << table_key.err;
}

TEST(Sandbox, OutputsHoldNoAddresses) {
  // Prints tostring, print and string.format("%s") of tables and functions twice in separate processes: ids in
  // first-use order instead of addresses, identical output; string.format("%p") is refused.
  std::string lua = R"(
local t, f = {}, function() end
print(t, f, tostring(t), string.format("%s|%5s", f, "x"), tostring(setmetatable({}, { __name = "thing" })))
)";
  auto a = run_lua(lua);
  auto b = run_lua(lua);
  EXPECT_EQ(a.exit_code, 0) << a.err;
  EXPECT_TRUE(contains(a.out, "table: #1\tfunction: #2\ttable: #1\tfunction: #2|    x\tthing: #3\n")) << a.out;
  EXPECT_EQ(a.out, b.out);
  auto p = run_lua("local s = string.format(\"%p\", {})\n");
  EXPECT_EQ(p.exit_code, 2);
  EXPECT_TRUE(contains(p.err, "s.lua:2: string.format: '%p'")) << p.err;
}

TEST(Sandbox, SortSeedAndFinalizersAreDeterministic) {
  // table.sort is stable on 300 elements with ties; math.randomseed() without a seed (the clock) and __gc
  // finalizers (run when memory is collected) are errors naming the line.
  auto sort = run_lua(R"(
local t = {}
for i = 1, 300 do t[i] = { key = i % 3, i = i } end
table.sort(t, function(a, b) return a.key < b.key end)
for i = 2, 300 do assert(t[i - 1].key < t[i].key or t[i - 1].i < t[i].i, "not stable at " .. i) end
print("sorted")
)");
  EXPECT_EQ(sort.exit_code, 0) << sort.err;
  EXPECT_TRUE(contains(sort.out, "sorted")) << sort.out;
  auto seed = run_lua("math.randomseed()\n");
  EXPECT_EQ(seed.exit_code, 2);
  EXPECT_TRUE(contains(seed.err, "s.lua:2: math.randomseed needs a seed")) << seed.err;
  auto gc = run_lua("setmetatable({}, { __gc = function() end })\n");
  EXPECT_EQ(gc.exit_code, 2);
  EXPECT_TRUE(contains(gc.err, "s.lua:2: setmetatable: __gc")) << gc.err;
}

TEST(Sandbox, BytecodeIsRefused) {
  // Loads a binary chunk header (as string.dump would make) through load, even when asking for mode "b": a clean
  // scenario error, not an unverified chunk run; string.dump is gone.
  auto run = run_lua(R"(local f, err = load("\27Lua\x54\0\x19\x93\r\n\x1a\n", "x", "b")
assert(f, err)
)");
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_TRUE(contains(run.err, "s.lua:3: attempt to load a binary chunk (mode is 't')")) << run.err;
  auto dump = run_lua("assert(string.dump == nil and (\"\").dump == nil, 'string.dump is available')\n");
  EXPECT_EQ(dump.exit_code, 0) << dump.err;
  auto text = run_lua("assert(load('return 1 + 1')() == 2)\n");
  EXPECT_EQ(text.exit_code, 0) << text.err;
}

TEST(Sandbox, InstructionBudgetStopsEndlessLoops) {
  // Runs `while true do end`, the same inside pcall (which must not catch the stop), and a loop of a few instructions
  // that each allocate a megabyte the collector frees again (found by fuzz/scenario_loader_fuzz: it ran for hours
  // under both budgets; allocated bytes now count as instructions), with a budget of 1e7 instructions: exit 2 within
  // seconds, naming the line and lua.instructions.
  for (const char* lua : {"while true do end\n", "while true do pcall(function() while true do end end) end\n",
                          "local t = {}\nwhile true do t[#t + 2] = string.rep('x', 1e6) end\n"}) {
    auto start = std::chrono::steady_clock::now();
    auto run = run_lua(lua, {"--set", "lua.instructions=1e7"});
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(run.exit_code, 2) << lua << run.err;
    EXPECT_TRUE(contains(run.err, "the scenario ran more than 10000000 Lua instructions; raise lua.instructions") &&
                (contains(run.err, "s.lua:2: ") || contains(run.err, "s.lua:3: ")))
        << run.err;
    EXPECT_LT(seconds, 20);
  }
}

TEST(Sandbox, CtrlCStopsTheLuaCode) {
  // Sends SIGINT one second into `while true do end` (default budget, which would take seconds): the hook sees the
  // request, the run ends with 130 at once, and junit.xml says it was interrupted.
  std::string dir = fresh_dir("run");
  std::string path = write_scenario(dir, "loop.lua", std::string(kSite) + "while true do end\n");
  auto start = std::chrono::steady_clock::now();
  auto run = run_bounded({"run", path, "--out", dir, "--no-progress", "-q"}, 60, 1);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(run.exit_code, 130) << run.err;
  EXPECT_LT(seconds, 2.5);
  EXPECT_TRUE(contains(read_file(dir + "/junit.xml"), "loop.lua:2: interrupted")) << read_file(dir + "/junit.xml");
}

TEST(Sandbox, MemoryBudgetStopsRunawayTables) {
  // Fills a table with growing strings, plainly and inside pcall, with lua.memory=64MiB: exit 2 naming the line
  // and lua.memory, without reaching the machine's limits.
  for (const char* lua : {"local t, s = {}, 'x'\nwhile true do s = s .. s; t[#t + 1] = s end\n",
                          "local t = {}\nwhile true do pcall(function() t[#t + 1] = string.rep('x', 1e6) end) end\n"}) {
    auto run = run_lua(lua, {"--set", "lua.memory=64MiB"});
    EXPECT_EQ(run.exit_code, 2) << lua << run.err;
    EXPECT_TRUE(contains(run.err, "s.lua:3: the scenario's Lua code used more than 64MiB of memory; raise lua.memory"))
        << run.err;
  }
}

TEST(Sandbox, LuaLimitsAreCheckedBeforeTheRun) {
  // Passes good and bad lua.* values with --set: good ones run the scenario, bad ones are exit 2 naming the entry.
  EXPECT_EQ(run_lua("", {"--set", "lua.instructions=5e9", "--set", "lua.memory=2GiB"}).exit_code, 0);
  for (const auto& [set, message] : std::vector<std::pair<std::string, std::string>>{
           {"lua.instructions=many", "from 1e6 to 1e15"},
           {"lua.instructions=1e16", "from 1e6 to 1e15"},
           {"lua.memory=2G", "unknown unit 'G'"},
           {"lua.memory=1KiB", "at least 1MiB"},
           {"lua.stack=1", "unknown key 'lua.stack'"},
           {"lua.memory", "expected lua.instructions=N or lua.memory=SIZE"}}) {
    auto run = run_lua("", {"--set", set});
    EXPECT_EQ(run.exit_code, 2) << set;
    EXPECT_TRUE(contains(run.err, "--set " + set + ": ")) << run.err;
    EXPECT_TRUE(contains(run.err, message)) << run.err;
  }
}

TEST(Sandbox, DeepTablesAndOddErrorsAreScenarioErrors) {
  // Declares tables nested 17 to 40 deep (Lua guarantees the host only 20 stack slots) and a table shared 2^32
  // times, raises non-string errors, and puts invalid UTF-8 and a zero byte in names and keys: each is exit 2 with
  // file:line, never a signal.
  for (int depth : {17, 24, 32, 40}) {
    auto run = run_lua("local t = 'x'\nfor i = 1, " + std::to_string(depth) +
                       " do t = { t } end\nsite { name = 'deep', labels = t }\n");
    EXPECT_EQ(run.exit_code, 2) << depth << run.err;
    EXPECT_TRUE(contains(run.err, "s.lua:4: ")) << run.err;
  }
  for (const auto& [lua, message] : std::vector<std::pair<std::string, std::string>>{
           {"error({})", "s.lua:2: error with a table value instead of a message"},
           {"error(nil)", "s.lua:2: error with a nil value instead of a message"},
           {"error(setmetatable({}, { __tostring = function() return 'x' end }))", "error with a table value"},
           {"site { name = 'a\\255b' }", "s.lua:2: name: the string is not valid UTF-8 ('a\\xFFb')"},
           {"site { name = 'a\\0b' }", "s.lua:2: name: the string contains a zero byte ('a\\x00b')"},
           {"site { name = 'x', labels = { ['k\\192'] = 'v' } }", "labels: the key 'k\\xC0' is not valid UTF-8"},
           {"expect '\\237\\160\\128'", "expect: the string is not valid UTF-8"},
           {"site { name = 'x', labels = { a = print, b = {} } }", "s.lua:2: labels.a: a function cannot be part"}}) {
    auto run = run_lua(lua + "\n");
    EXPECT_EQ(run.exit_code, 2) << lua << run.err;
    EXPECT_TRUE(contains(run.err, message)) << lua << "\n" << run.err;
  }  // 31 levels of { a = t, b = t } are 2^32 values once copied: stopped by lua.memory (16 MiB: 131,072 values).
  auto shared = run_lua("local t = {}\nfor i = 1, 31 do t = { a = t, b = t } end\nsite { name = 'x', labels = t }\n",
                        {"--set", "lua.memory=16MiB"});
  EXPECT_EQ(shared.exit_code, 2) << shared.err;
  EXPECT_TRUE(contains(shared.err, "s.lua:4: labels.a.a.a")) << shared.err;
  EXPECT_TRUE(contains(shared.err, "more than 131072 values, which at 128 bytes each is lua.memory")) << shared.err;
}

TEST(Sandbox, ActionsCannotBeForged) {
  // Passes hand-written tables shaped like the old action encoding to at(): a clear error; real actions hide their
  // metatable.
  for (const char* forged : {"{ __fleetsim_action = 'x' }", "{ __fleetsim_action = '{}' }",
                             "{ __fleetsim_action = '{\"__kind\":\"deploy\"}' }", "setmetatable({}, {})"}) {
    auto run = run_lua(std::string("at('1s', ") + forged + ")\n");
    EXPECT_EQ(run.exit_code, 2) << forged << run.err;
    EXPECT_TRUE(contains(run.err, "s.lua:2: at: the second argument must be an action")) << run.err;
  }
  auto hidden = run_lua(R"(app { name = "pos", versions = { ["1"] = { image = "1MiB" } } }
local d = deploy { app = "pos", version = "1" }
assert(getmetatable(d) == "fleetsim action" and type(d) == "userdata")
at("0s", d)
)");
  EXPECT_EQ(hidden.exit_code, 0) << hidden.err;
}

TEST(Sandbox, OnlyRegularFilesOfAtMost16MiBAreScenarios) {
  // Gives a directory, a FIFO (which would block), a 17 MiB file, and a path with the byte 0x1f (the chunk-name
  // mark) to a file that raises an error: exit 2 with a message, within seconds.
  std::string dir = fresh_dir("files");
  std::string fifo = dir + "/fifo.lua";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::string big = write_scenario(dir, "big.lua", std::string(kSite) + "--" + std::string(17 << 20, 'x') + "\n");
  std::string marked = dir + "/a\x1f" + "b";
  std::filesystem::create_directories(marked);
  std::string erring = write_scenario(marked, "e.lua", std::string(kSite) + "error('boom')\n");
  for (const auto& [path, message] :
       std::vector<std::pair<std::string, std::string>>{{dir, "is a directory, not a scenario file"},
                                                        {fifo, "is not a regular file"},
                                                        {big, "larger than 16MiB"},
                                                        {erring, dir + "/a\\x1Fb/e.lua:2: boom"}}) {
    auto run = run_bounded({"run", path, "--out", fresh_dir("out"), "--no-progress", "-q"}, 30);
    EXPECT_EQ(run.exit_code, 2) << path << run.err;
    EXPECT_TRUE(contains(run.err, message)) << run.err;
  }
}

TEST(Sandbox, FleetSizeIsCheckedBeforeAnythingIsBuilt) {
  // Declares 1,000,000 sites of 100,000 nodes (10^11 nodes, std::bad_alloc before): exit 2 naming the count and
  // simulation.max_nodes; the limit can be lowered or raised with --set.
  auto huge = run_lua(
      "site { name = 'big', count = 1000000, nodes = 100000, uplink = { down = '1Mbps', latency = "
      "'1ms' } }\n");
  EXPECT_EQ(huge.exit_code, 2) << huge.err;
  EXPECT_TRUE(contains(huge.err,
                       "s.lua:2: site 'big': key 'count': 1,000,000 sites of 100,000 nodes bring the fleet "
                       "to 100,000,000,001 nodes, more than simulation.max_nodes = 2,000,000"))
      << huge.err;
  std::string four = "site { name = 'four', count = 2, nodes = 2, uplink = { down = '1Mbps', latency = '1ms' } }\n";
  auto low = run_lua(four, {"--set", "simulation.max_nodes=4"});
  EXPECT_EQ(low.exit_code, 2) << low.err;
  EXPECT_TRUE(contains(low.err, "nodes bring the fleet to 5 nodes, more than simulation.max_nodes = 4")) << low.err;
  EXPECT_EQ(run_lua(four, {"--set", "simulation.max_nodes=5"}).exit_code, 0);
}

}  // namespace
}  // namespace fleetsim::testing
