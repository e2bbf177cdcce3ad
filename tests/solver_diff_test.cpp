// fleetsim's sharing solver (simulation.solver = "sharing", the default) against SimGrid's LMM under optim:Full
// (solver = "simgrid") through the whole runtime: seeded random fleets, each run once with each solver, must give
// every node the same times (notified, downloaded, healthy per operation) within 1e-6 relative, the same outcomes
// and the same bytes, and the same telemetry. docs/SOLVER.md, "Differential testing".
//
// The fleets mix what the solver has to get right: site templates of different sizes, uplinks (down and up),
// latencies (so RTT-weighted shares and TCP-window caps), LAN ports slower than the uplink (a third level in the
// tree), packet loss (per-transfer loss caps on download slots), an egress that binds some sites and not others,
// staggered starts (notify jitter, batches), a degrade window, a partition and a registry outage in the middle of
// transfers (failed pulls resumed from what arrived), random outages, and telemetry batches on the up links.
// Decisions that depend on which of two simultaneous events is handled first (an abort threshold crossed by
// failures at one instant) are left out: the solvers agree on times, and may order events of one instant
// differently (docs/SOLVER.md §6).
#include <cmath>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sim_test_support.hpp"

namespace fleetsim::testing {
namespace {

std::string random_fleet(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](std::initializer_list<const char*> options) {
    std::vector<const char*> v(options);
    return std::string(v[std::uniform_int_distribution<std::size_t>(0, v.size() - 1)(rng)]);
  };
  auto integer = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto chance = [&](double p) { return std::bernoulli_distribution(p)(rng); };

