// Rollout strategies, health gates and release behaviours on the SimGrid platform, against the documented rules:
// a canary holding its time catches a release that fails health after T < that time; a release failing only on
// one GPU model fails only there and the nodes roll back locally; a verification window longer than the time to
// failure turns a late crash into a failed update; without one the committed release crash-loops with the
// Kubernetes back-off (10 s doubling to 5 min); the nodes-in-state series accounts for every node at every sample.
#include <cmath>
#include <map>

#include <gtest/gtest.h>

#include "sim_test_support.hpp"

namespace fleetsim::testing {
namespace {

const nlohmann::json& operation(const nlohmann::json& report, const std::string& name) {
  for (const auto& op : report["operations"])
    if (op["name"] == name) return op;
  static const nlohmann::json none;
  ADD_FAILURE() << "no operation " << name;
  return none;
}

std::string fleet(const std::string& agent, const std::string& v2, int stores = 20) {
  return R"(
site { name = "s", count = )" +
         std::to_string(stores) + R"(, nodes = 1, uplink = { down = "50Mbps", latency = "20ms" }, agent = { )" + agent +
         R"( } }
app { name = "pos", versions = { ["1"] = { image = "20MiB", start_time = "2s" },
                                 ["2"] = { image = "21MiB", start_time = "2s", )" +
         v2 + R"( } } }
at("0s", deploy { app = "pos", version = "1", name = "install" })
)";
}

TEST(Rollout, CanaryHoldingItsTimeCatchesAReleaseThatFailsHealthAfterFiveMinutes) {
  // Two canaries hold 15 minutes; version 2 exits 5 minutes after it starts: the canaries report unhealthy, count
  // as failed (50 % >= the 50 % threshold), the rollout aborts before anyone else is told, and revert_all returns
  // the canaries to version 1. Version 2 ran about 5 minutes on each canary.
  std::string dir = fresh_dir("run");
  auto run = run_fleetsim(write_scenario(dir, "c.lua", fleet("", R"(fail_after = "5m")") + R"(
at("10m", rollout { app = "pos", version = "2", name = "up", rollback = "revert_all",
                    strategy = { kind = "canary", canary = 2, canary_time = "15m", size = "50%" },
                    abort = { failure_threshold = "50%", min_executed = 1 } })
expect "up.canceled == 18"
expect "pos@2.nodes_at_end == 0"
)"),
                          {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  auto report = read_report(run);
  const auto& up = operation(report, "up");
  ASSERT_FALSE(up["aborted_at_s"].is_null());
  const double started = up["started_at_s"].get<double>();
  // The abort follows the first canary's exit: 5 minutes after its start, which follows its pull (< 10 s).
  EXPECT_GE(up["aborted_at_s"].get<double>() - started, 300.0);
  EXPECT_LE(up["aborted_at_s"].get<double>() - started, 300.0 + 30.0);
  const double v2_time = report["versions"]["pos"]["2"]["node_time_s"].get<double>();
  EXPECT_GE(v2_time, 2 * 300.0);
  EXPECT_LE(v2_time, 2 * (300.0 + 60.0));
  EXPECT_EQ(report["invariant_violations"].size(), 0u);
}

TEST(Rollout, ReleaseFailingOnOneGpuModelFailsOnlyThereAndRollsBackLocally) {
  std::string dir = fresh_dir("run");
  auto run = run_fleetsim(write_scenario(dir, "g.lua", R"(
site { name = "t4", count = 6, nodes = 1, uplink = { down = "50Mbps", latency = "20ms" },
       hardware = { gpu = { model = "T4", driver = "535" } } }
site { name = "a100", count = 4, nodes = 1, uplink = { down = "50Mbps", latency = "20ms" },
       hardware = { gpu = { model = "A100", driver = "535" } } }
app { name = "vision", versions = { ["1"] = { image = "20MiB" },
                                    ["2"] = { image = "22MiB", fails_on = { gpu_model = "T4" } } } }
at("0s", deploy { app = "vision", version = "1", name = "install" })
at("10m", rollout { app = "vision", version = "2", name = "up", node_deadline = "10m" })
expect "up.failed == 6"
expect "up.succeeded == 4"
expect "vision@1.nodes_at_end == 6"
expect "vision@2.nodes_at_end == 4"
)"),
                          {}, dir);
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  auto report = read_report(run);
  EXPECT_EQ(report["invariant_violations"].size(), 0u);  // local-rollback-restores-previous is checked
}

TEST(Rollout, VerificationWindowTurnsALateCrashIntoAFailedUpdate) {
  // Version 2 exits 3 minutes after it starts; a 10-minute verification window sees it: every node reports the
  // update failed and runs version 1 again.
  std::string dir = fresh_dir("run");
  auto run = run_fleetsim(write_scenario(dir, "v.lua",
                                         fleet(R"(verification_window = "10m")", R"(fail_after = "3m")") +
                                             R"(
at("1h", rollout { app = "pos", version = "2", name = "up" })
expect "up.failed == 20"
expect "pos@1.nodes_at_end == 20"
)"),
                          {}, dir);
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  auto report = read_report(run);
  EXPECT_EQ(report["invariant_violations"].size(), 0u);
}

TEST(Rollout, WithoutVerificationACommittedReleaseCrashLoopsWithTheKubernetesBackOff) {
  // No window: the update succeeds, then the process exits every 3 minutes of uptime and restarts after 10, 20,
  // 40, 80, 160, 300, 300 ... s (it never stays up 10 minutes, so the back-off never resets). Over the 2 hours after
  // the update, count the exits of that cycle per node.
  std::string dir = fresh_dir("run");
  auto run = run_fleetsim(write_scenario(dir, "k.lua", fleet("", R"(fail_after = "3m")", 5) + R"(
at("1h", rollout { app = "pos", version = "2", name = "up" })
simulation { duration = "3h", states_sample = "1m" }
expect "up.succeeded == 5"
)"),
                          {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  auto report = read_report(run);
  // Each node started version 2 a few seconds after 1 h; exits at start + 180, then every 180 s of uptime.
  int exits = 0;
  double t = 180;  // since the start of version 2
  for (int k = 1; t <= 2 * 3600 - 10; ++k) {
    ++exits;
    t += std::min(300.0, 10.0 * std::pow(2.0, k - 1)) + 2 + 180;  // back-off, start_time, uptime
  }
  EXPECT_NEAR(report["crash_reports"].get<double>(), 5.0 * exits, 5.0);
  // Every sample accounts for every node; crash-looping nodes appear between exits and restarts.
  std::vector<std::string> header;
  auto rows = read_csv(run.dir + "/states.csv", &header);
  std::map<std::string, std::size_t> per_sample;
  std::size_t crashlooping = 0;
  for (const auto& row : rows) {
    per_sample[row[column(header, "time_s")]] += std::stoul(row[column(header, "nodes")]);
    if (row[column(header, "state")] == "crashlooping") ++crashlooping;
  }
  for (const auto& [time, nodes] : per_sample) EXPECT_EQ(nodes, 5u) << "at " << time;
  EXPECT_GE(per_sample.size(), 180u);
  EXPECT_GT(crashlooping, 0u);
}

TEST(Rollout, PlacementByResourcesReportsNodesWithoutRoomAndNeverOverfills) {
  // GPU app: only the 4 GPU nodes. A 6 GiB app fits on every 8 GiB node; its 10 GiB release fits nowhere: the
  // rollout fails all 8 at once, and they keep version 1.
  std::string dir = fresh_dir("run");
  auto run = run_fleetsim(write_scenario(dir, "p.lua", R"(
site { name = "gpu", count = 2, nodes = 2, uplink = { down = "50Mbps", latency = "20ms" },
       hardware = { memory = "8GiB", gpu = { model = "T4", memory = "16GiB" } } }
site { name = "plain", count = 2, nodes = 2, uplink = { down = "50Mbps", latency = "20ms" }, hardware = { memory = "8GiB" } }
app { name = "vision", versions = { ["1"] = { image = "20MiB", requires = { gpu = 1, gpu_memory = "8GiB" } } } }
app { name = "pos", versions = { ["1"] = { image = "20MiB", requires = { memory = "6GiB" } },
                                 ["2"] = { image = "20MiB", requires = { memory = "10GiB" } } } }
at("0s", deploy { app = "vision", version = "1", name = "v" })
at("0s", deploy { app = "pos", version = "1", name = "p" })
at("1h", rollout { app = "pos", version = "2", name = "p2" })
expect "v.targeted == 4"
expect "p.targeted == 8"
expect "p2.failed == 8"
expect "pos@1.nodes_at_end == 8"
)"),
                          {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  auto report = read_report(run);
  const auto& v = operation(report, "v");
  ASSERT_EQ(v["unplaced"].size(), 4u);
  EXPECT_NE(v["unplaced"][0].get<std::string>().find("plain-1/n1: gpu: needs 1"), std::string::npos);
  EXPECT_NE(operation(report, "p2")["unplaced"][0].get<std::string>().find("memory: needs 10.00 GiB, 8.00 GiB free"),
            std::string::npos);
}

TEST(Rollout, RollingWithinEachSiteTakesSiteNodesOneWindowAtATime) {
  // 3 stores of 4 nodes, max_unavailable 25 % (1 node), no surge: in each store the nodes update one after the
  // other, the stores in parallel. Each node pulls 20 MiB alone over its store's 16 Mbps downlink (10.96 s at its
  // payload rate) and starts in 2 s: a store takes at least 4 x 12.96 s, and the rollout not much more.
  std::string dir = fresh_dir("run");
  auto run = run_fleetsim(write_scenario(dir, "r.lua", R"(
site { name = "s", count = 3, nodes = 4, uplink = { down = "16Mbps", latency = "20ms" } }
app { name = "pos", versions = { ["1"] = { image = "5MiB", start_time = "2s" }, ["2"] = { image = "20MiB", start_time = "2s" } } }
at("0s", deploy { app = "pos", version = "1", name = "install" })
at("10m", rollout { app = "pos", version = "2", name = "up",
                    strategy = { kind = "rolling", max_unavailable = "25%", max_surge = 0 } })
expect "up.succeeded == 12"
)"),
                          {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  auto report = read_report(run);
  const double per_node = 20 * 1048576.0 / (16e6 / 8 * kUplinkEfficiency) + 2;
  const double t100 = operation(report, "up")["time_to_pct_s"]["100"].get<double>();
  EXPECT_GE(t100, 4 * per_node);
  EXPECT_LE(t100, 4 * per_node * 1.05);
  EXPECT_EQ(report["invariant_violations"].size(), 0u);  // rolling-window-holds is checked every run
}

}  // namespace
}  // namespace fleetsim::testing
