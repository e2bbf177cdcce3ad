// Questions across runs, beyond one grid: statistics across seeds and the rank test (across_seeds.hpp),
// expectations judged on a sweep point's seeds, sweep files (JSON, or Lua with sweep { }), and fleetsim compare's
// significance test and the tolerances a scenario declares. Every test of a command runs the real binary.
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "across_seeds.hpp"
#include "sim_test_support.hpp"

namespace fleetsim::testing {
namespace {

namespace fs = std::filesystem;
namespace seeds = sim::across_seeds;

std::string command(const std::string& dir, const std::string& args) {
  const std::string log = dir + "/command.log";
  const int status = std::system(("'" + std::string(FLEETSIM_BINARY) + "' " + args + " > '" + log + "' 2>&1").c_str());
  return std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + "\n" + read_file(log);
}

// ---- statistics across seeds -----------------------------------------------------------------------------------------

TEST(AcrossSeeds, StatisticsByNearestRank) {
  std::vector<double> one_to_twenty;
  for (int i = 20; i >= 1; --i) one_to_twenty.push_back(i);  // unsorted on purpose
  EXPECT_EQ(*seeds::nearest_rank(one_to_twenty, 95), 19);     // ceil(0.95 x 20) = 19th smallest
  EXPECT_EQ(*seeds::nearest_rank(one_to_twenty, 100), 20);
  EXPECT_EQ(*seeds::nearest_rank(one_to_twenty, 5), 1);
  EXPECT_EQ(*seeds::statistic("median", {4, 1, 3, 2}), 2);  // ceil(0.5 x 4) = 2nd
  EXPECT_EQ(*seeds::statistic("p50", {4, 1, 3, 2}), 2);
  EXPECT_EQ(*seeds::statistic("mean", {1, 2, 3, 6}), 3);
  EXPECT_EQ(*seeds::statistic("min", {3, 1, 2}), 1);
  EXPECT_EQ(*seeds::statistic("max", {3, 1, 2}), 3);
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(*seeds::statistic("mean", {1, inf}), inf);      // a seed that never got there is later than any bound
  EXPECT_EQ(*seeds::statistic("p50", {1, 2, inf}), 2);      // unless the rank passes over it
  EXPECT_FALSE(seeds::statistic("p95", {}).has_value());
  EXPECT_FALSE(seeds::statistic("p0", {1}).has_value());
  EXPECT_FALSE(seeds::statistic("average", {1}).has_value());
}

// The rank test's p-value against every split of the pooled values, enumerated apart (ties and all), and against
// closed forms: fully separated samples of 3 and 3 give 1 / C(6,3) = 0.05, of 5 and 5 give 1 / 252.
TEST(AcrossSeeds, RankSumPValueEqualsTheEnumerationOfEverySplit) {
  EXPECT_DOUBLE_EQ(seeds::rank_sum_p_greater({1, 2, 3}, {4, 5, 6}), 1.0 / 20);
  EXPECT_DOUBLE_EQ(seeds::rank_sum_p_greater({1, 2, 3, 4, 5}, {6, 7, 8, 9, 10}), 1.0 / 252);
  EXPECT_DOUBLE_EQ(seeds::rank_sum_p_greater({4, 5, 6}, {1, 2, 3}), 1.0);  // smaller: no evidence of larger
  EXPECT_DOUBLE_EQ(seeds::rank_sum_p_greater({7, 7, 7}, {7, 7, 7}), 1.0);
  EXPECT_DOUBLE_EQ(seeds::rank_sum_p_greater({}, {1}), 1.0);
  // Enumeration: every way to pick |current| of the pooled values, counting those whose sum of mid-ranks is at
  // least the observed one.
  auto enumerate = [](const std::vector<double>& base, const std::vector<double>& cur) {
    std::vector<double> pooled = base;
    pooled.insert(pooled.end(), cur.begin(), cur.end());
    const std::size_t n = pooled.size();
    std::vector<double> rank(n);
    for (std::size_t i = 0; i < n; ++i) {
      double below = 0, equal = 0;
      for (double v : pooled) {
        below += v < pooled[i] ? 1 : 0;
        equal += v == pooled[i] ? 1 : 0;
      }
      rank[i] = below + (equal + 1) / 2;
    }
    double observed = 0;
    for (std::size_t i = base.size(); i < n; ++i) observed += rank[i];
    double at_least = 0, all = 0;
    for (unsigned mask = 0; mask < (1u << n); ++mask) {
      if (static_cast<std::size_t>(__builtin_popcount(mask)) != cur.size()) continue;
      double sum = 0;
      for (std::size_t i = 0; i < n; ++i)
        if (mask & (1u << i)) sum += rank[i];
      all += 1;
      at_least += sum >= observed - 1e-9 ? 1 : 0;
    }
    return at_least / all;
  };
  std::mt19937 rng(7);
  for (int trial = 0; trial < 40; ++trial) {
    std::vector<double> base(3 + rng() % 5), cur(3 + rng() % 5);
    for (auto& v : base) v = static_cast<double>(rng() % 6);  // few distinct values: many ties
    for (auto& v : cur) v = static_cast<double>(rng() % 6 + trial % 3);
    EXPECT_NEAR(seeds::rank_sum_p_greater(base, cur), enumerate(base, cur), 1e-12) << "trial " << trial;
  }
  // Above 24 values, the normal approximation: no shift is p near 1/2, a full separation far below any alpha.
  std::vector<double> a, b;
  for (int i = 0; i < 15; ++i) {
    a.push_back(i);
    b.push_back(i + 100);
  }
  EXPECT_LT(seeds::rank_sum_p_greater(a, b), 1e-5);
  const double same = seeds::rank_sum_p_greater(a, a);
  EXPECT_GT(same, 0.45);
  EXPECT_LT(same, 0.6);
}

// ---- expectations across seeds ---------------------------------------------------------------------------------------

// uplink_sizing with 2 stores and a 100 MiB image: each store's 4 nodes share its uplink, so the upgrade takes
// 4 x 100 MiB / uplink + 5 s of start, the uplink's payload rate being 0.9564 of its line rate: 355.8 s at 10 Mbps,
// 180.4 s at 20 Mbps, whatever the seed.
TEST(SweepExpectations, AreJudgedOnEachPointsSeedsAgainstTheClosedForm) {
  const std::string dir = fresh_dir("sweep_expect");
  const std::string scenario = source_path("scenarios/uplink_sizing.lua");
  const std::string out = dir + "/s";
  const std::string result =
      command(dir, "sweep '" + scenario + "' -p stores=2 -p image=100MiB -p uplink=10Mbps,20Mbps --seeds 3 -j 2" +
                       " --expect 'max(upgrade.time_to_100) <= 5m' --expect 'p50(upgrade.time_to_50) <= 1h'" +
                       " --no-progress --out '" + out + "'");
  ASSERT_EQ(result.substr(0, 2), "1\n") << result;  // the runs pass; the 10 Mbps point misses its max
  const auto sweep = nlohmann::json::parse(read_file(out + "/sweep.json"));
  EXPECT_EQ(sweep["failed"], 0);
  EXPECT_EQ(sweep["expectations_failed"], 1);
  const double at_10 = 4 * 100.0 * 1024 * 1024 * 8 / (10e6 * kUplinkEfficiency) + 5,
               at_20 = 4 * 100.0 * 1024 * 1024 * 8 / (20e6 * kUplinkEfficiency) + 5;
  const auto& slow = sweep["points"][0]["expectations"][0];
  EXPECT_EQ(slow["across_seeds"], "max");
  EXPECT_EQ(slow["n"], 3);
  EXPECT_FALSE(slow["passed"].get<bool>());
  EXPECT_NEAR(slow["measured"].get<double>(), at_10, 0.01 * at_10);
  const auto& fast = sweep["points"][1]["expectations"][0];
  EXPECT_TRUE(fast["passed"].get<bool>());
  EXPECT_NEAR(fast["measured"].get<double>(), at_20, 0.01 * at_20);
  EXPECT_TRUE(sweep["points"][0]["expectations"][1]["passed"].get<bool>());
  EXPECT_NE(result.find("p0001: expect max(upgrade.time_to_100) <= 5m: FAILED: measured 5m5"), std::string::npos)
      << result;
  EXPECT_EQ(junit_problems(out + "/junit.xml"), "");
  const std::string junit = read_file(out + "/junit.xml");
  EXPECT_NE(junit.find("name=\"expect max(upgrade.time_to_100) &lt;= 5m\" time=\"0\"><failure"), std::string::npos)
      << junit;
  EXPECT_NE(read_file(out + "/sweep.csv").find("\np0001,2,100MiB,10Mbps,3,3,0,0,0,1,"), std::string::npos)
      << read_file(out + "/sweep.csv");

  // A time never reached (the new image does not fit the disk) is later than any bound: counted, and failed.
  const std::string never = command(
      dir, "sweep '" + scenario + "' -p stores=1 -p image=100MiB --seeds 2 --set site.store.hardware.disk=50MiB" +
               " --expect 'p95(upgrade.time_to_100) <= 10h' --no-progress --out '" + dir + "/never'");
  ASSERT_EQ(never.substr(0, 2), "1\n") << never;
  const auto e = nlohmann::json::parse(read_file(dir + "/never/sweep.json"))["points"][0]["expectations"][0];
  EXPECT_EQ(e["unreached"], 2);
  EXPECT_TRUE(e["measured"].is_null());
  EXPECT_FALSE(e["passed"].get<bool>());
}

// An expectation across seeds in the scenario: one run reports its value and does not judge it (junit: skipped);
// the sweep judges it.
TEST(SweepExpectations, InTheScenarioAreSkippedByARunAndJudgedByASweep) {
  const std::string dir = fresh_dir("sweep_expect_file");
  const std::string file = write_scenario(dir, "s.lua", R"lua(
site { name = "s", count = 2, nodes = 1, uplink = { down = "10Mbps", latency = "1ms" } }
app { name = "a", versions = { ["1"] = { image = "10MiB", start_time = "0s" } } }
at("0s", deploy { app = "a", version = "1", name = "install" })
expect "max(install.time_to_100) <= 1s"
)lua");
  RunOutput run = run_fleetsim(file, {}, dir + "/run");
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const auto report = read_report(run);
  EXPECT_EQ(report["expectations"][0]["across_seeds"], "max");
  EXPECT_TRUE(report["expectations"][0]["passed"].is_null());
  EXPECT_NEAR(report["expectations"][0]["measured"].get<double>(), 10.0 * 1024 * 1024 * 8 / (10e6 * kUplinkEfficiency),
              0.2);
  EXPECT_EQ(junit_problems(dir + "/run/junit.xml"), "");
  EXPECT_NE(read_file(dir + "/run/junit.xml").find("skipped=\"1\""), std::string::npos);
  const std::string swept = command(dir, "sweep '" + file + "' --seeds 2 --no-progress --out '" + dir + "/sweep'");
  EXPECT_EQ(swept.substr(0, 2), "1\n") << swept;
  EXPECT_EQ(junit_problems(dir + "/sweep/junit.xml"), "");
  // fleetsim run --expect adds one, judged by the run when it is about the run.
  RunOutput extra = run_fleetsim(file, {"--expect", "install.time_to_100 <= 1s"}, dir + "/extra");
  EXPECT_EQ(extra.exit_code, 1) << extra.out << extra.err;
  EXPECT_NE(read_file(dir + "/extra/junit.xml").find("install.time_to_100 &lt;= 1s"), std::string::npos);
  RunOutput bad = run_fleetsim(file, {"--expect", "p101(install.time_to_100) <= 1s"}, dir + "/bad");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--expect: expect \"p101(install.time_to_100) <= 1s\": unknown statistic 'p101'"),
            std::string::npos)
      << bad.err;
}