  std::ostringstream lua;
  lua << "scenario { name = \"diff_" << seed << "\" }\n";
  lua << "cloud { registry = { egress = \"" << pick({"100Mbps", "400Mbps", "1Gbps", "10Gbps"}) << "\", latency = \""
      << integer(1, 20) << "ms\" } }\n";
  const int templates = integer(1, 3);
  bool sensors = false;
  for (int t = 0; t < templates; ++t) {
    lua << "site { name = \"t" << t << "\", count = " << integer(1, 6) << ", nodes = " << integer(1, 4) << ",\n";
    lua << "  uplink = { down = \"" << integer(2, 100) << "Mbps\", up = \"" << integer(1, 20) << "Mbps\", latency = \""
        << integer(5, 150) << "ms\"";
    if (chance(0.25)) lua << ", loss = 0.00" << integer(1, 9);
    lua << " },\n";
    if (chance(0.3)) lua << "  lan = { bandwidth = \"" << integer(1, 8) << "Mbps\", latency = \"1ms\" },\n";
    if (chance(0.3)) lua << "  outages = { mtbf = \"" << integer(1, 6) << "h\", mttr = \"" << integer(2, 15) << "m\" },\n";
    if (chance(0.4)) {
      sensors = true;
      lua << "  sensors = { { name = \"s\", rate = \"" << integer(1, 50) << "/s\", size = \"" << integer(32, 512)
          << "B\", process = \"poisson\" } },\n";
    }
    lua << "  agent = { notify_jitter = \"" << pick({"0s", "5s", "30s"}) << "\", max_fetch_attempts = 100, retry_max = \"2m\","
        << " max_concurrent_downloads = " << integer(1, 3) << ", resume = \"" << pick({"range", "restart"}) << "\" },\n";
    lua << "}\n";
  }
  auto layers = [&] {
    std::string s = "{ { name = \"base\", size = \"" + std::to_string(integer(5, 60)) + "MiB\" }";
    for (int k = integer(0, 2); k > 0; --k) s += ", \"" + std::to_string(integer(1, 90)) + "MiB\"";
    return s + " }";
  };
  lua << "app { name = \"a\", versions = {\n";
  lua << "  [\"1\"] = { layers = " << layers() << ", start_time = \"2s\" },\n";
  lua << "  [\"2\"] = { layers = " << layers() << ", start_time = \"2s\" },\n";
  lua << "} }\n";
  lua << "at(\"0s\", deploy { app = \"a\", version = \"1\", name = \"install\", node_deadline = \"1d\" })\n";
  lua << "at(\"3h\", rollout { app = \"a\", version = \"2\", name = \"upgrade\", node_deadline = \"1d\"";
  if (chance(0.5)) lua << ", strategy = { kind = \"batches\", size = " << integer(1, 5) << " }";
  lua << " })\n";
  // Faults in the middle of the upgrade's transfers.
  if (chance(0.6))
    lua << "at(\"3h0m" << integer(1, 50) << "s\", fault.degrade { template = \"t0\", factor = 0." << integer(1, 9)
        << ", duration = \"" << integer(1, 20) << "m\" })\n";
  if (chance(0.6))
    lua << "at(\"3h1m" << integer(0, 50) << "s\", fault.partition { template = \"t" << integer(0, templates - 1)
        << "\", fraction = 0.5, duration = \"" << integer(1, 10) << "m\" })\n";
  if (chance(0.4)) lua << "at(\"3h0m" << integer(5, 40) << "s\", fault.registry_outage { duration = \"" << integer(10, 90) << "s\" })\n";
  lua << "simulation { max_time = \"3d\", duration = \"" << (sensors ? "5h" : "3h30m") << "\" }\n";
  return lua.str();
}

// Every cell of two CSV files: numbers within 1e-6 relative (the files print 6 decimals), anything else equal.
void expect_same_csv(const std::string& a_path, const std::string& b_path, const std::string& what) {
  std::vector<std::string> ha, hb;
  auto a = read_csv(a_path, &ha), b = read_csv(b_path, &hb);
  ASSERT_EQ(ha, hb) << what;
  ASSERT_EQ(a.size(), b.size()) << what;
  for (std::size_t r = 0; r < a.size(); ++r) {
    ASSERT_EQ(a[r].size(), b[r].size()) << what << " row " << r;
    for (std::size_t c = 0; c < a[r].size(); ++c) {
      if (a[r][c] == b[r][c]) continue;
      char* end_a = nullptr;
      char* end_b = nullptr;
      const double x = std::strtod(a[r][c].c_str(), &end_a), y = std::strtod(b[r][c].c_str(), &end_b);
      const bool numbers = !a[r][c].empty() && !b[r][c].empty() && *end_a == '\0' && *end_b == '\0';
      EXPECT_TRUE(numbers && std::abs(x - y) <= 1e-6 * std::max({std::abs(x), std::abs(y), 1.0}) + 2e-6)
          << what << ": " << a[r][0] << " " << ha[c] << ": sharing " << a[r][c] << ", simgrid " << b[r][c];
    }
  }
}

class SolverDifferential : public ::testing::TestWithParam<int> {};

TEST_P(SolverDifferential, RandomFleetGivesSimGridsTimes) {
  const auto seed = static_cast<std::uint64_t>(GetParam());
  const std::string dir = fresh_dir("diff" + std::to_string(seed));
  const std::string scenario = write_scenario(dir, "fleet.lua", random_fleet(seed));
  auto sharing = run_fleetsim(scenario, {"--seed", std::to_string(seed)}, dir + "/sharing");
  auto simgrid = run_fleetsim(scenario, {"--seed", std::to_string(seed), "--set", "simulation.solver=simgrid"},
                              dir + "/simgrid");
  ASSERT_EQ(sharing.exit_code, simgrid.exit_code) << read_file(scenario) << sharing.err << simgrid.err;
  ASSERT_LE(sharing.exit_code, 1) << read_file(scenario) << sharing.err;
  EXPECT_EQ(read_report(sharing)["engine"]["fleetsim/solver"], "sharing");
  EXPECT_EQ(read_report(simgrid)["engine"]["fleetsim/solver"], "simgrid");
  expect_same_csv(sharing.dir + "/nodes.csv", simgrid.dir + "/nodes.csv", "nodes.csv of\n" + read_file(scenario));
  if (std::filesystem::exists(sharing.dir + "/telemetry_sites.csv"))
    expect_same_csv(sharing.dir + "/telemetry_sites.csv", simgrid.dir + "/telemetry_sites.csv", "telemetry_sites.csv");
}

INSTANTIATE_TEST_SUITE_P(Seeds, SolverDifferential, ::testing::Range(1, 41));

// report.json's network.solver: what the sharing solver did. Each pull is at least two of its events (its start and
// its end), and an ordinary fleet has no precision hazard; under SimGrid's solver the entry is null.
TEST(SolverReport, CountsTheSolversEventsAndNoHazardForAnOrdinaryFleet) {
  const std::string dir = fresh_dir("solver-report");
  const std::string scenario = write_scenario(dir, "fleet.lua", R"lua(
scenario { name = "ordinary" }
site { name = "store", count = 5, nodes = 4, uplink = { down = "20Mbps", latency = "30ms" } }
app { name = "a", versions = { ["1"] = { layers = { "10MiB", "5MiB" } } } }
at("0s", deploy { app = "a", version = "1", name = "install" })
)lua");
  auto sharing = run_raw({"run", scenario, "--out", dir + "/sharing", "--no-progress"});  // not quiet: the summary
  sharing.dir = dir + "/sharing";
  ASSERT_EQ(sharing.exit_code, 0) << sharing.err;
  ASSERT_NE(sharing.out.find("registry egress:"), std::string::npos) << sharing.out;  // the summary was printed
  const auto work = read_report(sharing)["network"]["solver"];
  EXPECT_GE(work["events"].get<std::uint64_t>(), 2u * 20 * 2) << work.dump();  // 20 nodes, 2 layers each
  EXPECT_EQ(work["precision_hazards"], 0) << work.dump();
  EXPECT_EQ(sharing.out.find("maxmin/precision"), std::string::npos) << sharing.out;
  auto simgrid = run_fleetsim(scenario, {"--set", "simulation.solver=simgrid"}, dir + "/simgrid");
  ASSERT_EQ(simgrid.exit_code, 0) << simgrid.err;
  EXPECT_TRUE(read_report(simgrid)["network"]["solver"].is_null());
}

// A flow left with less than maxmin/precision (1e-5) of a saturated link's bandwidth (tests/sharing_test.cpp,
// CountsWhereSimGridsPrecisionWouldOverAllocate, through the whole program): store "near", 1,000 nodes a few ms away,
// fills its own uplink, 99.9999 % of the egress, before the egress saturates, since its pulls' shares together weigh
// over 10^7 times the share of store "far", 100 s away (a residual of 1e-6 needs more than 10^6). far's pull starts
// about 300 s in, while near's 1,000 GiB take about 8,600 s, and is left with 1e-6 of the egress (125 B/s, below
// 1e-5 of it) until they end. The run reports the hazard in report.json and in its summary. (The egress is framed as
// the uplinks are, so that their payload rates keep the ratio of their line rates.)
constexpr const char* kHazardFleet = R"lua(
scenario { name = "hazard" }
cloud { registry = { egress = "1Gbps", latency = "0ms", overhead = "66B" } }
site { name = "near", count = 1, nodes = 1000, uplink = { down = "999.999Mbps", latency = "0.01ms" } }
site { name = "far", count = 1, nodes = 1, uplink = { down = "10Gbps", latency = "100s" } }
app { name = "a", versions = { ["1"] = { image = "1GiB" } } }
at("0s", deploy { app = "a", version = "1", name = "install", node_deadline = "1d" })
)lua";

