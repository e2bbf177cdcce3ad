// Scenario parameters (param() in the file, -p on the command line, `fleetsim params`), and the run's seed as the
// scenario sees it (fleet.seed, math.random). Every test runs the real binary.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sim_test_support.hpp"

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
  // Bytes over the bottleneck: 10 MiB over 10 Mbps is 8.39 s, 20 MiB over 40 Mbps half that (latencies are ms).
  const double bits_10mib = 10.0 * 1024 * 1024 * 8;
  EXPECT_NEAR(install_time(d), bits_10mib / 10e6, 0.05 * bits_10mib / 10e6);
  EXPECT_NEAR(install_time(g), 2 * bits_10mib / 40e6, 0.05 * 2 * bits_10mib / 40e6);
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
