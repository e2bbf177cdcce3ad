// `fleetsim emulate` as a user runs it: the binary, its exit codes and its files. The cross-validation of issue 14:
// scenarios/emulate_canary.lua (20 stores of 5 nodes, 5 MiB layers over 10 Mbps uplinks, a partition of two stores
// during the install, a node's power cut, a canary that catches a release crashing on start, its revert) simulated by `fleetsim run` and run for real by `fleetsim emulate` (the
// orchestrator and 100 node agents on this machine, Debian's docker-registry, each store's link a network namespace
// shaped by the kernel where the machine allows it (else a token bucket per uplink), every release a process) gives the same outcome on every node, and per-store completion times within 10 %.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
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

// Whether this machine lets fleetsim emulate shape links in network namespaces (root, iproute2's ip): as CI's does.
// iproute2's ip where fleetsim looks for it first (a PATH may not hold /usr/sbin).
std::string ip_tool() {
  for (const char* path : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
    if (::access(path, X_OK) == 0) return path;
  return "ip";
}

bool namespaces_allowed() {
  if (::geteuid() != 0) return false;
  const std::string name = "fleetsim-probe-" + std::to_string(::getpid());
  if (std::system((ip_tool() + " netns add " + name + " 2>/dev/null").c_str()) != 0) return false;
  return std::system((ip_tool() + " netns del " + name).c_str()) == 0;
}

// The namespaces of emulations left on this machine.
std::vector<std::string> emulation_namespaces() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/run/netns", ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("fleetsim-", 0) == 0 && name.rfind("fleetsim-probe-", 0) != 0) out.push_back(name);
  }
  return out;
}

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

