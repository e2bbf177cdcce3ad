// Every kind of scenario or usage mistake exits with code 2 and a message naming file:line and the key;
// a failed expectation exits with 1 and says by how much.
#include <sstream>

#include <gtest/gtest.h>

#include "fleetsim/sim/scenario.hpp"
#include "sim_test_support.hpp"

namespace fleetsim::testing {
namespace {

// A valid scenario; each test replaces one line (marked by its comment) with a mistake.
const char* kValid = R"(scenario { name = "errors" }
cloud { registry = { egress = "1Gbps" } }
site {
  name = "store", count = 2, nodes = 2,
  uplink = { down = "20Mbps", up = "2Mbps", latency = "40ms" },
  hardware = { disk = "64GiB" },
}
app { name = "pos", versions = { ["1"] = { image = "100MiB" }, ["2"] = { image = "110MiB" }, ["2.1"] = { image = "1MiB" } } }
at("0s", deploy { app = "pos", version = "1" })
at("1h", rollout { app = "pos", version = "2" })
expect "rollout_pos_2.time_to_100 <= 1h"
)";

// Replaces line `line` (1-based) of kValid.
std::string with_line(int line, const std::string& replacement) {
  std::istringstream in(kValid);
  std::ostringstream out;
  std::string l;
  for (int i = 1; std::getline(in, l); ++i) out << (i == line ? replacement : l) << "\n";
  return out.str();
}

struct Case {
  std::string name;
  int line;                               // which line of kValid to replace
  std::string replacement;                // the mistake
  std::vector<std::string> must_contain;  // beyond "file:line"
  int reported_line = 0;                  // the line the message must name (defaults to `line`)
};

class ScenarioErrors : public ::testing::TestWithParam<Case> {};

TEST_P(ScenarioErrors, ExitTwoWithFileLineAndKey) {
  // Writes the mistaken scenario, runs fleetsim on it and checks the exit code and the message.
  const Case& c = GetParam();
  std::string dir = fresh_dir("run");
  std::string path = write_scenario(dir, "bad.lua", with_line(c.line, c.replacement));
  auto run = run_fleetsim(path, {}, dir);
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  int line = c.reported_line ? c.reported_line : c.line;
  EXPECT_NE(run.err.find(path + ":" + std::to_string(line) + ":"), std::string::npos)
      << "expected " << path << ":" << line << " in: " << run.err;
  for (const auto& text : c.must_contain) EXPECT_NE(run.err.find(text), std::string::npos) << text << " in " << run.err;
}

INSTANTIATE_TEST_SUITE_P(
    Mistakes, ScenarioErrors,
    ::testing::Values(
        Case{"UnknownTopLevelKey",
             2,
             R"(cloud { registry = { egress = "1Gbps" }, regsitry = {} })",
             {"key 'regsitry'", "unknown key"}},
        Case{"UnknownNestedKey",
             5,
             R"(  uplink = { down = "20Mbps", latncy = "40ms" },)",
             {"site 'store'", "key 'uplink.latency'", "latncy"},
             3},
        // Two edits away (a transposition): still "did you mean". (Killed mutant: load-did-you-mean-distance.)
        Case{"UnknownNestedKeyTwoEditsAway",
             5,
             R"(  uplink = { down = "20Mbps", latnecy = "40ms" },)",
             {"key 'uplink.latency'", "did you mean it instead of 'latnecy'"},
             3},
        Case{"BadUnit",
             5,
             R"(  uplink = { down = "20Mbs", up = "2Mbps", latency = "40ms" },)",
             {"key 'uplink.down'", "unknown unit 'Mbs'"},
             3},
        Case{"MissingUnitInString",
             5,
             R"(  uplink = { down = "20", up = "2Mbps", latency = "40ms" },)",
             {"key 'uplink.down'", "no unit"},
             3},
        Case{"BareNumberWhereUnitNeeded",
             5,
             R"(  uplink = { down = 20, up = "2Mbps", latency = "40ms" },)",
             {"key 'uplink.down'", "bare number 20"},
             3},
        Case{"ZeroSegmentSize",
             5,
             R"(  uplink = { down = "20Mbps", latency = "40ms", mss = "0B" },)",
             {"key 'uplink.mss'", "must be positive"},
             3},
        Case{"HeaderOverheadInTheWrongUnit",
             5,
             R"(  uplink = { down = "20Mbps", latency = "40ms", overhead = "66KiB" },)",
             {"key 'uplink.overhead'", "at most 65535B"},
             3},
        Case{"UnknownKeyBesideTheWireSettings",
             5,
             R"(  lan = { bandwidth = "1Gbps", overhed = "90B" }, uplink = { down = "20Mbps", latency = "40ms" },)",
             {"unknown key 'lan.overhed'", "did you mean 'lan.overhead'"},
             3},
        Case{"WrongTypeForCount",
             4,
             R"(  name = "store", count = "two", nodes = 2,)",
             {"key 'count'", "whole number"},
             3},
        Case{"NegativeCount", 4, R"(  name = "store", count = -1, nodes = 2,)", {"key 'count'", "between"}, 3},
        Case{"SizeOverflow",
             8,
             R"(app { name = "pos", versions = { ["1"] = { image = "20EiB" }, ["2"] = { image = "1MiB" } } })",
             {"key 'versions.1.image'"}},
        Case{"SizeTooLarge", 6, R"(  hardware = { disk = "99999999PiB" },)", {"key 'hardware.disk'", "too large"}, 3},
        Case{"MissingRequiredKey",
             5,
             R"(  uplink = { up = "2Mbps", latency = "40ms" },)",
             {"key 'uplink.down'", "is required"},
             3},
        Case{"UnknownApp",
             9,
             R"(at("0s", deploy { app = "psos", version = "1" }))",
             {"key 'app'", "no app named 'psos'"}},
        Case{"UnknownVersion",
             10,
             R"(at("1h", rollout { app = "pos", version = "3" }))",
             {"key 'version'", "no version '3'", "versions: 1, 2, 2.1"}},
        // A fault (or rollout) written without at() would never happen, and a run that passes would say nothing.
        Case{"FaultNeverScheduled",
             10,
             R"(fault.partition { sites = { "store-1" }, duration = "1h" })",
             {"fault.partition { ... } is never scheduled", "at(\"10m\", fault.partition { ... })"}},
        Case{"RolloutNeverScheduled",
             10,
             R"(rollout { app = "pos", version = "2" })",
             {"rollout { ... } is never scheduled"}},
        Case{"UnknownStrategy",
             10,
             R"(at("1h", rollout { app = "pos", version = "2", strategy = "yolo" }))",
             {"key 'strategy'", "unknown strategy 'yolo'"}},
        Case{
            "BadBatchSize",
            10,
            R"(at("1h", rollout { app = "pos", version = "2", strategy = { kind = "batches", size = "10 percent" } }))",
            {"key 'strategy.size'", "percentage"}},
        // A batch of 0 % would never end. (Killed mutant: load-percent-zero-accepted.)
        Case{"ZeroPercentBatch",
             10,
             R"(at("1h", rollout { app = "pos", version = "2", strategy = { kind = "batches", size = "0%" } }))",
             {"key 'strategy.size'"}},
        Case{
            "BatchWithoutSize",
            10,
            R"(at("1h", rollout { app = "pos", version = "2", strategy = { kind = "batches", healthy_time = "1m" } }))",
            {"key 'strategy.size'", "sites_in_parallel"}},
        Case{"UnknownBusPreset",
             6,
             R"(  sensors = { { name = "t", rate = "1/s" } }, bus = { preset = "kafka" },)",
             {"key 'bus.preset'", "unknown preset 'kafka'", "greengrass_spool"},
             3},
        Case{"BusWithNothingToCarry",
             6,
             R"(  bus = { preset = "azure_edgehub" },)",
             {"key 'bus'", "needs something to carry"},
             3},
        Case{"StreamOverrideForUnknownStream",
             6,
             R"(  sensors = { { name = "t", rate = "1/s" } }, bus = { streams = { alarms = { priority = 0 } } },)",
             {"key 'bus.streams.alarms'", "no sensor", "telemetry"},
             3},
        Case{"BadOverflowPolicy",
             6,
             R"(  sensors = { { name = "t", rate = "1/s" } }, bus = { overflow = "drop_newest" },)",
             {"key 'bus.overflow'", "drop_oldest, reject_new or priority_evict"},
             3},
        Case{"UnboundedStream",
             6,
             R"(  sensors = { { name = "t", rate = "1/s" } }, bus = { max_bytes = "0B" },)",
             {"key 'bus.max_bytes'", "needs a bound"},
             3},
        Case{"BurstySensorWithoutOnPeriod",
             6,
             R"(  sensors = { { name = "d", rate = "5/s", process = "bursty", off = "1m" } },)",
             {"key 'sensors.1.on'", "is required"},
             3},
        Case{"SensorRateWithoutUnit",
             6,
             R"(  sensors = { { name = "t", rate = 5 } },)",
             {"key 'sensors.1.rate'", "no unit"},
             3},
        Case{"SensorsNotAList", 6, R"(  sensors = { name = "t", rate = "1/s" },)", {"key 'sensors'", "list"}, 3},
        Case{"InferenceWithoutGpu", 6, R"(  inference = { cameras = 2 },)", {"key 'inference'", "needs a GPU"}, 3},
        Case{"GpuFailureOnNodeWithoutInference",
             10,
             R"(at("1h", fault.gpu_failure { nodes = { "store-1/n1" }, duration = "5m" }))",
             {"key 'nodes'", "no GPU inference"}},
        Case{"BadTimeInAt", 9, R"(at("10 parsecs", deploy { app = "pos", version = "1" }))", {"at:", "unknown unit"}},
        Case{"AtWithoutAction", 9, R"(at("0s", { app = "pos" }))", {"at:", "must be an action"}},
        Case{"ExpectUnknownMetric",
             11,
             R"(expect "rollout_pos_2.time_to_101 <= 1h")",
             {"unknown metric 'rollout_pos_2.time_to_101'"}},
        Case{"ExpectBadValueUnit", 11, R"(expect "rollout_pos_2.time_to_100 <= 1 fortnight")", {"expect", "unit"}},
        Case{"ExpectMalformed", 11, R"(expect "rollout_pos_2.time_to_100")", {"expect", "<metric> <op> <value>"}},
        Case{"AppNotATable", 8, R"(app "pos")", {"app expects a table"}},
        // Survivors of the full mutation run (docs/MUTATION.md): a version with neither image nor layers
        // (load-image-and-layers), a fractional integer (load-integer-fraction-truncated), an integer above its
        // bound (load-integer-no-upper-bound).
        Case{"VersionWithoutImageOrLayers",
             8,
             R"(app { name = "pos", versions = { ["1"] = { start_time = "5s" }, ["2"] = { image = "110MiB" } } })",
             {"give either image"}},
        Case{"FractionalCount", 4, R"(  name = "store", count = 2.5, nodes = 2,)", {"key 'count'", "whole number"}, 3},
        Case{"CpuAboveItsBound",
             6,
             R"(  hardware = { disk = "64GiB", cpu = 2000 },)",
             {"key 'hardware.cpu'", "between 1 and 1024"},
             3},
        // found by fuzz/scenario_loader_fuzz: a list where keys belong used to end in exit 3 (json type_error)
        Case{"ActionGivenAList", 9, R"(at("0s", deploy { "pos", "1" }))", {"deploy expects a table of named keys", "got a list"}},
        Case{"SiteGivenAList", 8, R"(site { "store" })", {"site expects a table of named keys"}},
        Case{"FunctionInTable", 6, R"(  hardware = { disk = function() end },)", {"hardware.disk", "function"}, 3},
        Case{
            "LuaSyntaxError", 8, R"(app { name = "pos", versions = { )", {"'}' expected (to close '{' at line 8)"}, 10},
        Case{"LuaRuntimeError", 1, R"(local x = nil; x.y = 1)", {"attempt to index"}}),
    [](const ::testing::TestParamInfo<Case>& param_info) { return param_info.param.name; });

TEST(ScenarioOverrides, SetChangesValuesAndBadSetIsAnError) {
  // --set overrides any declared value; a path to nothing, or a value of the wrong kind, is exit 2 naming --set.
  std::string dir = fresh_dir("run");
  std::string path = write_scenario(dir, "ok.lua", kValid);
  auto scenario = sim::load_scenario(
      path, {"site.store.count=5", "site.store.uplink.down=50Mbps", "app.pos.versions.2.image=300MiB",
             "app.pos.versions.2.1.image=7MiB", "simulation.max_time=2d"});
  ASSERT_EQ(scenario.sites.size(), 1u);
  EXPECT_EQ(scenario.sites[0].count, 5);
  EXPECT_DOUBLE_EQ(scenario.sites[0].uplink_down.bytes_per_s, 50e6 / 8);
  EXPECT_EQ(scenario.apps[0].find("2")->layers[0].size.count, 300ull << 20);
  EXPECT_EQ(scenario.apps[0].find("2.1")->layers[0].size.count, 7ull << 20);  // a key with a dot
  EXPECT_DOUBLE_EQ(scenario.simulation.max_time.seconds, 2 * 86400.0);

  auto no_site = run_fleetsim(path, {"--set", "site.stor.count=5"}, dir);
  EXPECT_EQ(no_site.exit_code, 2);
  EXPECT_NE(no_site.err.find("no site named 'stor'"), std::string::npos) << no_site.err;
  auto bad_value = run_fleetsim(path, {"--set", "site.store.count=abc"}, dir);
  EXPECT_EQ(bad_value.exit_code, 2);
  EXPECT_NE(bad_value.err.find("key 'count'"), std::string::npos) << bad_value.err;
  EXPECT_NE(bad_value.err.find("from --set"), std::string::npos) << bad_value.err;
  auto bad_unit = run_fleetsim(path, {"--set", "site.store.uplink.down=fast"}, dir);
  EXPECT_EQ(bad_unit.exit_code, 2);
  EXPECT_NE(bad_unit.err.find("uplink.down"), std::string::npos) << bad_unit.err;
  auto unknown_key = run_fleetsim(path, {"--set", "site.store.colour=red"}, dir);
  EXPECT_EQ(unknown_key.exit_code, 2);
  EXPECT_NE(unknown_key.err.find("key 'colour'"), std::string::npos) << unknown_key.err;
  auto bad_mode = run_fleetsim(path, {"--set", "simulation.control_messages=pigeon"}, dir);
  EXPECT_EQ(bad_mode.exit_code, 2);
  EXPECT_NE(bad_mode.err.find("key 'control_messages'"), std::string::npos) << bad_mode.err;
  auto no_equals = run_fleetsim(path, {"--set", "site.store.count"}, dir);
  EXPECT_EQ(no_equals.exit_code, 2);
}

TEST(Usage, BadCommandLinesExitTwo) {
  // Usage mistakes are exit 2 with a message, and never start a simulation.
  EXPECT_EQ(run_raw({}).exit_code, 2);
  EXPECT_EQ(run_raw({"fly"}).exit_code, 2);
  EXPECT_EQ(run_raw({"run"}).exit_code, 2);
  auto unknown = run_raw({"run", "x.lua", "--frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("--frobnicate"), std::string::npos);
  auto missing = run_raw({"run", "/nonexistent/scenario.lua"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("/nonexistent/scenario.lua"), std::string::npos);
  EXPECT_EQ(run_raw({"run", "x.lua", "--seed"}).exit_code, 2);
  EXPECT_EQ(run_raw({"--help"}).exit_code, 0);
}

TEST(Expectations, FailedExpectationExitsOneAndSaysByHowMuch) {
  // A scenario whose rollout cannot meet its expectation: 2 nodes x 100 MiB over 20 Mbps need about 84 s,
  // the expectation asks for 10 s. Exit 1, the summary names the expectation, the overshoot and the replay.
  std::string dir = fresh_dir("run");
  std::string lua = with_line(11, R"(expect "deploy_pos_1.time_to_100 <= 10s")");
  auto run = run_fleetsim(write_scenario(dir, "slow.lua", lua), {"--seed", "5"}, dir);
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_NE(run.out.find("FAILED"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("off by"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("replay: fleetsim run"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("--seed 5"), std::string::npos) << run.out;
  auto report = read_report(run);
  EXPECT_EQ(report["result"], "fail");
  EXPECT_FALSE(report["expectations"][0]["passed"].get<bool>());
  std::string junit = read_file(dir + "/junit.xml");
  EXPECT_NE(junit.find("<failure"), std::string::npos);
}

}  // namespace
}  // namespace fleetsim::testing