// ---- sweep files ------------------------------------------------------------------------------------------------------

const char* kSized = R"lua(
local uplink = param("uplink", "10Mbps")
local sites = param("sites", 1)
site { name = "s", count = sites, nodes = 1, uplink = { down = uplink, latency = "1ms" } }
app { name = "a", versions = { ["1"] = { image = "10MiB", start_time = "0s" } } }
at("0s", deploy { app = "a", version = "1", name = "install" })
)lua";

TEST(SweepFile, JsonAndLuaDefineTheSameSweepAsTheCommandLine) {
  const std::string dir = fresh_dir("sweep_file");
  const std::string scenario = write_scenario(dir, "sized.lua", kSized);
  fs::create_directories(dir + "/studies");
  write_scenario(dir + "/studies", "grid.json", R"json({
  "scenario": "../sized.lua",
  "axes": {"uplink": ["10Mbps", "20Mbps"], "sites": "1..3/2"},
  "seeds": [1, 2],
  "metrics": ["install.time_to_*"],
  "expect": ["max(install.time_to_100) <= 1m"],
  "set": {"simulation.max_time": "1h"}
})json");
  const std::string json = command(dir, "sweep '" + dir + "/studies/grid.json' -j 2 --no-progress --out '" + dir + "/a'");
  ASSERT_EQ(json.substr(0, 2), "0\n") << json;
  const std::string lua_file = write_scenario(dir, "own.lua", std::string(kSized) + R"lua(
sweep {
  axes = { { name = "uplink", values = { "10Mbps", "20Mbps" } }, { name = "sites", values = "1..3/2" } },
  seeds = { 1, 2 },
  metrics = { "install.time_to_*" },
  expect = { "max(install.time_to_100) <= 1m" },
  set = { ["simulation.max_time"] = "1h" },
}
)lua");
  const std::string lua = command(dir, "sweep '" + lua_file + "' -j 2 --no-progress --out '" + dir + "/b'");
  ASSERT_EQ(lua.substr(0, 2), "0\n") << lua;
  const std::string line = command(dir, "sweep '" + scenario + "' -p uplink=10Mbps,20Mbps -p sites=1..3/2 --seeds 1,2" +
                                            " --metric 'install.time_to_*' --expect 'max(install.time_to_100) <= 1m'" +
                                            " --set simulation.max_time=1h -j 2 --no-progress --out '" + dir + "/c'");
  ASSERT_EQ(line.substr(0, 2), "0\n") << line;
  EXPECT_EQ(read_file(dir + "/a/sweep.csv"), read_file(dir + "/c/sweep.csv"));
  EXPECT_EQ(read_file(dir + "/b/sweep.csv"), read_file(dir + "/c/sweep.csv"));
  const auto a = nlohmann::json::parse(read_file(dir + "/a/sweep.json"));
  EXPECT_EQ(a["scenario"], (fs::path(dir) / "sized.lua").lexically_normal().string());  // relative to the file
  EXPECT_EQ(a["points"].size(), 4u);
  EXPECT_TRUE(a["points"][3]["metrics"].contains("install.time_to_100"));
  EXPECT_EQ(a["points"][3]["expectations"].size(), 1u);
  // The command line adds to a sweep file: one more axis value list is one more axis.
  const std::string more = command(dir, "sweep '" + dir + "/studies/grid.json' -p extra=1 --no-progress --out '" + dir + "/d'");
  EXPECT_EQ(more.substr(0, 2), "2\n") << more;  // extra is no parameter of the scenario
}