// How many nodes run each app@version at the end (report.json's versions.<app>.<version>.nodes_at_end, absent for
// a version no node ran at the end).
std::map<std::string, long> versions_at_end(const std::string& dir) {
  const nlohmann::json report = nlohmann::json::parse(read_file(dir + "/report.json"));
  std::map<std::string, long> out;
  for (const auto& [app, versions] : report.at("versions").items())
    for (const auto& [version, v] : versions.items())
      if (v.value("nodes_at_end", 0L) > 0) out[app + "@" + version] = v.value("nodes_at_end", 0L);  // absent: none
  return out;
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
  // Shaped by the kernel in namespaces where the machine allows it (CI's does), and they are gone after the run.
  const std::string shaping = report["engine"]["shaping"].get<std::string>();
  EXPECT_EQ(shaping.rfind(namespaces_allowed() ? "network namespaces" : "token buckets", 0), 0u) << shaping;
  std::printf("shaping: %s\n", shaping.c_str());
  EXPECT_TRUE(emulation_namespaces().empty()) << emulation_namespaces().front();
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

  EXPECT_EQ(versions_at_end(real_dir), versions_at_end(sim_dir));  // every node on version 1
  EXPECT_EQ(versions_at_end(real_dir), (std::map<std::string, long>{{"pos@1", 100}}));

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
  // The token buckets, asked for: where namespaces are allowed the other tests run on them, so this one keeps the
  // fallback tested.
  const RunOutput r =
      run_raw({"emulate", file, "--scale", "0.5", "--shaping", "tokens", "--out", dir + "/out", "--no-progress", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const nlohmann::json report = nlohmann::json::parse(read_file(dir + "/out/report.json"));
  EXPECT_EQ(report["engine"]["scale"], "0.500000") << report["engine"].dump();
  EXPECT_EQ(report["engine"]["shaping"], "token buckets per site (application level), downlink only");
  EXPECT_NE(read_file(dir + "/out/junit.xml").find("--shaping tokens"), std::string::npos);  // in the replay command
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

// The kernel's shaping, asked for (skipped where the machine does not allow namespaces: not root, no iproute2): a
// store's 2 nodes pull 2 x 4 MiB through their store's namespace, whose downlink the hub's tc tbf holds to 10 Mbps on
// the wire, 1448 B of payload per 1514 B counted: 7.0 s, then start for 2 s. A cut of store-2 takes its link down
// and back without an error. A namespace left by an emulation whose process is gone (a killed run) is removed at the
// next start, and this run leaves none.
TEST(Emulate, InNetworkNamespacesPullsTakeTheirBytesOverTheKernelsShapedRate) {
  if (!namespaces_allowed()) GTEST_SKIP() << "network namespaces are not allowed here (root and iproute2's ip needed)";
  const std::string dir = fresh_dir("emulate-namespaces");
  const std::string stale = "fleetsim-999999999-hub";  // above any pid_max: no such process
  ASSERT_EQ(std::system((ip_tool() + " netns add " + stale).c_str()), 0);
  const std::string file = write_scenario(dir, "kernel.lua", R"lua(
scenario { name = "kernel" }
site { name = "store", count = 2, nodes = 2, uplink = { down = "10Mbps", up = "2Mbps", latency = "5ms" } }
app { name = "pos", versions = { ["1"] = { image = "4MiB", start_time = "2s" } } }
at("0s", deploy { app = "pos", version = "1", name = "install" })
at("12s", fault.partition { sites = { "store-2" }, duration = "3s", name = "late" })
simulation { duration = "17s" }
)lua");
  const RunOutput r = run_raw({"emulate", file, "--shaping", "namespaces", "--out", dir + "/out", "--no-progress", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.err.find("changing a site's link"), std::string::npos) << r.err;
  const nlohmann::json report = nlohmann::json::parse(read_file(dir + "/out/report.json"));
  EXPECT_EQ(report["engine"]["shaping"].get<std::string>().rfind("network namespaces", 0), 0u) << report["engine"].dump();
  const double expected = 2 * 4.0 * 1024 * 1024 / (10e6 / 8 * kUplinkEfficiency) + 2;
  const double measured = report["operations"][0]["time_to_pct_s"]["100"].get<double>();
  std::printf("install: closed form %.2f s, emulated in namespaces %.2f s\n", expected, measured);
  EXPECT_GT(measured, expected * 0.99);
  EXPECT_LT(measured, expected * (kSanitized ? 1.5 : 1.1));
  const Nodes n = nodes_of(dir + "/out");
  for (std::size_t i = 0; i < n.rows.size(); ++i) EXPECT_EQ(n.cell(i, "bytes_pulled"), "4194304");
  ASSERT_EQ(report["faults"].size(), 1u) << report["faults"].dump();
  EXPECT_TRUE(emulation_namespaces().empty()) << emulation_namespaces().front();  // the stale one and its own
}

// fault.orchestrator_restart for real (scenarios/emulate_orchestrator_restart.lua): the orchestrator ends at 2 s (its
// connections close, its timers go) and a new one starts from its journal at 10 s on the same ports. The pulls go on meanwhile: 2 nodes x 4 MiB over 10 Mbps
// (x 1448/1514 of payload) then 1 s to start make every node healthy at 8.0 s, but the orchestrator hears of it only
// once it is back, so the install cannot finish before 10 s; the deploy the timeline asks for at 5 s waits for it
// too. That the install is there at all, finished, proves the new orchestrator replayed the old one's journal.
TEST(Emulate, AnOrchestratorRestartReplaysItsJournalAndTheRolloutGoesOn) {
  const std::string dir = fresh_dir("emulate-restart");
  const std::string file = source_path("scenarios/emulate_orchestrator_restart.lua");
  const RunOutput r = run_raw({"emulate", file, "--out", dir + "/real", "--no-progress", "-q"});
  const nlohmann::json report = nlohmann::json::parse(read_file(dir + "/real/report.json"));
  if (!kSanitized) {
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;  // the file's expectations hold for real too
  } else {  // sanitized agents are slow to start their pulls (see above): only timing expectations may fail there
    ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r.out << r.err;
    for (const auto& e : report["expectations"]) {
      if (e["passed"] != true) {
        const std::string metric = e["metric"];
        EXPECT_TRUE(metric.find(".time_to_") != std::string::npos || metric.find(".duration") != std::string::npos)
            << e.dump();
      }
    }
  }
  EXPECT_TRUE(report["invariant_violations"].empty()) << report["invariant_violations"].dump();
  ASSERT_EQ(report["faults"].size(), 1u) << report["faults"].dump();
  EXPECT_EQ(report["faults"][0]["kind"], "orchestrator_restart");
  EXPECT_NEAR(report["faults"][0]["start_s"].get<double>(), 2.0, 1e-9);
  EXPECT_NEAR(report["faults"][0]["end_s"].get<double>(), 10.0, 1e-9);
  ASSERT_EQ(report["operations"].size(), 2u) << report["operations"].dump();
  const double healthy = 2 * 4.0 * 1024 * 1024 / (10e6 / 8 * kUplinkEfficiency) + 1;
  for (const auto& op : report["operations"]) {
    EXPECT_EQ(op["succeeded"], 4) << op.dump();
    ASSERT_TRUE(op["finished_at_s"].is_number()) << op.dump();
    EXPECT_GE(op["finished_at_s"].get<double>(), 10.0) << op.dump();
  }
  EXPECT_EQ(report["operations"][0]["name"], "install");
  EXPECT_EQ(report["operations"][1]["name"], "camera");
  // Submitted when the orchestrator was back, not at 5 s, and not lost.
  EXPECT_GE(report["operations"][1]["started_at_s"].get<double>(), 10.0);
  EXPECT_LT(report["operations"][1]["started_at_s"].get<double>(), 11.0);
  // The nodes never stopped: each store was healthy on its own clock at the closed form's time, orchestrator or not.
  // (Its last node: over the kernel's links real TCP does not share a store's link evenly, and one node may finish
  // well before the other, as real ones do; the store's bytes still cross at the link's rate.)
  const Nodes n = nodes_of(dir + "/real");
  std::map<std::string, double> store_done;
  for (std::size_t i = 0; i < n.rows.size(); ++i) {
    const double t = std::stod(n.cell(i, "install.healthy_s"));
    store_done[n.cell(i, "site")] = std::max(store_done[n.cell(i, "site")], t);
    EXPECT_LT(t, healthy * (kSanitized ? 1.5 : 1.15)) << n.cell(i, "node");
  }
  ASSERT_EQ(store_done.size(), 2u);
  for (const auto& [store, t] : store_done) EXPECT_GT(t, healthy * 0.99) << store;
  const std::string events = read_file(dir + "/real/events.jsonl");
  for (const std::string type : {"fault.start", "fault.end"})
    EXPECT_NE(events.find("\"type\":\"" + type + "\",\"fault\":\"restart\",\"kind\":\"orchestrator_restart\",\"target\":\"orchestrator\""),
              std::string::npos) << type << " in " << events;

  // The simulator, on the same file, ends the same way.
  const RunOutput simulated = run_fleetsim(file, {}, dir + "/sim");
  ASSERT_EQ(simulated.exit_code, 0) << simulated.out << simulated.err;
  const nlohmann::json sim = nlohmann::json::parse(read_file(dir + "/sim/report.json"));
  EXPECT_EQ(versions_at_end(dir + "/sim"), versions_at_end(dir + "/real"));
  EXPECT_EQ(versions_at_end(dir + "/real"), (std::map<std::string, long>{{"cam@1", 4}, {"pos@1", 4}}));
  for (std::size_t k = 0; k < 2; ++k) {
    EXPECT_EQ(sim["operations"][k]["succeeded"], report["operations"][k]["succeeded"]);
    const double simulated_end = sim["operations"][k]["finished_at_s"].get<double>();
    const double emulated_end = report["operations"][k]["finished_at_s"].get<double>();
    std::printf("%s finished: simulated %.2f s, emulated %.2f s\n", sim["operations"][k]["name"].get<std::string>().c_str(),
                simulated_end, emulated_end);
    // The agents are back within 0.5 s of the restart (their reconnection back-off in emulate) and are told at once.
    EXPECT_NEAR(emulated_end, simulated_end, kSanitized ? 3.0 : 1.0) << k;
  }
}

// The scenario's latency, emulated on loopback: a pull waits its connection's handshakes (connect_rtts = 2 round
// trips) and its request's round trip, a kept-alive connection only the request; control messages their one-way
// path. Over a geostationary link (300 ms each way; RTT = 2 x (5 ms + 300 ms + 0.2 ms) = 0.6104 s), one connection
// per node, 6 MiB at 20 Mbps x 1448/1514 = 2.391 MB/s (2.631 s), the notification 0.3052 s:
//   one layer:                         0.3052 + 3 RTT + 2.631           =  4.77 s
//   6 layers of 1 MiB, kept alive:      0.3052 + (2 + 6) RTT + 2.631     =  7.82 s
//   6 layers, a new connection each:    0.3052 + 6 x 3 RTT + 2.631       = 13.92 s
// Without the emulated latency all three would take about 2.7 s.
TEST(Emulate, TheScenariosLatencyIsPaidAsTheSimulatorChargesIt) {
  const std::string dir = fresh_dir("emulate-latency");
  const std::string file = write_scenario(dir, "geo.lua", R"lua(
scenario { name = "geo" }
cloud { registry = { egress = "1Gbps", latency = "5ms" } }
local function store(name, agent)
  agent.max_concurrent_downloads = 1
  site { name = name, count = 1, nodes = 1, uplink = { down = "20Mbps", up = "2Mbps", latency = "300ms" }, agent = agent }
end
store("flat", {})
store("layered", {})
store("layered_close", { keep_alive = "0s" })
local six = {}
for i = 1, 6 do six[i] = "1MiB" end
app { name = "one", versions = { ["1"] = { image = "6MiB", start_time = "0s" } } }
app { name = "six", versions = { ["1"] = { layers = six, start_time = "0s" } } }
at("0s", deploy { app = "one", version = "1", name = "flat", where = { site_template = "flat" } })
at("0s", deploy { app = "six", version = "1", name = "layered", where = { site_template = "layered" } })
at("0s", deploy { app = "six", version = "1", name = "layered_close", where = { site_template = "layered_close" } })
)lua");
  const RunOutput simulated = run_fleetsim(file, {}, dir + "/sim");
  ASSERT_EQ(simulated.exit_code, 0) << simulated.out << simulated.err;
  const RunOutput real = run_raw({"emulate", file, "--out", dir + "/real", "--no-progress", "-q"});
  ASSERT_EQ(real.exit_code, 0) << real.out << real.err;
  const nlohmann::json sim = nlohmann::json::parse(read_file(dir + "/sim/report.json"));
  const nlohmann::json emu = nlohmann::json::parse(read_file(dir + "/real/report.json"));
  const double rtt = 2 * (0.005 + 0.300 + 0.0002), notify = 0.300 + 0.005 + 0.0002;
  const double transfer = 6.0 * 1024 * 1024 / (20e6 / 8 * kUplinkEfficiency);
  const std::map<std::string, double> closed{{"flat", notify + 3 * rtt + transfer},
                                             {"layered", notify + 8 * rtt + transfer},
                                             {"layered_close", notify + 18 * rtt + transfer}};
  ASSERT_EQ(emu["operations"].size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) {
    const std::string name = emu["operations"][k]["name"];
    const double s = sim["operations"][k]["time_to_pct_s"]["100"].get<double>();
    const double e = emu["operations"][k]["time_to_pct_s"]["100"].get<double>();
    std::printf("%s: closed form %.2f s, simulated %.2f s, emulated %.2f s\n", name.c_str(), closed.at(name), s, e);
    EXPECT_NEAR(s, closed.at(name), 0.01 * closed.at(name)) << name;
    // A process starts, and a pull connects, in a few milliseconds more on a loaded machine.
    EXPECT_GT(e, closed.at(name) * 0.99) << name;
    EXPECT_LT(e, closed.at(name) * 1.04 + (kSanitized ? 1.0 : 0.5)) << name;
  }
  EXPECT_NE(emu["engine"]["latency"].get<std::string>().find("connect_rtts"), std::string::npos) << emu["engine"].dump();
}

// fault.degrade and fault.registry_outage for real. One node behind 10 Mbps (x 1448/1514: 1.1955 MB/s) pulls 8 MiB;
// from 2 s to 6 s its uplink runs at half: 2 s at the full rate, 4 s at half, the rest (3.607 MB) at the full rate
// again: 9.02 s of transfer, plus the notification and 3 round trips of 20.4 ms, 9.08 s. At 11 s a 2 MiB release is
// deployed; the registry is down from 12 s to 15 s: its pull fails after about 0.9 s (keeping what it got), the
// agent's retries (1 s, then 2 s back-off, +-20 %) fail until 15 s, and the resumed pull ends after it. No byte is
// pulled twice.
TEST(Emulate, ADegradedUplinkAndARegistryOutageForReal) {
  const std::string dir = fresh_dir("emulate-degrade");
  const std::string file = write_scenario(dir, "slow.lua", R"lua(
scenario { name = "slow" }
site { name = "store", count = 1, nodes = 1, uplink = { down = "10Mbps", latency = "5ms" },
       agent = { retry_initial = "1s", retry_max = "2s" } }
app { name = "pos", versions = { ["1"] = { image = "8MiB", start_time = "0s" } } }
app { name = "cam", versions = { ["1"] = { image = "2MiB", start_time = "0s" } } }
at("0s", deploy { app = "pos", version = "1", name = "install" })
at("2s", fault.degrade { sites = { "store-1" }, factor = 0.5, duration = "4s", name = "slow" })
at("11s", deploy { app = "cam", version = "1", name = "camera" })
at("12s", fault.registry_outage { duration = "3s", name = "down" })
)lua");
  const RunOutput simulated = run_fleetsim(file, {}, dir + "/sim");
  ASSERT_EQ(simulated.exit_code, 0) << simulated.out << simulated.err;
  const RunOutput real = run_raw({"emulate", file, "--out", dir + "/real", "--no-progress", "-q"});
  ASSERT_EQ(real.exit_code, 0) << real.out << real.err;
  const nlohmann::json sim = nlohmann::json::parse(read_file(dir + "/sim/report.json"));
  const nlohmann::json emu = nlohmann::json::parse(read_file(dir + "/real/report.json"));
  const double rate = 10e6 / 8 * kUplinkEfficiency, bytes = 8.0 * 1024 * 1024;
  const double install = 0.0052 + 3 * 0.0204 + 2 + 4 + (bytes - 2 * rate - 4 * rate / 2) / rate;
  const double s_install = sim["operations"][0]["time_to_pct_s"]["100"].get<double>();
  const double e_install = emu["operations"][0]["time_to_pct_s"]["100"].get<double>();
  const double s_camera = sim["operations"][1]["time_to_pct_s"]["100"].get<double>();
  const double e_camera = emu["operations"][1]["time_to_pct_s"]["100"].get<double>() + 11;
  std::printf("install: closed form %.2f s, simulated %.2f s, emulated %.2f s; camera done at: simulated %.2f s, "
              "emulated %.2f s\n", install, s_install, e_install, s_camera + 11, e_camera);
  EXPECT_NEAR(s_install, install, 0.01 * install);
  EXPECT_GT(e_install, install * 0.99);
  EXPECT_LT(e_install, install * 1.04 + (kSanitized ? 1.0 : 0.5));
  // Not before the registry is back, and within one retry after it: the next retry comes at most retry_max x 1.2
  // (the jitter) after 15 s, then the rest of the layer (about 1 MB of 2 MiB, 0.83 s) and its set-up. Simulated and
  // emulated retries draw their jitter from different streams, so each lands anywhere in that window.
  const double latest = 15 + 2 * 1.2 + (2.0 * 1024 * 1024 - 0.9 * rate) / rate + 4 * 0.0204;
  for (const double done : {s_camera + 11, e_camera}) {
    EXPECT_GE(done, 15.0);
    EXPECT_LE(done, latest + (kSanitized ? 1.0 : 0.3));
  }
  EXPECT_EQ(emu["operations"][1]["succeeded"], 1);
  const Nodes n = nodes_of(dir + "/real");
  EXPECT_EQ(n.cell(0, "bytes_pulled"), std::to_string(10 * 1024 * 1024));  // resumed, never pulled twice
  ASSERT_EQ(emu["faults"].size(), 2u);
  EXPECT_EQ(emu["faults"][1]["kind"], "registry_outage");
}

TEST(Emulate, WhatItCannotRunYetIsRefusedBeforeAnythingStartsNamingWhere) {
  const std::string dir = fresh_dir("emulate-refused");
  const std::string file = write_scenario(dir, "faulty.lua", R"lua(
scenario { name = "faulty" }
site { name = "store", count = 2, nodes = 1, uplink = { down = "10Mbps", latency = "20ms" } }
app { name = "pos", versions = { ["1"] = { image = "1MiB" } } }
at("0s", deploy { app = "pos", version = "1", name = "install" })
at("1s", fault.disk_full { nodes = { "store-1/n1" }, free = "0B", duration = "5s" })
)lua");
  const RunOutput r = run_raw({"emulate", file, "--out", dir + "/out", "--no-progress", "-q"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("faulty.lua:6: fault.disk_full"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not emulated yet"), std::string::npos) << r.err;

  for (const std::string bad : {"0", "1.5", "half", "-1"}) {
    const RunOutput s = run_raw({"emulate", file, "--scale", bad, "--out", dir + "/out"});
    EXPECT_EQ(s.exit_code, 2) << bad;
    EXPECT_NE(s.err.find("--scale must be a number in (0, 1], got '" + bad + "'"), std::string::npos) << s.err;
  }
  const RunOutput shaping = run_raw({"emulate", file, "--shaping", "tc", "--out", dir + "/out"});
  EXPECT_EQ(shaping.exit_code, 2);
  EXPECT_NE(shaping.err.find("--shaping must be auto, namespaces or tokens, got 'tc'"), std::string::npos) << shaping.err;
  const RunOutput both = run_raw({"emulate", file, "--shaping", "namespaces", "--registry", "http://127.0.0.1:5000",
                                  "--out", dir + "/out"});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_NE(both.err.find("--shaping namespaces runs the registry it starts"), std::string::npos) << both.err;
  const RunOutput cfg = run_raw({"emulate", file, "--cfg", "surf/precision:1e-9", "--out", dir + "/out"});
  EXPECT_EQ(cfg.exit_code, 2);
  EXPECT_NE(cfg.err.find("--cfg sets the simulator's engine; emulate has none"), std::string::npos) << cfg.err;
  const RunOutput scale_on_run = run_raw({"run", file, "--scale", "0.5", "--out", dir + "/out"});
  EXPECT_EQ(scale_on_run.exit_code, 2);
  EXPECT_NE(scale_on_run.err.find("unknown option '--scale'"), std::string::npos) << scale_on_run.err;
}

}  // namespace
}  // namespace fleetsim::testing