TEST(SolverReport, NamesTheLevelsBelowSimGridsPrecision) {
  const std::string dir = fresh_dir("solver-hazard");
  const std::string scenario = write_scenario(dir, "hazard.lua", kHazardFleet);
  auto run = run_raw({"run", scenario, "--out", dir + "/out", "--no-progress"});  // not quiet: the summary too
  run.dir = dir + "/out";
  ASSERT_EQ(run.exit_code, 0) << run.err << run.out;
  const auto work = read_report(run)["network"]["solver"];
  EXPECT_GT(work["precision_hazards"].get<std::uint64_t>(), 0u) << work.dump();
  EXPECT_NE(run.out.find("below SimGrid's maxmin/precision"), std::string::npos) << run.out;
}

// --cfg fleetsim/check-solver:yes (docs/SOLVER.md §7): one run, both solvers side by side. On random fleets (the
// differential test's, faults mid-transfer included) every transfer agrees, the run's exit code and reports are
// those of the run without the check, and without the check report.json says nothing was compared. The same 40
// seeds as SolverDifferential.
class SolverCheckFleets : public ::testing::TestWithParam<int> {};

TEST_P(SolverCheckFleets, EveryTransferAgreesWithSimGridsLmmInTheSameRun) {
  const auto seed = static_cast<std::uint64_t>(GetParam());
  const std::string dir = fresh_dir("check" + std::to_string(seed));
  const std::string scenario = write_scenario(dir, "fleet.lua", random_fleet(seed));
  auto plain = run_fleetsim(scenario, {"--seed", std::to_string(seed)}, dir + "/plain");
  auto checked =
      run_fleetsim(scenario, {"--seed", std::to_string(seed), "--cfg", "fleetsim/check-solver:yes"}, dir + "/checked");
  ASSERT_EQ(checked.exit_code, plain.exit_code) << read_file(scenario) << checked.err << checked.out;
  ASSERT_LE(checked.exit_code, 1) << checked.err;
  const auto report = read_report(checked);
  const auto check = report["network"]["solver"]["check"];
  EXPECT_GT(check["compared"].get<std::uint64_t>(), 0u) << check.dump();
  EXPECT_EQ(check["differences"], 0) << check.dump() << report["invariant_violations"].dump(1);
  EXPECT_LE(check["largest_relative_difference"].get<double>(), 1e-6) << check.dump();
  for (const auto& v : report["invariant_violations"]) EXPECT_NE(v["invariant"], "solver-agreement") << v.dump();
  EXPECT_EQ(report["engine"]["fleetsim/check-solver"], "yes");
  EXPECT_TRUE(read_report(plain)["network"]["solver"]["check"].is_null());
  expect_same_csv(plain.dir + "/nodes.csv", checked.dir + "/nodes.csv", "nodes.csv with and without the check");
}

