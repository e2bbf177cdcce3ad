// Scripted link faults: an outage fails in-flight pulls as a dropped connection would; the agent resumes or
// restarts as configured; every fault window is logged with its simulated times and replays with the seed.
#include <algorithm>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "sim_test_support.hpp"

namespace fleetsim::testing {
namespace {

constexpr double kMiB = 1048576.0;

// One node behind an 8 Mbps uplink pulls a 10 MiB image from t=0; its uplink is cut from 5 s to 35 s.
std::string outage_scenario(const std::string& resume) {
  return R"(
site { name = "s", count = 1, nodes = 1, uplink = { down = "8Mbps", latency = "20ms" },
       agent = { resume = ")" +
         resume + R"(", retry_initial = "10s", max_fetch_attempts = 10 } }
app { name = "x", versions = { ["1"] = { image = "10MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
at("5s", fault.partition { sites = { "s-1" }, duration = "30s", name = "cut" })
expect "d.succeeded == 1"
)";
}

struct NodeBytes {
  double pulled, wasted, healthy;
};
NodeBytes node_bytes(const RunOutput& run) {
  std::vector<std::string> header;
  auto rows = read_csv(run.dir + "/nodes.csv", &header);
  EXPECT_EQ(rows.size(), 1u);
  auto col = [&](const std::string& name) { return column(header, name); };
  return {std::stod(rows[0][col("bytes_pulled")]), std::stod(rows[0][col("bytes_wasted")]),
          std::stod(rows[0][col("d.healthy_s")])};
}

TEST(LinkOutage, FailsInFlightPullWhichResumesAtTheByteOffset) {
  // With resume = "range", the bytes received before the cut are kept: the node pulls exactly the image, wastes
  // nothing, and cannot finish before the link is back plus the rest of the image at 8 Mbps.
  std::string dir = fresh_dir("run");
  auto run = run_fleetsim(write_scenario(dir, "resume.lua", outage_scenario("range")), {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  NodeBytes b = node_bytes(run);
  const double size = 10 * kMiB, rate = 8e6 / 8 * kUplinkEfficiency;  // the 8 Mbps uplink's payload rate
  EXPECT_EQ(b.pulled, size);
  EXPECT_EQ(b.wasted, 0);
  // About 5 s of transfer happened before the cut (notification and pull latencies take ~50 ms of it).
  double before_cut = rate * 5.0;
  EXPECT_GE(b.healthy, 35.0 + (size - before_cut) / rate);
  EXPECT_LE(b.healthy, 35.0 + 40.0 + (size - before_cut) / rate);  // within one back-off (<= 40 s) of the end
  auto report = read_report(run);
  EXPECT_EQ(report["network"]["bytes_wasted"], 0);
  ASSERT_EQ(report["faults"].size(), 1u);
  EXPECT_EQ(report["faults"][0]["start_s"], 5.0);
  EXPECT_EQ(report["faults"][0]["end_s"], 35.0);
}

TEST(LinkOutage, RestartFromZeroWastesWhatArrivedBeforeTheCut) {
  // With resume = "restart", the partial layer is discarded: the waste is what crossed the link before the cut
  // (at most 5 s at 8 Mbps, at least what flows after the notification and the pull's set-up), and the node pulls
  // the image plus the waste.
  std::string dir = fresh_dir("run");
  auto run = run_fleetsim(write_scenario(dir, "restart.lua", outage_scenario("restart")), {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  NodeBytes b = node_bytes(run);
  const double size = 10 * kMiB, rate = 8e6 / 8 * kUplinkEfficiency;  // the 8 Mbps uplink's payload rate
  const double one_way = 0.005 + 0.020 + 0.0002;
  EXPECT_LE(b.wasted, rate * 5.0);
  EXPECT_GE(b.wasted, rate * (5.0 - one_way - first_byte_s(one_way) - 0.01));
  EXPECT_EQ(b.pulled, size + b.wasted);
  EXPECT_GE(b.healthy, 35.0 + size / rate);
  EXPECT_EQ(read_report(run)["network"]["bytes_wasted"].get<double>(), b.wasted);
}

TEST(LinkOutage, EveryFaultIsLoggedWithItsSimulatedTimes) {
  // events.jsonl has one start and one end line per site of each fault window, in time order.
  std::string dir = fresh_dir("run");
  auto run = run_fleetsim(write_scenario(dir, "events.lua", outage_scenario("range")), {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  std::istringstream lines(read_file(dir + "/events.jsonl"));
  std::vector<nlohmann::json> events;
  for (std::string line; std::getline(lines, line);) events.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["type"], "fault.start");
  EXPECT_EQ(events[0]["t"], 5.0);
  EXPECT_EQ(events[0]["target"], "s-1");
  EXPECT_EQ(events[0]["fault"], "cut");
  EXPECT_EQ(events[1]["type"], "fault.end");
  EXPECT_EQ(events[1]["t"], 35.0);
}

TEST(FaultSelection, FractionOfSitesIsDrawnFromTheSeed) {
  // fault.partition { fraction = 0.3 } over 10 sites cuts exactly 3; the same seed cuts the same sites.
  std::string dir = fresh_dir("run");
  std::string lua = R"(
site { name = "s", count = 10, nodes = 1, uplink = { down = "8Mbps", latency = "20ms" } }
app { name = "x", versions = { ["1"] = { image = "1MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
at("1s", fault.partition { fraction = 0.3, duration = "10s" })
)";
  std::string path = write_scenario(dir, "fraction.lua", lua);
  auto a = run_fleetsim(path, {"--seed", "11"}, fresh_dir("a"));
  auto b = run_fleetsim(path, {"--seed", "11"}, fresh_dir("b"));
  ASSERT_EQ(a.exit_code, 0) << a.out << a.err;
  auto sites = read_report(a)["faults"][0]["targets"];
  EXPECT_EQ(sites.size(), 3u);
  EXPECT_EQ(read_file(a.dir + "/events.jsonl"), read_file(b.dir + "/events.jsonl"));
  EXPECT_EQ(read_report(b)["faults"][0]["targets"], sites);
  // Over several seeds the selection changes (10 choose 3 = 120 possibilities).
  bool changed = false;
  for (const char* seed : {"12", "13", "14", "15"}) {
    auto c = run_fleetsim(path, {"--seed", seed}, fresh_dir(std::string("c") + seed));
    ASSERT_EQ(c.exit_code, 0);
    changed = changed || read_report(c)["faults"][0]["targets"] != sites;
  }
  EXPECT_TRUE(changed);
}

TEST(FaultSelection, UnknownSiteOrTemplateIsAScenarioError) {
  // A fault naming a site or template that does not exist exits 2 naming file:line and the key.
  std::string dir = fresh_dir("run");
  std::string base = R"(site { name = "s", count = 2, nodes = 1, uplink = { down = "8Mbps", latency = "20ms" } }
)";
  auto bad_site = run_fleetsim(
      write_scenario(dir, "a.lua", base + R"(at("1s", fault.partition { sites = { "s-3" }, duration = "1m" }))"), {},
      dir);
  EXPECT_EQ(bad_site.exit_code, 2);
  EXPECT_NE(bad_site.err.find("a.lua:2:"), std::string::npos) << bad_site.err;
  EXPECT_NE(bad_site.err.find("key 'sites'"), std::string::npos) << bad_site.err;
  auto bad_template = run_fleetsim(
      write_scenario(dir, "b.lua", base + R"(at("1s", fault.partition { template = "t", duration = "1m" }))"), {}, dir);
  EXPECT_EQ(bad_template.exit_code, 2);
  EXPECT_NE(bad_template.err.find("key 'template'"), std::string::npos) << bad_template.err;
  auto no_duration =
      run_fleetsim(write_scenario(dir, "c.lua", base + R"(at("1s", fault.partition { sites = { "s-1" } }))"), {}, dir);
  EXPECT_EQ(no_duration.exit_code, 2);
  EXPECT_NE(no_duration.err.find("key 'duration'"), std::string::npos) << no_duration.err;
}

TEST(LinkDegradation, TransferSlowsByTheFactorDuringTheWindow) {
  // A 16 MiB pull over 8 Mbps whose uplink runs at a quarter of its bandwidth from 5 s to 15 s moves 5 s + 2.5 s
  // worth of bytes by 15 s, and the rest at full rate after: it ends at 15 + (S - 7.5 B) / B.
  std::string dir = fresh_dir("run");
  std::string lua = R"(
site { name = "s", count = 1, nodes = 1, uplink = { down = "8Mbps", latency = "10ms" } }
app { name = "x", versions = { ["1"] = { image = "16MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
at("5s", fault.degrade { sites = { "s-1" }, factor = 0.25, duration = "10s" })
)";
  auto run = run_fleetsim(write_scenario(dir, "degrade.lua", lua), {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const double size = 16 * kMiB, rate = 8e6 / 8 * kUplinkEfficiency;  // the 8 Mbps uplink's payload rate
  const double expected = 15.0 + (size - 7.5 * rate) / rate;
  EXPECT_NEAR(node_bytes(run).healthy, expected, 0.01 * expected);
  auto report = read_report(run);
  EXPECT_EQ(report["faults"][0]["kind"], "degrade");
  EXPECT_EQ(report["faults"][0]["factor"], 0.25);
}

TEST(RegistryOutage, FailsEveryPullWhichResumesWhenTheRegistryIsBack) {
  // The registry's egress goes down from 5 s to 35 s: the pull in flight fails, the agent retries with back-off,
  // and the node finishes only after the registry is back, having pulled exactly the image (resume at offset).
  std::string dir = fresh_dir("run");
  std::string lua = R"(
site { name = "s", count = 2, nodes = 1, uplink = { down = "8Mbps", latency = "20ms" },
       agent = { resume = "range", retry_initial = "10s", max_fetch_attempts = 10 } }
app { name = "x", versions = { ["1"] = { image = "10MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
at("5s", fault.registry_outage { duration = "30s" })
expect "d.succeeded == 2"
)";
  auto run = run_fleetsim(write_scenario(dir, "registry.lua", lua), {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  auto report = read_report(run);
  const double size = 10 * kMiB, rate = 8e6 / 8 * kUplinkEfficiency;  // the 8 Mbps uplink's payload rate
  EXPECT_EQ(report["network"]["registry_egress_bytes"].get<double>(), 2 * size);
  EXPECT_GE(report["operations"][0]["time_to_pct_s"]["100"].get<double>(), 35.0 + (size - 5.0 * rate) / rate);
  EXPECT_EQ(report["faults"][0]["targets"][0], "registry");
}

TEST(FaultSelection, WhereSelectsSitesByTemplateLabels) {
  // fault.partition { where = { region = "north" } } cuts every site of the templates labelled north, and only
  // those: a correlated regional outage.
  std::string dir = fresh_dir("run");
  std::string lua = R"(
site { name = "n", count = 3, nodes = 1, uplink = { down = "8Mbps", latency = "20ms" }, labels = { region = "north" } }
site { name = "m", count = 2, nodes = 1, uplink = { down = "8Mbps", latency = "20ms" }, labels = { region = "north" } }
site { name = "s", count = 4, nodes = 1, uplink = { down = "8Mbps", latency = "20ms" }, labels = { region = "south" } }
at("1s", fault.partition { where = { region = "north" }, duration = "1m", name = "north" })
simulation { duration = "2m" }
)";
  auto run = run_fleetsim(write_scenario(dir, "region.lua", lua), {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  auto sites = read_report(run)["faults"][0]["targets"];
  ASSERT_EQ(sites.size(), 5u);
  for (const auto& site : sites) EXPECT_TRUE(site.get<std::string>()[0] == 'n' || site.get<std::string>()[0] == 'm');
}

TEST(OutageTrace, ReplaysRecordedUpDownTimesFromCsv) {
  // fault.trace replays a CSV of site,down_at,up_at relative to its at() time: the events carry exactly those
  // times, and a bad row is an error naming the CSV's file:line and column.
  std::string dir = fresh_dir("run");
  write_scenario(dir, "outages.csv", "site,down_at,up_at\n# recorded on 2026-10-02\ns-2,10s,1m\ns-1,30s,2m30s\n");
  std::string lua = R"(
site { name = "s", count = 2, nodes = 1, uplink = { down = "8Mbps", latency = "20ms" } }
at("100s", fault.trace { file = "outages.csv", name = "recorded" })
simulation { duration = "10m" }
)";
  auto run = run_fleetsim(write_scenario(dir, "trace.lua", lua), {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  std::istringstream lines(read_file(dir + "/events.jsonl"));
  std::vector<std::pair<double, std::string>> events;
  for (std::string line; std::getline(lines, line);) {
    auto e = nlohmann::json::parse(line);
    events.emplace_back(e["t"].get<double>(), e["type"].get<std::string>() + " " + e["target"].get<std::string>());
  }
  std::vector<std::pair<double, std::string>> expected{
      {110, "fault.start s-2"}, {130, "fault.start s-1"}, {160, "fault.end s-2"}, {250, "fault.end s-1"}};
  EXPECT_EQ(events, expected);

  write_scenario(dir, "outages.csv", "s-1,10s,1m\ns-1,10 parsecs,1m\n");
  auto bad = run_fleetsim(dir + "/trace.lua", {}, dir);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("outages.csv:2:"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("down_at"), std::string::npos) << bad.err;
}

// Two nodes run version 1 (4 MiB); version 2 (10 MiB, 30 s to start) rolls out at 60 s over a shared 8 Mbps
// uplink. n1 loses power at 70 s, in the middle of its pull; n2 at 80 s, while version 2 is starting.
std::string crash_scenario(const std::string& resume) {
  return R"(
site { name = "s", count = 1, nodes = 2, uplink = { down = "8Mbps", latency = "20ms" }, agent = { resume = ")" +
         resume + R"(" } }
app { name = "x", versions = { ["1"] = { image = "4MiB", start_time = "1s" },
                               ["2"] = { image = "10MiB", start_time = "30s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
at("1m", rollout { app = "x", version = "2", name = "r" })
at("1m10s", fault.node_crash { nodes = { "s-1/n1" }, reboot_after = "1m" })
at("1m20s", fault.node_crash { nodes = { "s-1/n2" }, reboot_after = "1m" })
expect "r.succeeded == 2"
)";
}

std::map<std::string, std::vector<std::string>> rows_by_node(const std::string& dir, std::vector<std::string>& header) {
  std::map<std::string, std::vector<std::string>> rows;
  for (auto& row : read_csv(dir + "/nodes.csv", &header)) rows[row[0]] = row;
  return rows;
}

TEST(NodeCrash, PowerLossMidPullResumesFromDiskAfterReboot) {
  // n1 shares the uplink with n2 until n2's pull ends, so at 70 s it has about 10 s x 4 Mbps; it reboots at 130 s
  // and pulls only the rest at 8 Mbps (resume at the byte offset), then takes 30 s to start.
  std::string dir = fresh_dir("run");
  auto run = run_fleetsim(write_scenario(dir, "crash.lua", crash_scenario("range")), {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  std::vector<std::string> header;
  auto rows = rows_by_node(dir, header);
  auto col = [&](const std::string& name) { return column(header, name); };
  const double rate = 8e6 / 8 * kUplinkEfficiency, size = 10 * kMiB;
  const double before_crash = 10.0 * rate / 2;
  const double expected = 130.0 + (size - before_crash) / rate + 30.0;
  EXPECT_NEAR(std::stod(rows["s-1/n1"][col("r.healthy_s")]), expected, 0.01 * expected);
  EXPECT_EQ(std::stod(rows["s-1/n1"][col("bytes_pulled")]), 14 * kMiB);  // nothing pulled twice
  EXPECT_EQ(std::stod(rows["s-1/n1"][col("bytes_wasted")]), 0);
}

TEST(NodeCrash, PowerLossWhileStartingKeepsABootableReleaseAndPullsNothingAgain) {
  // n2 had downloaded version 2 and was starting it when the power went: at reboot (140 s) the committed
  // release is still there (the always-bootable invariant holds, exit 0), version 2 starts again from disk
  // (healthy 30 s later), and no byte is pulled twice.
  std::string dir = fresh_dir("run");
  auto run = run_fleetsim(write_scenario(dir, "crash.lua", crash_scenario("range")), {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  std::vector<std::string> header;
  auto rows = rows_by_node(dir, header);
  auto col = [&](const std::string& name) { return column(header, name); };
  EXPECT_NEAR(std::stod(rows["s-1/n2"][col("r.healthy_s")]), 140.0 + 30.0, 0.5);
  EXPECT_EQ(std::stod(rows["s-1/n2"][col("bytes_pulled")]), 14 * kMiB);
  EXPECT_TRUE(read_report(run)["invariant_violations"].empty());
}

TEST(NodeCrash, RestartPolicyWastesThePartialLayerAtPowerLoss) {
  // With resume = "restart", the partial layer on disk is discarded at power loss and counted as wasted.
  std::string dir = fresh_dir("run");
  auto run = run_fleetsim(write_scenario(dir, "crash.lua", crash_scenario("restart")), {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  std::vector<std::string> header;
  auto rows = rows_by_node(dir, header);
  auto col = [&](const std::string& name) { return column(header, name); };
  const double rate = 8e6 / 8 * kUplinkEfficiency;  // the 8 Mbps uplink's payload rate
  double wasted = std::stod(rows["s-1/n1"][col("bytes_wasted")]);
  EXPECT_NEAR(wasted, 10.0 * rate / 2, 0.02 * 10.0 * rate / 2);
  EXPECT_EQ(std::stod(rows["s-1/n1"][col("bytes_pulled")]), 14 * kMiB + wasted);
}

TEST(LinkOutage, NotificationLostToAnOutageIsSentAgainAndTheRolloutCompletes) {
  // Site s-1 is cut from 59 s to 179 s, across the rollout's notification at 60 s: the delivery fails, the
  // orchestrator sends it again with back-off (10, 20, 40, 80 s ...), and the node upgrades after the cut.
  std::string dir = fresh_dir("run");
  std::string lua = R"(
site { name = "s", count = 2, nodes = 1, uplink = { down = "8Mbps", latency = "20ms" } }
app { name = "x", versions = { ["1"] = { image = "1MiB", start_time = "0s" }, ["2"] = { image = "1MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
at("60s", rollout { app = "x", version = "2", name = "r" })
at("59s", fault.partition { sites = { "s-1" }, duration = "2m" })
expect "r.succeeded == 2"
)";
  for (const char* mode : {"network", "timed"}) {
    auto run = run_fleetsim(write_scenario(dir, "lost.lua", lua),
                            {"--set", std::string("simulation.control_messages=") + mode}, fresh_dir(mode));
    ASSERT_EQ(run.exit_code, 0) << mode << "\n" << run.out << run.err;
    std::vector<std::string> header;
    auto rows = rows_by_node(run.dir, header);
    auto col = column(header, "r.healthy_s");
    EXPECT_GE(std::stod(rows["s-1/n1"][col]), 179.0) << mode;
    EXPECT_LT(std::stod(rows["s-2/n1"][col]), 62.0) << mode;
  }
}

TEST(DiskFull, UpdateThatDoesNotFitFailsOnlyOnTheFilledNode) {
  // n1's disk is filled (1 MiB left for layers) before a rollout whose new layer is 20 MiB: n1 reports the update
  // failed (its agent finds no room for the layer); n2, untouched, upgrades.
  std::string dir = fresh_dir("run");
  std::string lua = R"(
site { name = "s", count = 1, nodes = 2, uplink = { down = "80Mbps", latency = "20ms" } }
app { name = "x", versions = { ["1"] = { image = "10MiB", start_time = "0s" }, ["2"] = { image = "20MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
at("50s", fault.disk_full { nodes = { "s-1/n1" }, free = "1MiB", duration = "1h" })
at("1m", rollout { app = "x", version = "2", name = "r" })
expect "r.failed == 1"
expect "r.succeeded == 1"
)";
  auto run = run_fleetsim(write_scenario(dir, "disk.lua", lua), {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  std::vector<std::string> header;
  auto rows = rows_by_node(dir, header);
  auto outcome = column(header, "r.outcome");
  EXPECT_EQ(rows["s-1/n1"][outcome], "failed");
  EXPECT_EQ(rows["s-1/n2"][outcome], "succeeded");
  EXPECT_NE(read_file(dir + "/report.json").find("disk_full"), std::string::npos);
}

TEST(OrchestratorRestart, StateSurvivesAndTheRolloutFinishesAfterTheResyncWithoutRestartingNodes) {
  // The orchestrator stops at 61 s, just after notifying a rollout, and restarts at 181 s. The nodes upgrade at
  // about 61 s; their reports are refused and retried. At restart the orchestrator re-sends the desired state to
  // the nodes still pending; they already run it, so they only report it again: the operation finishes right
  // after 181 s and no node's healthy time moves.
  std::string dir = fresh_dir("run");
  std::string lua = R"(
site { name = "s", count = 2, nodes = 1, uplink = { down = "8Mbps", latency = "20ms" } }
app { name = "x", versions = { ["1"] = { image = "1MiB", start_time = "0s" }, ["2"] = { image = "1MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
at("60s", rollout { app = "x", version = "2", name = "r", node_deadline = "10m" })
at("61s", fault.orchestrator_restart { downtime = "2m" })
expect "r.succeeded == 2"
)";
  auto run = run_fleetsim(write_scenario(dir, "orch.lua", lua), {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  auto op = read_report(run)["operations"][1];
  EXPECT_GE(op["finished_at_s"].get<double>(), 181.0);
  EXPECT_LT(op["finished_at_s"].get<double>(), 182.0);
  std::vector<std::string> header;
  auto rows = rows_by_node(dir, header);
  auto col = column(header, "r.healthy_s");
  for (const auto& [node, row] : rows) EXPECT_LT(std::stod(row[col]), 62.0) << node;
}

// Fraction of [0, horizon] during which each site's uplink was up, from events.jsonl.
std::map<std::string, double> availability(const std::string& events_path, double horizon) {
  std::istringstream lines(read_file(events_path));
  std::map<std::string, double> down, started;
  for (std::string line; std::getline(lines, line);) {
    auto e = nlohmann::json::parse(line);
    std::string site = e["target"];
    if (e["type"] == "fault.start")
      started[site] = e["t"].get<double>();
    else
      down[site] += e["t"].get<double>() - started[site];
  }
  std::map<std::string, double> up;
  for (const auto& [site, d] : down) up[site] = 1.0 - d / horizon;
  return up;
}

class RandomOutages : public ::testing::TestWithParam<std::string> {};

TEST_P(RandomOutages, LinkIsUpMtbfOverMtbfPlusMttrOfTheTime) {
  // An on/off process with mean up time 10 min and mean down time 2 min, run for 60 days (about 7,200 cycles
  // per site), keeps each uplink up 10/12 of the time within 2 %, for exponential and Weibull (k = 0.7) draws.
  std::string dir = fresh_dir("run");
  std::string lua = R"(
site { name = "s", count = 3, nodes = 1, uplink = { down = "8Mbps", latency = "20ms" },
       outages = { mtbf = "10m", mttr = "2m", )" +
                    GetParam() + R"( } }
simulation { duration = "60d", max_time = "61d" }
)";
  auto run = run_fleetsim(write_scenario(dir, "onoff.lua", lua), {"--seed", "3"}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  auto up = availability(dir + "/events.jsonl", 60 * 86400.0);
  ASSERT_EQ(up.size(), 3u);
  for (const auto& [site, fraction] : up) EXPECT_NEAR(fraction, 10.0 / 12.0, 0.02 * 10.0 / 12.0) << site;
}

INSTANTIATE_TEST_SUITE_P(Distributions, RandomOutages,
                         ::testing::Values("distribution = \"exponential\"",
                                           "distribution = \"weibull\", shape = 0.7"));

TEST(RandomOutages, SameSeedInjectsIdenticalFaultsAtIdenticalTimes) {
  // Two runs with one seed give byte-identical events.jsonl; another seed gives other outage times.
  std::string dir = fresh_dir("run");
  std::string lua = R"(
site { name = "s", count = 5, nodes = 2, uplink = { down = "8Mbps", latency = "20ms" },
       outages = { mtbf = "1h", mttr = "5m" } }
app { name = "x", versions = { ["1"] = { image = "5MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d", node_deadline = "6h" })
simulation { duration = "2d" }
)";
  std::string path = write_scenario(dir, "seeded.lua", lua);
  auto a = run_fleetsim(path, {"--seed", "21"}, fresh_dir("a"));
  auto b = run_fleetsim(path, {"--seed", "21"}, fresh_dir("b"));
  auto c = run_fleetsim(path, {"--seed", "22"}, fresh_dir("c"));
  ASSERT_EQ(a.exit_code, 0) << a.out << a.err;
  std::string events = read_file(a.dir + "/events.jsonl");
  EXPECT_FALSE(events.empty());
  EXPECT_EQ(events, read_file(b.dir + "/events.jsonl"));
  EXPECT_EQ(read_file(a.dir + "/report.json"), read_file(b.dir + "/report.json"));
  EXPECT_NE(events, read_file(c.dir + "/events.jsonl"));
}

}  // namespace
}  // namespace fleetsim::testing
