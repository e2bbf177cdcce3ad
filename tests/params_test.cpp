// Scenario parameters (param() in the file, -p on the command line, `fleetsim params`), the run's seed as the
// scenario sees it (fleet.seed, math.random), and sweeps over parameters and seeds (`fleetsim sweep`, `merge`).
// Every test runs the real binary.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sim_test_support.hpp"
#include "sweep.hpp"

namespace fleetsim::testing {
namespace {

// One node per site, so that a pull has its site's uplink to itself: the install takes the image over the uplink.
const char* kParams = R"lua(
scenario { name = "params" }
local uplink = param("uplink", "10Mbps")
local sites = param("sites", 3)
local image = param("image", "10MiB")
local verbose = param("verbose", false)
site { name = "s", count = sites, nodes = 1, uplink = { down = uplink, up = "10Mbps", latency = "1ms" } }
app { name = "a", versions = { ["1"] = { image = image, start_time = "0s" } } }
at("0s", deploy { app = "a", version = "1", name = "install" })
if verbose then expect "install.time_to_100 <= 1s" end
)lua";

double install_time(const nlohmann::json& report) {
  return report["operations"][0]["time_to_pct_s"]["100"].get<double>();
}

TEST(Params, ValuesFromTheCommandLineShapeTheFleetAndAreReported) {
  const std::string dir = fresh_dir("params_values");
  const std::string file = write_scenario(dir, "params.lua", kParams);
  RunOutput defaults = run_fleetsim(file, {}, dir + "/defaults");
  ASSERT_EQ(defaults.exit_code, 0) << defaults.err;
  RunOutput given = run_fleetsim(file, {"-p", "sites=5", "-p", "uplink=40Mbps", "-p", "image=20MiB"}, dir + "/given");
  ASSERT_EQ(given.exit_code, 0) << given.err;
  const auto d = read_report(defaults), g = read_report(given);
  EXPECT_EQ(d["fleet"]["sites"], 3);
  EXPECT_EQ(g["fleet"]["sites"], 5);
  // Bytes over the bottleneck's payload rate: 10 MiB over 10 Mbps is 8.77 s, 20 MiB over 40 Mbps half that (latencies
  // are ms).
  const double bits_10mib = 10.0 * 1024 * 1024 * 8, at_10 = bits_10mib / (10e6 * kUplinkEfficiency);
  EXPECT_NEAR(install_time(d), at_10, 0.05 * at_10);
  EXPECT_NEAR(install_time(g), at_10 / 2, 0.05 * at_10 / 2);
  // report.json: every parameter in the file's order, with its value, default, kind and whether -p set it.
  const auto& params = g["scenario"]["parameters"];
  ASSERT_EQ(params.size(), 4u);
  EXPECT_EQ(params[0]["name"], "uplink");
  EXPECT_EQ(params[0]["value"], "40Mbps");
  EXPECT_EQ(params[0]["default"], "10Mbps");
  EXPECT_EQ(params[0]["kind"], "rate");
  EXPECT_EQ(params[0]["given"], true);
  EXPECT_EQ(params[1]["kind"], "integer");
  EXPECT_EQ(params[2]["kind"], "size");
  EXPECT_EQ(params[3]["name"], "verbose");
  EXPECT_EQ(params[3]["value"], "false");
  EXPECT_EQ(params[3]["given"], false);
  EXPECT_NE(read_file(given.dir + "/junit.xml").find("<property name=\"param.uplink\" value=\"40Mbps\"/>"),
            std::string::npos);
}

TEST(Params, AFailedRunsReplayCommandCarriesThem) {
  const std::string dir = fresh_dir("params_replay");
  const std::string file = write_scenario(dir, "params.lua", kParams);
  RunOutput run = run_fleetsim(file, {"-p", "verbose=true", "-p", "sites=2"}, dir + "/out");
  EXPECT_EQ(run.exit_code, 1) << run.err;  // the expectation the parameter turned on fails
  EXPECT_NE(run.out.find("replay: fleetsim run " + file + " --seed 1 -p verbose=true -p sites=2"), std::string::npos)
      << run.out;
}

TEST(Params, TheParamsCommandListsThemWithKindsDefaultsAndValues) {
  const std::string dir = fresh_dir("params_list");
  const std::string file = write_scenario(dir, "params.lua", kParams);
  RunOutput table = run_raw({"params", file, "-p", "uplink=1Gbps"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  for (const std::string line : {"uplink   rate     10Mbps   1Gbps", "sites    integer  3        3",
                                 "image    size     10MiB    10MiB", "verbose  boolean  false    false"})
    EXPECT_NE(table.out.find(line), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(file + ":3"), std::string::npos) << "the line that declares uplink";
  RunOutput json = run_raw({"params", file, "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto j = nlohmann::json::parse(json.out);
  ASSERT_EQ(j["parameters"].size(), 4u);
  EXPECT_EQ(j["parameters"][1]["name"], "sites");
  EXPECT_EQ(j["parameters"][1]["where"], file + ":4");
  // A scenario without parameters says so, and how to declare one.
  const std::string plain = write_scenario(dir, "plain.lua", R"lua(
site { name = "s", count = 1, nodes = 1, uplink = { down = "10Mbps", latency = "1ms" } }
app { name = "a", versions = { ["1"] = { image = "1MiB" } } }
at("0s", deploy { app = "a", version = "1" })
)lua");
  RunOutput none = run_raw({"params", plain});
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_NE(none.out.find("declares no parameters"), std::string::npos) << none.out;
}

struct BadParam {
  const char* name;
  std::string lua;  // appended to kParams' fleet
  std::vector<std::string> args;
  std::string expected;  // in stderr; "FILE" stands for the scenario's path
};

class ParamMistakes : public ::testing::TestWithParam<BadParam> {};

TEST_P(ParamMistakes, ExitTwoWithFileLineAndParameter) {
  const BadParam& c = GetParam();
  const std::string dir = fresh_dir(std::string("param_mistake_") + c.name);
  const std::string file = write_scenario(dir, "s.lua", std::string(kParams) + c.lua);
  std::vector<std::string> args{"run", file, "--out", dir + "/out", "--no-progress"};
  args.insert(args.end(), c.args.begin(), c.args.end());
  RunOutput run = run_raw(args);
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  std::string expected = c.expected;
  for (auto at = expected.find("FILE"); at != std::string::npos; at = expected.find("FILE", at + file.size()))
    expected.replace(at, 4, file);
  EXPECT_NE(run.err.find(expected), std::string::npos) << run.err;
  // The CI still gets a junit.xml that says what went wrong, unless the command line itself was wrong.
  if (c.expected.find("FILE") != std::string::npos) {
    EXPECT_NE(read_file(dir + "/out/junit.xml").find("<error"), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Mistakes, ParamMistakes,
    ::testing::Values(
        BadParam{"RateGivenASize", "", {"-p", "uplink=5MiB"}, "FILE:3: param uplink: -p uplink=5MiB is not a rate"},
        BadParam{"IntegerGivenAFraction", "", {"-p", "sites=2.5"}, "FILE:4: param sites: -p sites=2.5 is not an integer"},
        BadParam{"BooleanGivenAWord", "", {"-p", "verbose=yes"}, "FILE:6: param verbose: -p verbose=yes is not a boolean"},
        BadParam{"UnknownName", "", {"-p", "uplnk=5Mbps"},
                 "FILE: -p uplnk=5Mbps: the scenario declares no parameter 'uplnk' (it declares: uplink, sites, image, "
                 "verbose)"},
        BadParam{"NoEqualsSign", "", {"-p", "uplink"}, "-p expects NAME=VALUE"},
        BadParam{"DeclaredTwiceWithAnotherDefault", "param(\"sites\", 4)\n", {},
                 "FILE:11: param sites: declared again with the default 4, first at FILE:4 with 3"},
        BadParam{"NotAName", "param(\"up link\", 1)\n", {}, "FILE:11: param: 'up link' is not a parameter name"},
        BadParam{"NoDefault", "param(\"x\")\n", {}, "FILE:11: param x: needs a default"},
        BadParam{"TableDefault", "param(\"x\", {})\n", {}, "FILE:11: param x: needs a default"}),
    [](const ::testing::TestParamInfo<BadParam>& param_info) { return std::string(param_info.param.name); });

// The seed is the scenario's too: fleet.seed is the run's seed, and math.random draws from it, so a scenario that
// draws its fleet (or its outages) in Lua differs from seed to seed and repeats for one seed.
TEST(Params, TheSeedReachesTheScenariosLua) {
  const std::string dir = fresh_dir("params_seed");
  const std::string file = write_scenario(dir, "seed.lua", R"lua(
site { name = "by_seed", count = fleet.seed % 7 + 1, nodes = 1, uplink = { down = "10Mbps", latency = "1ms" } }
site { name = "drawn", count = math.random(1, 1000), nodes = 1, uplink = { down = "10Mbps", latency = "1ms" } }
app { name = "a", versions = { ["1"] = { image = "1MiB" } } }
)lua");
  auto sites_with = [&](const std::string& seed, const std::string& out) {
    RunOutput run = run_fleetsim(file, {"--seed", seed, "--set", "simulation.duration=1s"}, dir + "/" + out);
    EXPECT_EQ(run.exit_code, 0) << run.err;
    return read_report(run)["fleet"]["sites"].get<int>();
  };
  const int a = sites_with("12", "a"), again = sites_with("12", "again"), b = sites_with("13", "b");
  EXPECT_EQ(a, again);
  EXPECT_NE(a, b);
  // fleet.seed % 7 + 1 sites of the first template: 12 % 7 + 1 = 6; the rest were drawn.
  EXPECT_GT(a, 6);
  EXPECT_LE(a, 6 + 1000);
}

}  // namespace
}  // namespace fleetsim::testing

namespace fleetsim::testing {
namespace {

std::string run_fleetsim_command(const std::string& dir, const std::string& command) {
  const std::string log = dir + "/command.log";
  const int status = std::system((command + " > '" + log + "' 2>&1").c_str());
  return std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + "\n" + read_file(log);
}

// A grid of 2 uplinks x 2 fleet sizes x 2 seeds: one run per point and seed, each run's reports kept, and each
// metric's statistics across seeds those of the runs' own reports; the times follow the bytes over the uplink.
TEST(Sweep, GridTimesSeedsWithStatisticsOfTheRuns) {
  const std::string dir = fresh_dir("sweep_grid");
  const std::string file = write_scenario(dir, "params.lua", kParams);
  const std::string out = dir + "/sweep";
  const std::string result = run_fleetsim_command(
      dir, std::string("'") + FLEETSIM_BINARY + "' sweep '" + file + "' -p uplink=10Mbps,40Mbps -p sites=1..3/2" +
               " --seeds 2 -j 2 --out '" + out + "'");
  ASSERT_EQ(result.substr(0, 2), "0\n") << result;
  EXPECT_NE(result.find("4 points x 2 seeds = 8 runs (8 run now, 0 resumed)"), std::string::npos) << result;
  const auto sweep = nlohmann::json::parse(read_file(out + "/sweep.json"));
  ASSERT_EQ(sweep["points"].size(), 4u);
  const double bits_10mib = 10.0 * 1024 * 1024 * 8;
  for (const auto& point : sweep["points"]) {
    EXPECT_EQ(point["passed"], 2);
    const std::string uplink = point["parameters"]["uplink"];
    const double bw = uplink == "10Mbps" ? 10e6 : 40e6;
    std::vector<double> times;
    for (const auto& run : point["runs"]) {
      const auto report = nlohmann::json::parse(read_file(out + "/" + run["dir"].get<std::string>() + "/report.json"));
      EXPECT_EQ(report["fleet"]["sites"], std::stoi(point["parameters"]["sites"].get<std::string>()));
      times.push_back(report["operations"][0]["time_to_pct_s"]["100"].get<double>());
    }
    const auto& stats = point["metrics"]["install.time_to_100"];
    EXPECT_EQ(stats["n"], 2);
    EXPECT_DOUBLE_EQ(stats["mean"].get<double>(), (times[0] + times[1]) / 2);
    EXPECT_DOUBLE_EQ(stats["min"].get<double>(), std::min(times[0], times[1]));
    EXPECT_DOUBLE_EQ(stats["max"].get<double>(), std::max(times[0], times[1]));
    const double closed_form = bits_10mib / (bw * kUplinkEfficiency);  // 10 MiB over the uplink's payload rate
    EXPECT_NEAR(stats["mean"].get<double>(), closed_form, 0.05 * closed_form) << uplink;
  }
  const std::string csv = read_file(out + "/sweep.csv");
  EXPECT_EQ(csv.rfind("point,uplink,sites,runs,passed,failed,errors,missing,", 0), 0u) << csv;
  EXPECT_NE(csv.find("\np0004,40Mbps,3,2,2,0,0,0,"), std::string::npos) << csv;
}

// Shards of one sweep merged are the local sweep, byte for byte; a sweep resumes without rerunning finished runs;
// a merge with a shard missing says so (exit 2).
TEST(Sweep, ShardsMergeToTheLocalSweepAndSweepsResume) {
  const std::string dir = fresh_dir("sweep_shards");
  const std::string file = write_scenario(dir, "params.lua", kParams);
  const std::string sweep = std::string("'") + FLEETSIM_BINARY + "' sweep '" + file +
                            "' -p uplink=10Mbps..40Mbps/3 -p image=1MiB,2MiB --seeds 1,7 -j 2 --out ";
  ASSERT_EQ(run_fleetsim_command(dir, sweep + "'" + dir + "/local'").substr(0, 2), "0\n");
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(run_fleetsim_command(dir, sweep + "'" + dir + "/shard" + std::to_string(i) + "' --shard " +
                                            std::to_string(i) + "/4")
                  .substr(0, 2),
              "0\n");
  const std::string merge = std::string("'") + FLEETSIM_BINARY + "' merge --out '" + dir + "/merged' '" + dir +
                            "/shard0' '" + dir + "/shard1' '" + dir + "/shard2' '" + dir + "/shard3'";
  ASSERT_EQ(run_fleetsim_command(dir, merge).substr(0, 2), "0\n");
  EXPECT_EQ(read_file(dir + "/merged/sweep.json"), read_file(dir + "/local/sweep.json"));
  EXPECT_EQ(read_file(dir + "/merged/sweep.csv"), read_file(dir + "/local/sweep.csv"));
  const std::string partial = std::string("'") + FLEETSIM_BINARY + "' merge --out '" + dir + "/partial' '" + dir +
                              "/shard0' '" + dir + "/shard2'";
  const std::string missing = run_fleetsim_command(dir, partial);
  EXPECT_EQ(missing.substr(0, 2), "2\n") << missing;
  EXPECT_NE(missing.find("missing"), std::string::npos) << missing;
  // Resume: one run's end forgotten (as if the sweep had been stopped in it) is the only run made again.
  std::filesystem::remove(dir + "/local/points/p0002/seed-7.exit");
  const std::string again = run_fleetsim_command(dir, sweep + "'" + dir + "/local'");
  EXPECT_NE(again.find("(1 run now, 11 resumed)"), std::string::npos) << again;
  EXPECT_EQ(read_file(dir + "/merged/sweep.json"), read_file(dir + "/local/sweep.json"));
  // The same directory for another sweep is refused rather than mixed.
  const std::string other = run_fleetsim_command(
      dir, std::string("'") + FLEETSIM_BINARY + "' sweep '" + file + "' -p uplink=5Mbps --out '" + dir + "/local'");
  EXPECT_EQ(other.substr(0, 2), "2\n") << other;
  EXPECT_NE(other.find("holds the runs of another sweep"), std::string::npos) << other;
}

// A bad value anywhere in the grid is found before anything runs; a run that fails its expectation makes the sweep
// exit 1.
TEST(Sweep, BadValuesStopItBeforeAnyRunAndFailuresAreExitOne) {
  const std::string dir = fresh_dir("sweep_bad");
  const std::string file = write_scenario(dir, "params.lua", kParams);
  const std::string bad = run_fleetsim_command(dir, std::string("'") + FLEETSIM_BINARY + "' sweep '" + file +
                                                        "' -p uplink=10Mbps,20Mbps,30MiB --out '" + dir + "/bad'");
  EXPECT_EQ(bad.substr(0, 2), "2\n") << bad;
  EXPECT_NE(bad.find(file + ":3: param uplink: -p uplink=30MiB is not a rate"), std::string::npos) << bad;
  EXPECT_FALSE(std::filesystem::exists(dir + "/bad/points"));
  const std::string fails = run_fleetsim_command(dir, std::string("'") + FLEETSIM_BINARY + "' sweep '" + file +
                                                          "' -p verbose=false,true --out '" + dir + "/fails'");
  EXPECT_EQ(fails.substr(0, 2), "1\n") << fails;
  const auto sweep = nlohmann::json::parse(read_file(dir + "/fails/sweep.json"));
  EXPECT_EQ(sweep["points"][0]["passed"], 1);
  EXPECT_EQ(sweep["points"][1]["failed"], 1);
  for (const std::string usage : {"-p uplink=1Gbps..10MiB/3", "-p uplink=1Gbps..10Gbps/1", "--shard 3/3",
                                  "--seeds 0", "-p uplink=1Mbps -p uplink=2Mbps"}) {
    const std::string run = run_fleetsim_command(
        dir, std::string("'") + FLEETSIM_BINARY + "' sweep '" + file + "' " + usage + " --out '" + dir + "/u'");
    EXPECT_EQ(run.substr(0, 2), "2\n") << usage << ": " << run;
  }
}

// The Slurm job array script, run as Slurm would run each task (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT), then
// merged: the same sweep.json as the local sweep of the same definition.
TEST(Sweep, SlurmArrayTasksMergeToTheLocalSweep) {
  const std::string dir = fresh_dir("sweep_slurm");
  const std::string script = source_path("docs/cluster/sweep.sbatch");
  const std::string text = read_file(script);
  EXPECT_NE(text.find("#SBATCH --array=0-3"), std::string::npos);
  const std::string scenario = source_path("scenarios/uplink_sizing.lua");
  const std::string args = "-p uplink=10Mbps,50Mbps -p stores=2,3 --seeds 2";
  for (int task = 0; task < 4; ++task) {
    const std::string env = "cd '" + dir + "' && SLURM_ARRAY_TASK_ID=" + std::to_string(task) +
                            " SLURM_ARRAY_TASK_COUNT=4 SLURM_CPUS_PER_TASK=1 FLEETSIM='" + FLEETSIM_BINARY +
                            "' SCENARIO='" + scenario + "' SWEEP_ARGS='" + args + "' OUT=shards bash '" + script + "'";
    ASSERT_EQ(run_fleetsim_command(dir, env).substr(0, 2), "0\n") << task;
  }
  ASSERT_EQ(run_fleetsim_command(dir, "cd '" + dir + "' && '" + FLEETSIM_BINARY +
                                          "' merge --out merged shards/shard-0 shards/shard-1 shards/shard-2 "
                                          "shards/shard-3")
                .substr(0, 2),
            "0\n");
  ASSERT_EQ(run_fleetsim_command(dir, "cd '" + dir + "' && '" + FLEETSIM_BINARY + "' sweep '" + scenario + "' " +
                                          args + " --out local")
                .substr(0, 2),
            "0\n");
  EXPECT_EQ(read_file(dir + "/merged/sweep.json"), read_file(dir + "/local/sweep.json"));
  // Outside Slurm, it says what is missing instead of running a wrong slice.
  const std::string outside = run_fleetsim_command(dir, "cd '" + dir + "' && env -u SLURM_ARRAY_TASK_ID bash '" + script + "'");
  EXPECT_NE(outside.substr(0, 2), "0\n") << outside;
  EXPECT_NE(outside.find("run under sbatch --array"), std::string::npos) << outside;
}

// The Kubernetes Indexed Job's shard command, run locally for every completion index as each pod would run it, then
// merged: every run of its sweep is there. Its counts agree with each other.
TEST(Sweep, KubernetesIndexedJobShardsMergeToTheWholeSweep) {
  const std::string dir = fresh_dir("sweep_k8s");
  const std::string manifest = read_file(source_path("docs/cluster/sweep-job.yaml"));
  EXPECT_NE(manifest.find("completionMode: Indexed"), std::string::npos);
  EXPECT_NE(manifest.find("completions: 4"), std::string::npos);
  EXPECT_NE(manifest.find("parallelism: 4"), std::string::npos);
  EXPECT_NE(manifest.find("- name: SHARDS\n              value: \"4\""), std::string::npos);
  const auto marker = manifest.find("# fleetsim-shard-command");
  ASSERT_NE(marker, std::string::npos);
  const auto line_start = manifest.find("- ", manifest.find('\n', marker)) + 2;
  const std::string command = manifest.substr(line_start, manifest.find('\n', line_start) - line_start);
  // The pod's working directory holds the repository's scenarios; fleetsim is on the PATH.
  std::filesystem::create_directories(dir + "/bin");
  std::filesystem::create_symlink(source_path("scenarios"), dir + "/scenarios");
  std::filesystem::create_symlink(FLEETSIM_BINARY, dir + "/bin/fleetsim");
  std::ofstream(dir + "/shard.sh") << command << "\n";
  for (int index = 0; index < 4; ++index) {
    const std::string run = "cd '" + dir + "' && PATH='" + dir + "/bin':\"$PATH\" JOB_COMPLETION_INDEX=" +
                            std::to_string(index) + " SHARDS=4 RESULTS='" + dir + "/results' sh shard.sh";
    ASSERT_EQ(run_fleetsim_command(dir, run).substr(0, 2), "0\n") << index << ": " << command;
  }
  const std::string merged = run_fleetsim_command(
      dir, "cd '" + dir + "' && '" + FLEETSIM_BINARY +
               "' merge --out results/study results/shard-0 results/shard-1 results/shard-2 results/shard-3");
  ASSERT_EQ(merged.substr(0, 2), "0\n") << merged;
  const auto sweep = nlohmann::json::parse(read_file(dir + "/results/study/sweep.json"));
  EXPECT_EQ(sweep["points"].size(), 15u);  // 3 uplinks x 5 images
  EXPECT_EQ(sweep["runs"], 75);            // x 5 seeds
  EXPECT_EQ(sweep["missing"], 0);
}

TEST(Sweep, AxisValuesAndRanges) {
  EXPECT_EQ(sim::expand_axis_values("10Mbps,20Mbps,50Mbps"), (std::vector<std::string>{"10Mbps", "20Mbps", "50Mbps"}));
  EXPECT_EQ(sim::expand_axis_values("1Gbps..10Gbps/4"), (std::vector<std::string>{"1Gbps", "4Gbps", "7Gbps", "10Gbps"}));
  EXPECT_EQ(sim::expand_axis_values("0.5..1/3"), (std::vector<std::string>{"0.5", "0.75", "1"}));
  EXPECT_EQ(sim::expand_axis_values("30m..10m/3"), (std::vector<std::string>{"30m", "20m", "10m"}));
  for (const char* bad : {"1Gbps..10MiB/3", "1..2/1", "1..2", "a..b/3", "1,,2", "1..2/x"})
    EXPECT_THROW(sim::expand_axis_values(bad), std::invalid_argument) << bad;
}

// fleetsim compare: a slower uplink makes the upgrade slower by the ratio of the bandwidths (bytes over the
// bottleneck), which fails the default 5 % tolerance and passes a 30 % one; junit.xml has the regression.
TEST(Compare, AWorseningBeyondTheToleranceFailsAndIsInJUnit) {
  const std::string dir = fresh_dir("compare_runs");
  const std::string scenario = source_path("scenarios/uplink_sizing.lua");
  const std::string bin = std::string("'") + FLEETSIM_BINARY + "'";
  ASSERT_EQ(run_fleetsim_command(dir, bin + " run '" + scenario + "' -p stores=4 --out '" + dir + "/base' -q").substr(0, 2), "0\n");
  ASSERT_EQ(run_fleetsim_command(dir, bin + " run '" + scenario + "' -p stores=4 -p uplink=16Mbps --out '" + dir +
                                          "/slow' -q")
                .substr(0, 2),
            "0\n");
  const std::string same = run_fleetsim_command(dir, bin + " compare '" + dir + "/base' '" + dir + "/base/report.json'");
  EXPECT_EQ(same.substr(0, 2), "0\n") << same;
  EXPECT_EQ(same.find("REGRESSION"), std::string::npos) << same;
  const std::string worse =
      run_fleetsim_command(dir, bin + " compare '" + dir + "/base' '" + dir + "/slow' --out '" + dir + "/cmp'");
  EXPECT_EQ(worse.substr(0, 2), "1\n") << worse;
  // 4 nodes x 200 MiB over the store's uplink, plus 5 s to start: (419.4 + 5) / (335.5 + 5) = +24.6 %.
  const auto line_start = worse.find("  upgrade.time_to_100 ");
  ASSERT_NE(line_start, std::string::npos) << worse;
  const std::string line = worse.substr(line_start, worse.find('\n', line_start) - line_start);
  const auto pct = line.find('%');
  ASSERT_NE(pct, std::string::npos) << line;
  const double change = std::stod(line.substr(line.rfind(' ', pct) + 1, pct - line.rfind(' ', pct) - 1));
  EXPECT_NEAR(change, 24.6, 0.5) << line;
  EXPECT_NE(line.find("REGRESSION"), std::string::npos) << line;
  EXPECT_EQ(junit_problems(dir + "/cmp/junit.xml"), "");
  EXPECT_NE(read_file(dir + "/cmp/junit.xml").find("name=\"upgrade.time_to_100\" time=\"0\"><failure"), std::string::npos);
  const std::string tolerated = run_fleetsim_command(
      dir, bin + " compare '" + dir + "/base' '" + dir + "/slow' --tolerance 30%");
  EXPECT_EQ(tolerated.substr(0, 2), "0\n") << tolerated;
  // A tolerance for one metric (by its ending) leaves the others at the default.
  const std::string one = run_fleetsim_command(
      dir, bin + " compare '" + dir + "/base' '" + dir + "/slow' --tolerance '*.time_to_100=30%'");
  EXPECT_EQ(one.substr(0, 2), "1\n") << one;
  auto line_of = [](const std::string& text, const std::string& metric) {
    const auto at = text.find("  " + metric + " ");
    return at == std::string::npos ? std::string() : text.substr(at, text.find('\n', at) - at);
  };
  EXPECT_NE(line_of(one, "upgrade.time_to_100"), "");
  EXPECT_EQ(line_of(one, "upgrade.time_to_100").find("REGRESSION"), std::string::npos) << one;
  EXPECT_NE(line_of(one, "upgrade.time_to_50").find("REGRESSION"), std::string::npos) << one;
  // Improvements pass: the slower run as the baseline.
  EXPECT_EQ(run_fleetsim_command(dir, bin + " compare '" + dir + "/slow' '" + dir + "/base'").substr(0, 2), "0\n");
  for (const std::string& bad : {std::string(" compare '") + dir + "/base'", std::string(" compare '") + dir +
                                "/base' '" + dir + "/nothing'", std::string(" compare '") + dir + "/base' '" + dir +
                                "/base' --tolerance 5"})
    EXPECT_EQ(run_fleetsim_command(dir, bin + bad).substr(0, 2), "2\n") << bad;
}

// Sweeps compare point by point (same parameters), on each metric's median across seeds.
TEST(Compare, SweepsComparePointByPointOnMedians) {
  const std::string dir = fresh_dir("compare_sweeps");
  const std::string scenario = source_path("scenarios/uplink_sizing.lua");
  const std::string bin = std::string("'") + FLEETSIM_BINARY + "'";
  const std::string sweep = bin + " sweep '" + scenario + "' -p stores=2 -p uplink=20Mbps,40Mbps --seeds 2 -j 2";
  ASSERT_EQ(run_fleetsim_command(dir, sweep + " --out '" + dir + "/a'").substr(0, 2), "0\n");
  ASSERT_EQ(run_fleetsim_command(dir, sweep + " --set app.pos.versions.2.image=300MiB --out '" + dir + "/b'").substr(0, 2),
            "0\n");
  const std::string result = run_fleetsim_command(dir, bin + " compare '" + dir + "/a' '" + dir + "/b/sweep.json'");
  EXPECT_EQ(result.substr(0, 2), "1\n") << result;
  EXPECT_NE(result.find("point(stores=2,uplink=40Mbps) upgrade.time_to_100"), std::string::npos) << result;
  const std::string mixed = run_fleetsim_command(dir, bin + " compare '" + dir + "/a' '" + dir + "/a/points/p0001/seed-1'");
  EXPECT_EQ(mixed.substr(0, 2), "2\n") << mixed;
  EXPECT_NE(mixed.find("cannot compare a sweep with a report"), std::string::npos) << mixed;
}

// time_to_<p> for any percentage an expectation names, against a closed form: 20 one-node sites whose uplinks are 1
// to 20 Mbps pull 10 MiB each, so the k-th fastest node is healthy at 83.886 s / 0.9564 / (21 - k) (the payload's share
// of the line, docs/ENGINE.md).
TEST(Metrics, TimeToAnyPercentageAgainstTheClosedForm) {
  const std::string dir = fresh_dir("time_to_any");
  const std::string file = write_scenario(dir, "s.lua", R"lua(
for i = 1, 20 do
  site { name = "s" .. i, count = 1, nodes = 1, uplink = { down = i .. "Mbps", latency = "1ms" } }
end
app { name = "a", versions = { ["1"] = { image = "10MiB", start_time = "0s" } } }
at("0s", deploy { app = "a", version = "1", name = "install" })
expect "install.time_to_95 <= 1h"
expect "install.time_to_5 <= 1h"
)lua");
  RunOutput run = run_fleetsim(file, {}, dir + "/out");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto pct = read_report(run)["operations"][0]["time_to_pct_s"];
  const double all = 10.0 * 1024 * 1024 * 8 / (1e6 * kUplinkEfficiency);  // 87.71 s at 1 Mbps of line
  EXPECT_NEAR(pct["95"].get<double>(), all / 2, 0.01 * all / 2);   // the 19th of 20: the 2 Mbps site
  EXPECT_NEAR(pct["5"].get<double>(), all / 20, 0.01 * all / 20);  // the first: the 20 Mbps site
  EXPECT_NEAR(pct["50"].get<double>(), all / 11, 0.01 * all / 11); // always reported: 50, 90, 99, 100
  EXPECT_FALSE(pct.contains("75"));                                 // not asked for
  const std::string bad = write_scenario(dir, "bad.lua", std::string(read_file(file)) + "expect \"install.time_to_0 <= 1h\"\n");
  RunOutput refused = run_fleetsim(bad, {}, dir + "/bad");
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find("unknown metric 'install.time_to_0' (operation metrics: <operation>.time_to_<1..100>"),
            std::string::npos)
      << refused.err;
}

}  // namespace
}  // namespace fleetsim::testing