INSTANTIATE_TEST_SUITE_P(Seeds, SolverCheckFleets, ::testing::Range(1, 41));

// Where the two solvers do differ (the precision hazard above: SimGrid's LMM drops the starved link early and ends
// far's pull hours before the exact share would), the check fails the run: exit code 1, a solver-agreement violation
// naming the transfer and both ends in report.json, junit.xml and the summary, with a replay command.
TEST(SolverCheck, FailsTheRunWhereSimGridsAnswerDiffers) {
  const std::string dir = fresh_dir("check-hazard");
  const std::string scenario = write_scenario(dir, "hazard.lua", kHazardFleet);
  auto run = run_raw({"run", scenario, "--out", dir + "/out", "--no-progress", "--cfg", "fleetsim/check-solver:yes"});
  run.dir = dir + "/out";
  ASSERT_EQ(run.exit_code, 1) << run.err << run.out;
  const auto report = read_report(run);
  const auto check = report["network"]["solver"]["check"];
  EXPECT_EQ(check["compared"], 1001) << check.dump();  // every pull, each judged once
  EXPECT_EQ(check["differences"], 1) << check.dump();
  EXPECT_GT(check["largest_relative_difference"].get<double>(), 1e-3) << check.dump();
  ASSERT_EQ(report["invariant_violations"].size(), 1u) << report["invariant_violations"].dump(1);
  const auto v = report["invariant_violations"][0];
  EXPECT_EQ(v["invariant"], "solver-agreement");
  const std::string detail = v["detail"];
  EXPECT_NE(detail.find("registry -> far-1/n1"), std::string::npos) << detail;
  EXPECT_NE(detail.find("fleetsim's solver completes it at"), std::string::npos) << detail;
  EXPECT_NE(detail.find("SimGrid's LMM completes it at"), std::string::npos) << detail;
  // far's 1 GiB at its exact share ends after near's 1,000 GiB (about 8,600 s at 1 Gbps): SimGrid ends it earlier,
  // when its precision lets far's link saturate (docs/SOLVER.md §3.3). The violation is dated at the earlier end.
  EXPECT_GT(v["at_s"].get<double>(), 8000.0);
  EXPECT_EQ(junit_problems(run.dir + "/junit.xml"), "");
  EXPECT_NE(read_file(run.dir + "/junit.xml").find("solver-agreement"), std::string::npos);
  EXPECT_NE(run.out.find("solver check: 1001 transfer(s) compared with SimGrid's LMM, 1 differed"), std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("--cfg fleetsim/check-solver:yes"), std::string::npos) << run.out;  // the replay keeps it
}

// What the option refuses, before anything runs (exit 2, the message says why).
TEST(SolverCheck, RefusesWhatItCannotCheck) {
  const std::string dir = fresh_dir("check-refused");
  const std::string scenario = write_scenario(dir, "fleet.lua", R"lua(
scenario { name = "small" }
site { name = "store", count = 2, nodes = 2, uplink = { down = "20Mbps", latency = "30ms" } }
app { name = "a", versions = { ["1"] = { image = "10MiB" } } }
at("0s", deploy { app = "a", version = "1", name = "install" })
)lua");
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"--set", "simulation.solver=simgrid", "--cfg", "fleetsim/check-solver:yes"},
       "sets simulation.solver = \"simgrid\": there is nothing to compare"},
      {{"--cfg", "network/optim:Lazy", "--cfg", "fleetsim/check-solver:yes"},
       "uses SimGrid's alone: fleetsim's does not reproduce network/optim:Lazy"},
      {{"--cfg", "fleetsim/check-solver:maybe"}, "--cfg fleetsim/check-solver:maybe: must be yes or no, got 'maybe'"},
      {{"--cfg", "fleetsim/check-solvers:yes"}, "fleetsim/check-solvers:yes: is not a setting --cfg may change: fleetsim's one key there is "
                                                "fleetsim/check-solver:yes|no"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args{"run", scenario, "--out", dir + "/out", "--no-progress"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto run = run_raw(args);
    EXPECT_EQ(run.exit_code, 2) << c.says << "\n" << run.out << run.err;
    EXPECT_NE((run.out + run.err).find(c.says), std::string::npos) << run.out << run.err;
  }
  // "no" is the default's explicit form: the run is on fleetsim's solver, unchecked.
  auto run = run_fleetsim(scenario, {"--cfg", "fleetsim/check-solver:no"}, dir + "/no");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(read_report(run)["network"]["solver"]["check"].is_null());
}

}  // namespace
}  // namespace fleetsim::testing