struct FileMistake {
  const char* name;
  const char* file;
  const char* text;
  const char* says;
};

void PrintTo(const FileMistake& m, std::ostream* os) { *os << m.name; }

class SweepFileMistakes : public ::testing::TestWithParam<FileMistake> {};

TEST_P(SweepFileMistakes, ExitTwoNamingFileLineAndKey) {
  const FileMistake& m = GetParam();
  const std::string dir = fresh_dir(std::string("sweep_file_mistake_") + m.name);
  write_scenario(dir, "sized.lua", kSized);
  const std::string file = write_scenario(dir, m.file, m.text);
  const std::string result = command(dir, "sweep '" + file + "' --no-progress --out '" + dir + "/out'");
  EXPECT_EQ(result.substr(0, 2), "2\n") << result;
  EXPECT_NE(result.find(std::string(dir) + "/" + m.says), std::string::npos) << result;
  EXPECT_FALSE(fs::exists(dir + "/out/points")) << "nothing may run";
  // A CI reading junit.xml sees the error, not a missing file.
  EXPECT_EQ(junit_problems(dir + "/out/junit.xml"), "");
  EXPECT_NE(read_file(dir + "/out/junit.xml").find("<error message="), std::string::npos);
}

// A run that finds its scenario wrong only while running (a fault after the run's end) is an error of its point:
// the sweep exits 2, and every junit.xml of the sweep and of compare validates, whatever the outcome.
TEST(SweepOutcomes, ARunsScenarioErrorIsAnErrorOfItsPointAndEveryJUnitValidates) {
  const std::string dir = fresh_dir("sweep_outcomes");
  const std::string file = write_scenario(dir, "late.lua", R"lua(
local fault_at = param("fault_at", "200ms")
site { name = "s", count = 1, nodes = 1, uplink = { down = "10Mbps", latency = "1ms" } }
app { name = "a", versions = { ["1"] = { image = "1MiB", start_time = "0s" } } }
at("0s", deploy { app = "a", version = "1", name = "install" })
at(fault_at, fault.partition { template = "s", duration = "1s" })
)lua");
  const std::string result = command(dir, "sweep '" + file + "' -p fault_at=200ms,10h --no-progress --out '" + dir + "/s'");
  EXPECT_EQ(result.substr(0, 2), "2\n") << result;
  const auto sweep = nlohmann::json::parse(read_file(dir + "/s/sweep.json"));
  EXPECT_EQ(sweep["points"][0]["passed"], 1);
  EXPECT_EQ(sweep["points"][1]["errors"], 1);
  EXPECT_EQ(junit_problems(dir + "/s/junit.xml"), "");
  EXPECT_NE(read_file(dir + "/s/junit.xml").find("<error message=\"a scenario error found while running"),
            std::string::npos);
  const std::string refused = command(dir, "compare '" + dir + "/s' '" + dir + "/nothing' --out '" + dir + "/cmp'");
  EXPECT_EQ(refused.substr(0, 2), "2\n") << refused;
  EXPECT_EQ(junit_problems(dir + "/cmp/junit.xml"), "");
  EXPECT_NE(read_file(dir + "/cmp/junit.xml").find("<error message="), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    All, SweepFileMistakes,
    ::testing::Values(
        FileMistake{"unknown_key", "s.json", "{\n  \"scenario\": \"sized.lua\",\n  \"axis\": {}\n}",
                    "s.json:3: sweep: unknown key 'axis'"},
        FileMistake{"not_json", "s.json", "{\n  \"scenario\": \"sized.lua\",\n  \"seeds\": [1,\n}", "s.json:4: not JSON"},
        FileMistake{"no_scenario", "s.json", "{ \"seeds\": 3 }", "s.json: key 'scenario' is missing"},
        FileMistake{"bad_range", "s.json", "{\n \"scenario\": \"sized.lua\",\n \"axes\": {\"uplink\": \"1Mbps..2Gbps/3\"}\n}",
                    "s.json:3: sweep: -p uplink=1Mbps..2Gbps/3: the ends of"},
        FileMistake{"lua_axes_unordered", "s.lua",
                    "sweep { scenario = \"sized.lua\",\n axes = { uplink = \"1Mbps,2Mbps\", sites = \"1,2\" } }",
                    "s.lua:1: sweep: key 'axes': a Lua table's keys have no order"},
        FileMistake{"bad_expectation", "s.json",
                    "{\n \"scenario\": \"sized.lua\",\n \"expect\": [\"p95(install.time_to_100) <= fast\"]\n}",
                    "s.json:3: expect \"p95(install.time_to_100) <= fast\": duration 'fast'"},
        FileMistake{"two_sweeps", "s.lua", "sweep { scenario = \"sized.lua\" }\nsweep { scenario = \"sized.lua\" }",
                    "s.lua:2: a second sweep { ... }"}),
    [](const ::testing::TestParamInfo<FileMistake>& param_info) { return std::string(param_info.param.name); });

// ---- compare across seeds ----------------------------------------------------------------------------------------------

// uplink_sizing is deterministic: 3 seeds at 20 Mbps against 3 at 16 Mbps are fully separated, so the rank test's
// p is exactly 1 / C(6,3) = 0.05: significant at alpha 0.05, not at 0.01.
TEST(CompareAcrossSeeds, AWorseMedianMustBeSignificant) {
  const std::string dir = fresh_dir("compare_significance");
  const std::string sweep = "sweep '" + source_path("scenarios/uplink_sizing.lua") + "' -p stores=2 --seeds 3 -j 2 --no-progress";
  ASSERT_EQ(command(dir, sweep + " -p uplink=20Mbps --out '" + dir + "/base'").substr(0, 2), "0\n");
  ASSERT_EQ(command(dir, sweep + " -p uplink=20Mbps --set site.store.uplink.down=16Mbps --out '" + dir + "/slow'").substr(0, 2),
            "0\n");
  const std::string at_05 = command(dir, "compare '" + dir + "/base' '" + dir + "/slow' --out '" + dir + "/cmp'");
  EXPECT_EQ(at_05.substr(0, 2), "1\n") << at_05;
  EXPECT_NE(at_05.find("REGRESSION (worse by more than 5%, p = 0.05)"), std::string::npos) << at_05;
  EXPECT_EQ(junit_problems(dir + "/cmp/junit.xml"), "");
  const std::string at_01 = command(dir, "compare '" + dir + "/base' '" + dir + "/slow' --alpha 0.01");
  EXPECT_EQ(at_01.substr(0, 2), "0\n") << at_01;
  EXPECT_NE(at_01.find("worse, not significant (p = 0.05)"), std::string::npos) << at_01;
  EXPECT_EQ(command(dir, "compare '" + dir + "/base' '" + dir + "/slow' --alpha 2").substr(0, 2), "2\n");
}

// regression { } in the scenario: its tolerances replace the default for the metrics they name (or match), and
// add those metrics to the comparison.
TEST(CompareAcrossSeeds, TheScenarioDeclaresTolerancesAndMetrics) {
  const std::string dir = fresh_dir("compare_declared");
  const std::string file = write_scenario(dir, "sized.lua", std::string(read_file(source_path("scenarios/uplink_sizing.lua"))) +
                                                                 R"lua(
regression { ["*.time_to_*"] = "+30%", ["*.duration"] = "+30%", ["fleet.registry_egress_bytes"] = "+1%" }
)lua");
  ASSERT_EQ(command(dir, "run '" + file + "' -p stores=2 -q --out '" + dir + "/base'").substr(0, 2), "0\n");
  ASSERT_EQ(command(dir, "run '" + file + "' -p stores=2 -p uplink=16Mbps -q --out '" + dir + "/slow'").substr(0, 2), "0\n");
  ASSERT_EQ(command(dir, "run '" + file + "' -p stores=2 -p image=300MiB -q --out '" + dir + "/big'").substr(0, 2), "0\n");
  const std::string slow = command(dir, "compare '" + dir + "/base' '" + dir + "/slow'");
  EXPECT_EQ(slow.substr(0, 2), "0\n") << slow;  // +24.6 % is within the declared +30 %
  EXPECT_NE(slow.find("fleet.registry_egress_bytes"), std::string::npos) << slow;
  const std::string big = command(dir, "compare '" + dir + "/base' '" + dir + "/big'");
  EXPECT_EQ(big.substr(0, 2), "1\n") << big;  // the bytes grow by more than 1 %
  const auto line = big.substr(big.find("  fleet.registry_egress_bytes"));
  EXPECT_NE(line.substr(0, line.find('\n')).find("REGRESSION"), std::string::npos) << big;
  // The command line wins over the scenario.
  EXPECT_EQ(command(dir, "compare '" + dir + "/base' '" + dir + "/slow' --tolerance '*.time_to_*=10%'").substr(0, 2), "1\n");
  const std::string bad = write_scenario(dir, "bad.lua", std::string(kSized) + "regression { [\"install.time_to_100\"] = \"fast\" }\n");
  const std::string refused = command(dir, "run '" + bad + "' -q --out '" + dir + "/bad'");
  EXPECT_EQ(refused.substr(0, 2), "2\n") << refused;
  EXPECT_NE(refused.find("bad.lua:7: regression: key 'install.time_to_100': 'fast' is not a tolerance"),
            std::string::npos)
      << refused;
}

}  // namespace
}  // namespace fleetsim::testing
