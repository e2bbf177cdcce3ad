// `fleetsim emulate` as a user runs it: the binary, its exit codes and its files. The cross-validation of issue 14:
// scenarios/emulate_canary.lua (20 stores of 5 nodes, 5 MiB layers over 10 Mbps uplinks, a partition of two stores
// during the install, a node's power cut, a canary that catches a release crashing on start, its revert) simulated by `fleetsim run` and run for real by `fleetsim emulate` (the
// orchestrator and 100 node agents on this machine, Debian's docker-registry, a token bucket per uplink, every
// release a process) gives the same outcome on every node, and per-store completion times within 10 %.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sim_test_support.hpp"

namespace fleetsim::testing {
namespace {

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#elif defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

struct Nodes {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::string cell(std::size_t row, const std::string& name) const { return rows[row][column(header, name)]; }
};

Nodes nodes_of(const std::string& dir) {
  Nodes n;
  n.rows = read_csv(dir + "/nodes.csv", &n.header);
  return n;
}

// The last node of each store to be healthy in the install.
std::map<std::string, double> store_completion(const Nodes& n) {
  std::map<std::string, double> done;
  for (std::size_t i = 0; i < n.rows.size(); ++i) {
    const std::string t = n.cell(i, "install.healthy_s");
    if (!t.empty()) done[n.cell(i, "site")] = std::max(done[n.cell(i, "site")], std::stod(t));
  }
  return done;
}

TEST(Emulate, TheSameFleetSimulatedAndRunForRealEndsTheSameWayInTheSameTime) {
  const std::string scenario = source_path("scenarios/emulate_canary.lua");
  const std::string sim_dir = fresh_dir("emulate-sim"), real_dir = fresh_dir("emulate-real");
  const RunOutput simulated = run_fleetsim(scenario, {}, sim_dir);
  ASSERT_EQ(simulated.exit_code, 0) << simulated.out << simulated.err;
  // About 70 s of wall time. (At --scale 0.5 the same run takes half as long, but the start of 100 pulls at once,
  // spread over about a second of wall time on two cores, weighs twice as much: stores up to 8 % late, not 4 %.)
  const RunOutput real = run_raw({"emulate", scenario, "--out", real_dir, "--no-progress", "-q"});
  const nlohmann::json report = nlohmann::json::parse(read_file(real_dir + "/report.json"));
  if (!kSanitized) {
    ASSERT_EQ(real.exit_code, 0) << real.out << real.err;  // every expectation of the file holds for real too
  } else {
    // Under ASan and UBSan (CI's second tree) a hundred sanitized agents on two cores start their pulls seconds late
    // (the install's 90 % came at 34 s instead of 25 s in CI): the file's timing expectations may fail there, and
    // only those; what this tree is for is that the whole emulation runs clean under the sanitizers.
    ASSERT_TRUE(real.exit_code == 0 || real.exit_code == 1) << real.out << real.err;
    for (const auto& e : report["expectations"]) {
      if (e["passed"] != true) {
        EXPECT_NE(e["metric"].get<std::string>().find(".time_to_"), std::string::npos) << e.dump();
      }
    }
  }
  EXPECT_EQ(report["engine"]["scale"], "1.000000") << report["engine"].dump();
  EXPECT_TRUE(report["invariant_violations"].empty()) << report["invariant_violations"].dump();
  const Nodes a = nodes_of(sim_dir), b = nodes_of(real_dir);
  ASSERT_EQ(a.rows.size(), 100u);
  ASSERT_EQ(b.rows.size(), a.rows.size());
  for (std::size_t i = 0; i < a.rows.size(); ++i) {
    ASSERT_EQ(a.cell(i, "node"), b.cell(i, "node"));
    EXPECT_EQ(b.cell(i, "install.outcome"), "succeeded") << b.cell(i, "node");
    // The canary is the same 5 nodes (the orchestrator's choice, from the same inventory), and only they were told.
    EXPECT_EQ(a.cell(i, "upgrade.notified_s").empty(), b.cell(i, "upgrade.notified_s").empty()) << a.cell(i, "node");
    // Every node told of version 2 was taken back to version 1 by the revert, in both.
    EXPECT_EQ(a.cell(i, "upgrade_revert.outcome"), b.cell(i, "upgrade_revert.outcome")) << a.cell(i, "node");
    // 5 MiB of layer per node, pulled once (version 2's own layer by the canary nodes only, at most once more).
    EXPECT_GE(std::stod(b.cell(i, "bytes_pulled")), 5.0 * 1024 * 1024 * 0.999) << b.cell(i, "node");
  }
  // The partition of two stores, 10 s into the install for 20 s: their pulls failed and resumed (no byte pulled
  // twice), they finished after the cut and the agents' retries, and events.jsonl says when it began and ended.
  for (std::size_t i = 0; i < b.rows.size(); ++i)
    if (b.cell(i, "site") == "store-3" || b.cell(i, "site") == "store-4") {
      EXPECT_GT(std::stod(b.cell(i, "install.healthy_s")), 30.0) << b.cell(i, "node");
      if (b.cell(i, "upgrade.notified_s").empty()) {
        EXPECT_EQ(b.cell(i, "bytes_pulled"), "5242880") << b.cell(i, "node");
      }
    }
  const std::string events = read_file(real_dir + "/events.jsonl");
  for (const std::string store : {"store-3", "store-4"})
    for (const std::string type : {"fault.start", "fault.end"})
      EXPECT_NE(events.find("\"type\":\"" + type + "\",\"fault\":\"cut\",\"kind\":\"partition\",\"target\":\"" + store + "\""),
                std::string::npos) << type << " " << store << " in " << events;

  // The node that lost power at 40 s and booted at 50 s from its directory: events.jsonl says so, and it ends on
  // version 1 like every other (the invariants, always-bootable among them, held: no violation above).
  for (const std::string type : {"fault.start", "fault.end"})
    EXPECT_NE(events.find("\"type\":\"" + type + "\",\"fault\":\"power\",\"kind\":\"node_crash\",\"target\":\"store-7/n2\""),
              std::string::npos) << type << " in " << events;

  const auto ends = [](const std::string& dir) { return nlohmann::json::parse(read_file(dir + "/report.json"))["nodes_at_end"]; };
  EXPECT_EQ(ends(real_dir), ends(sim_dir));  // every node on version 1

  const auto sim_done = store_completion(a), real_done = store_completion(b);
  ASSERT_EQ(sim_done.size(), 20u);
  ASSERT_EQ(real_done.size(), 20u);
  std::vector<double> gaps;
  for (const auto& [store, t] : sim_done) gaps.push_back(real_done.at(store) / t - 1);
  std::sort(gaps.begin(), gaps.end(), [](double x, double y) { return std::abs(x) < std::abs(y); });
  const double median = gaps[gaps.size() / 2], worst = gaps.back();
  // Issue 14's bound, in the optimised build only: under the sanitizers the emulated side runs several times slower
  // (above) and the gap says nothing about the simulator or the runtime.
  if (!kSanitized) {
    EXPECT_LT(std::abs(worst), 0.10) << "median " << median << ", worst " << worst;
  }
  std::printf("emulated against simulated store completion: median %+.1f %%, worst %+.1f %%\n", 100 * median,
              100 * worst);
}

// --scale 0.5 halves every size and duration of the run, and the reports multiply again: a store of 2 nodes pulling
// 2 x 4 MiB over 10 Mbps (x 1448/1514 of payload) then starting for 2 s reads 7.0 + 2 s in scenario units, though
// the emulation took half of it.
TEST(Emulate, AScaledRunReportsInTheScenariosUnits) {
  const std::string dir = fresh_dir("emulate-scaled");
  const std::string file = write_scenario(dir, "small.lua", R"lua(
scenario { name = "small" }
site { name = "store", count = 2, nodes = 2, uplink = { down = "10Mbps", latency = "5ms" } }
app { name = "pos", versions = { ["1"] = { image = "4MiB", start_time = "2s" } } }
at("0s", deploy { app = "pos", version = "1", name = "install" })
at("20s", fault.partition { sites = { "store-2" }, duration = "4s", name = "late" })
simulation { duration = "30s" }
)lua");
  const RunOutput r = run_raw({"emulate", file, "--scale", "0.5", "--out", dir + "/out", "--no-progress", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const nlohmann::json report = nlohmann::json::parse(read_file(dir + "/out/report.json"));
  EXPECT_EQ(report["engine"]["scale"], "0.500000") << report["engine"].dump();
  const double expected = 2 * 4.0 * 1024 * 1024 / (10e6 / 8 * kUplinkEfficiency) + 2;
  const double measured = report["operations"][0]["time_to_pct_s"]["100"].get<double>();
  EXPECT_GT(measured, expected * 0.99);
  EXPECT_LT(measured, expected * (kSanitized ? 1.5 : 1.15));  // the emulated start of the pulls, doubled by the scale
  const Nodes n = nodes_of(dir + "/out");
  for (std::size_t i = 0; i < n.rows.size(); ++i) EXPECT_EQ(n.cell(i, "bytes_pulled"), "4194304");
  // The fault's window is scaled with the rest (10 s into the 15 s the emulation ran) and reported at 20 s to 24 s.
  ASSERT_EQ(report["faults"].size(), 1u) << report["faults"].dump();
  EXPECT_NEAR(report["faults"][0]["start_s"].get<double>(), 20.0, 1e-9);
  EXPECT_NEAR(report["faults"][0]["end_s"].get<double>(), 24.0, 1e-9);
  const std::string events = read_file(dir + "/out/events.jsonl");
  const auto at = events.find("\"t\":");
  ASSERT_NE(at, std::string::npos) << events;
  EXPECT_NEAR(std::stod(events.substr(at + 4)), 20.0, 0.5) << events;  // when it began, in scenario time
  EXPECT_NEAR(report["end_time_s"].get<double>(), 30.0, 0.5);           // simulation.duration, scaled and back
}

TEST(Emulate, WhatItCannotRunYetIsRefusedBeforeAnythingStartsNamingWhere) {
  const std::string dir = fresh_dir("emulate-refused");
  const std::string file = write_scenario(dir, "faulty.lua", R"lua(
scenario { name = "faulty" }
site { name = "store", count = 2, nodes = 1, uplink = { down = "10Mbps", latency = "20ms" } }
app { name = "pos", versions = { ["1"] = { image = "1MiB" } } }
at("0s", deploy { app = "pos", version = "1", name = "install" })
at("1s", fault.degrade { sites = { "store-1" }, factor = 0.5, duration = "5s" })
)lua");
  const RunOutput r = run_raw({"emulate", file, "--out", dir + "/out", "--no-progress", "-q"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("faulty.lua:6: fault.degrade"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not emulated yet"), std::string::npos) << r.err;

  for (const std::string bad : {"0", "1.5", "half", "-1"}) {
    const RunOutput s = run_raw({"emulate", file, "--scale", bad, "--out", dir + "/out"});
    EXPECT_EQ(s.exit_code, 2) << bad;
    EXPECT_NE(s.err.find("--scale must be a number in (0, 1], got '" + bad + "'"), std::string::npos) << s.err;
  }
  const RunOutput cfg = run_raw({"emulate", file, "--cfg", "surf/precision:1e-9", "--out", dir + "/out"});
  EXPECT_EQ(cfg.exit_code, 2);
  EXPECT_NE(cfg.err.find("--cfg sets the simulator's engine; emulate has none"), std::string::npos) << cfg.err;
  const RunOutput scale_on_run = run_raw({"run", file, "--scale", "0.5", "--out", dir + "/out"});
  EXPECT_EQ(scale_on_run.exit_code, 2);
  EXPECT_NE(scale_on_run.err.find("unknown option '--scale'"), std::string::npos) << scale_on_run.err;
}

}  // namespace
}  // namespace fleetsim::testing
