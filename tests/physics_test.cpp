// Rollout times against closed forms: bytes over the bottleneck bandwidth, plus the path latencies.
#include <algorithm>
#include <cmath>
#include <map>

#include <gtest/gtest.h>

#include "sim_test_support.hpp"

namespace fleetsim::testing {
namespace {

constexpr double kMiB = 1048576.0;

TEST(Physics, SharedRegistryEgressBottleneckFinishesAtTotalBytesOverBandwidth) {
  // 20 nodes pull a 50 MiB image at once through a 100 Mbps registry egress while every other link is 10x
  // faster: max-min sharing gives each flow B/N of the egress's payload rate B, so the last node finishes at N*S/B
  // plus the path latencies.
  std::string dir = fresh_dir("run");
  std::string lua = R"(
cloud { registry = { egress = "100Mbps", latency = "1ms" }, orchestrator = { bandwidth = "1Gbps", latency = "1ms" } }
site { name = "s", count = 4, nodes = 5, uplink = { down = "1Gbps", latency = "10ms" },
       lan = { bandwidth = "10Gbps", latency = "0.1ms" } }
app { name = "a", versions = { ["1"] = { image = "50MiB", start_time = "0s" } } }
at("0s", deploy { app = "a", version = "1", name = "d" })
)";
  auto run = run_fleetsim(write_scenario(dir, "bottleneck.lua", lua), {"--seed", "1"}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  auto report = read_report(run);
  const double n = 20, size = 50 * kMiB, bandwidth = 100e6 / 8 * kPortEfficiency;
  const double latencies = (0.001 + 0.010 + 0.0001) + first_byte_s(0.001 + 0.010 + 0.0001);  // notify, then pull
  const double expected = n * size / bandwidth + latencies;
  const auto& op = report["operations"][0];
  ASSERT_EQ(op["succeeded"], 20);
  double last = op["time_to_pct_s"]["100"].get<double>();
  EXPECT_NEAR(last, expected, 0.02 * expected);
  // With fair sharing every flow gets the same rate, so the first node also finishes near N*S/B.
  double half = op["time_to_pct_s"]["50"].get<double>();
  EXPECT_NEAR(half, expected, 0.02 * expected);
  // Every byte of every image crossed the egress exactly once.
  EXPECT_EQ(report["network"]["registry_egress_bytes"].get<double>(), n * size);
}

TEST(Physics, PerSiteUplinkBottleneckFinishesAtSiteBytesOverUplink) {
  // With a fast registry, each site's uplink is its own bottleneck: the site's last node finishes at
  // (nodes in site) * S / uplink, whatever the other sites do. Two templates with different shapes check it.
  std::string dir = fresh_dir("run");
  std::string lua = R"(
cloud { registry = { egress = "10Gbps", latency = "1ms" } }
site { name = "a", count = 3, nodes = 2, uplink = { down = "10Mbps", up = "1Mbps", latency = "20ms" } }
site { name = "b", count = 2, nodes = 5, uplink = { down = "40Mbps", up = "5Mbps", latency = "40ms" } }
app { name = "x", versions = { ["1"] = { image = "20MiB", start_time = "0s" } } }
at("1m", deploy { app = "x", version = "1", name = "d" })
)";
  auto run = run_fleetsim(write_scenario(dir, "uplinks.lua", lua), {"--seed", "1"}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  std::vector<std::string> header;
  auto rows = read_csv(dir + "/nodes.csv", &header);
  ASSERT_EQ(rows.size(), 16u);
  std::size_t site_col = column(header, "site"), healthy_col = column(header, "d.healthy_s");
  std::map<std::string, double> last_healthy;
  for (const auto& row : rows)
    last_healthy[row[site_col]] = std::max(last_healthy[row[site_col]], std::stod(row[healthy_col]) - 60.0);
  ASSERT_EQ(last_healthy.size(), 5u);
  const double size = 20 * kMiB;
  for (const auto& [site, t] : last_healthy) {
    bool is_a = site.rfind("a-", 0) == 0;
    double nodes = is_a ? 2 : 5, uplink = (is_a ? 10e6 : 40e6) / 8 * kUplinkEfficiency, lat = is_a ? 0.020 : 0.040;
    double expected = nodes * size / uplink + 2 * (0.005 + lat + 0.0002 + 0.001);
    EXPECT_NEAR(t, expected, 0.02 * expected) << site;
  }
}

TEST(Physics, AsymmetricUplinkUsesTheDownDirectionForPulls) {
  // A site with 50 Mbps down and 1 Mbps up pulls at the down rate: the pull must take S/down, not S/up.
  std::string dir = fresh_dir("run");
  std::string lua = R"(
site { name = "s", count = 1, nodes = 1, uplink = { down = "50Mbps", up = "1Mbps", latency = "5ms" } }
app { name = "x", versions = { ["1"] = { image = "10MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
)";
  auto run = run_fleetsim(write_scenario(dir, "asym.lua", lua), {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  double t = read_report(run)["operations"][0]["time_to_pct_s"]["100"].get<double>();
  const double one_way = 0.005 + 0.005 + 0.0002;  // cloud link, uplink, LAN port
  const double latencies = one_way + first_byte_s(one_way);  // the notification, then the pull
  double expected = 10 * kMiB / (50e6 / 8 * kUplinkEfficiency) + latencies;
  EXPECT_NEAR(t, expected, 0.005 * expected);
}

TEST(Physics, ALinksRateIsALineRateOfWhichPayloadGetsMssOverMssPlusOverhead) {
  // Three sites with the same 20 Mbps uplink, each framed differently: the default (TCP/IPv4 with timestamps over
  // a shaped Ethernet line, 1448 of 1514 bytes), IPv6 over PPPoE (MTU 1492: 1492 - 40 - 20 - 12 = 1420 bytes of
  // payload, 72 B of IPv6/TCP headers + 8 B PPPoE + 14 B Ethernet), and overhead 0 (the rate is the goodput). One
  // node each pulls 30 MiB from a fast registry: it takes S / (rate * mss / (mss + overhead)) plus latencies.
  std::string dir = fresh_dir("run");
  std::string lua = R"(
cloud { registry = { egress = "10Gbps", latency = "1ms" } }
site { name = "v4", nodes = 1, uplink = { down = "20Mbps", latency = "10ms" } }
site { name = "v6pppoe", nodes = 1, uplink = { down = "20Mbps", latency = "10ms", mss = "1420B", overhead = "94B" } }
site { name = "goodput", nodes = 1, uplink = { down = "20Mbps", latency = "10ms", overhead = "0B" } }
app { name = "x", versions = { ["1"] = { image = "30MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
)";
  auto run = run_fleetsim(write_scenario(dir, "wire.lua", lua), {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  std::vector<std::string> header;
  auto rows = read_csv(dir + "/nodes.csv", &header);
  ASSERT_EQ(rows.size(), 3u);
  const std::map<std::string, double> efficiency{
      {"v4-1", 1448.0 / 1514.0}, {"v6pppoe-1", 1420.0 / 1514.0}, {"goodput-1", 1.0}};
  const double latencies = (0.005 + 0.010 + 0.0002) + first_byte_s(0.001 + 0.010 + 0.0002);  // notify, then pull
  for (const auto& row : rows) {
    const std::string site = row[column(header, "site")];
    const double expected = 30 * kMiB / (20e6 / 8 * efficiency.at(site)) + latencies;
    EXPECT_NEAR(std::stod(row[column(header, "d.healthy_s")]), expected, 0.001 * expected) << site;
  }
}

TEST(Physics, ALanPortSlowerThanOneDirectionOfTheUplinkBindsAtItsPayloadRate) {
  // 100 Mbps down, 5 Mbps up, and a 10 Mbps LAN port: a pull crosses the port, which is the narrowest link on its
  // way, so it takes S / (10 Mbps x 1448/1538), the port counting Ethernet's whole frame, preamble and gap.
  std::string dir = fresh_dir("run");
  std::string lua = R"(
cloud { registry = { egress = "10Gbps", latency = "1ms" } }
site { name = "s", nodes = 1, uplink = { down = "100Mbps", up = "5Mbps", latency = "10ms" },
       lan = { bandwidth = "10Mbps", latency = "0.5ms" } }
app { name = "x", versions = { ["1"] = { image = "20MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
)";
  auto run = run_fleetsim(write_scenario(dir, "lan.lua", lua), {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  double t = read_report(run)["operations"][0]["time_to_pct_s"]["100"].get<double>();
  const double latencies = (0.005 + 0.010 + 0.0005) + first_byte_s(0.001 + 0.010 + 0.0005);  // notify, then pull
  const double expected = 20 * kMiB / (10e6 / 8 * kPortEfficiency) + latencies;
  EXPECT_NEAR(t, expected, 0.002 * expected);
}

TEST(Physics, UnderLv08TheModelsOwnBandwidthFactorStandsForTheHeaders) {
  // SimGrid's LV08 multiplies every bandwidth by 0.97 for the same headers: fleetsim does not add its own on top.
  // A 200 MiB pull over 50 Mbps takes S / (0.97 * rate), plus LV08's 13.01 x the route latencies (under 1 %).
  std::string dir = fresh_dir("run");
  std::string lua = R"(
simulation { network_model = "LV08" }
site { name = "s", nodes = 1, uplink = { down = "50Mbps", latency = "5ms" } }
app { name = "x", versions = { ["1"] = { image = "200MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
)";
  auto run = run_fleetsim(write_scenario(dir, "lv08.lua", lua), {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  double t = read_report(run)["operations"][0]["time_to_pct_s"]["100"].get<double>();
  const double transfer = 200 * kMiB / (0.97 * 50e6 / 8);
  EXPECT_GT(t, transfer);
  EXPECT_LT(t, transfer * 1.01);
  EXPECT_LT(t, 200 * kMiB / (kUplinkEfficiency * 50e6 / 8));  // what both factors together would take
}

TEST(Physics, ConcurrentLayersOfOneNodeShareItsUplink) {
  // One node pulling three layers (3 concurrent downloads) over a 16 Mbps uplink finishes when all
  // 3 x 8 MiB have crossed it: the layers share the link, they do not each get the full rate.
  std::string dir = fresh_dir("run");
  std::string lua = R"(
site { name = "s", count = 1, nodes = 1, uplink = { down = "16Mbps", latency = "5ms" } }
app { name = "x", versions = { ["1"] = { layers = { "8MiB", "8MiB", "8MiB" }, start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
)";
  auto run = run_fleetsim(write_scenario(dir, "layers.lua", lua), {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  double t = read_report(run)["operations"][0]["time_to_pct_s"]["100"].get<double>();
  double expected = 24 * kMiB / (16e6 / 8 * kUplinkEfficiency);
  EXPECT_NEAR(t, expected, 0.01 * expected);
}

// One-way latency of a pull over an uplink of one-way latency `uplink_s` with loss p, registry latency 5 ms, LAN
// latency 0.2 ms: the loss adds p round trips of the uplink on average.
double lossy_one_way(double uplink_s, double p) { return 0.005 + uplink_s * (1 + 2 * p) + 0.0002; }

// PFTK's throughput (Padhye et al. 1998, eq. 33) for that pull: MSS / (RTT sqrt(2bp/3) + T0 min(1, 3 sqrt(3bp/8)) p
// (1 + 32 p^2)) with b = 2 segments per ACK and T0 = RTT + 200 ms.
double pftk_cap(double uplink_s, double p, double mss = 1448) {
  const double rtt = 2 * lossy_one_way(uplink_s, p), b = 2, t0 = rtt + 0.2;
  return mss / (rtt * std::sqrt(2 * b * p / 3) + t0 * std::min(1.0, 3 * std::sqrt(3 * b * p / 8)) * p * (1 + 32 * p * p));
}

TEST(Physics, PftkClosedFormGivesTheHandComputedRates) {
  // The formula as the tests state it, against hand-computed values: 1 % loss and a 71 ms RTT give 162.5 kB/s (the
  // Mathis bound would give 249 kB/s); 0.1 %, 554 kB/s. (uplink_s is chosen so that RTT = 0.071 s without loss.)
  const double uplink_s = 0.071 / 2 - 0.0052;
  EXPECT_NEAR(pftk_cap(uplink_s / (1 + 2 * 0.01), 0.01), 162.5e3, 0.5e3);
  EXPECT_NEAR(pftk_cap(uplink_s / (1 + 2 * 0.001), 0.001), 554e3, 1e3);
}

TEST(Physics, PacketLossCapsASingleTransferAtThePftkRate) {
  // 1 % loss on a 100 Mbps, 50 ms uplink: a single 20 MiB pull runs at PFTK's rate (about 0.84 Mbps: fast
  // retransmits and timeouts), far below the line rate, so it takes S / cap after the notification and set-up.
  std::string dir = fresh_dir("run");
  std::string lua = R"(
cloud { registry = { egress = "10Gbps", latency = "5ms" } }
site { name = "s", count = 1, nodes = 1, uplink = { down = "100Mbps", latency = "50ms", loss = 0.01 } }
app { name = "x", versions = { ["1"] = { image = "20MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
)";
  auto run = run_fleetsim(write_scenario(dir, "loss.lua", lua), {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  double t = read_report(run)["operations"][0]["time_to_pct_s"]["100"].get<double>();
  const double one_way = lossy_one_way(0.050, 0.01);
  double expected = 20 * kMiB / pftk_cap(0.050, 0.01) + one_way + first_byte_s(one_way);
  EXPECT_NEAR(t, expected, 0.002 * expected);
}

TEST(Physics, PacketLossCapsEachTransferOnItsOwn) {
  // Three 8 MiB layers pulled at once over the same lossy uplink each get the per-connection cap (the line is
  // not the bottleneck): together they take as long as one layer alone, 8 MiB / cap, not three times that.
  std::string dir = fresh_dir("run");
  std::string lua = R"(
cloud { registry = { egress = "10Gbps", latency = "5ms" } }
site { name = "s", count = 1, nodes = 1, uplink = { down = "100Mbps", latency = "50ms", loss = 0.02 } }
app { name = "x", versions = { ["1"] = { layers = { "8MiB", "8MiB", "8MiB" }, start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
)";
  auto run = run_fleetsim(write_scenario(dir, "loss3.lua", lua), {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  double t = read_report(run)["operations"][0]["time_to_pct_s"]["100"].get<double>();
  const double one_way = lossy_one_way(0.050, 0.02);
  double expected = 8 * kMiB / pftk_cap(0.050, 0.02) + one_way + first_byte_s(one_way);
  EXPECT_NEAR(t, expected, 0.002 * expected);
}

TEST(Physics, PacketLossCapDoesNotBindBelowTheLineRate) {
  // On a 2 Mbps line with 0.01 % loss the cap (tens of Mbps) is above the line: the pull takes S / line rate.
  std::string dir = fresh_dir("run");
  std::string lua = R"(
cloud { registry = { egress = "10Gbps", latency = "5ms" } }
site { name = "s", count = 1, nodes = 1, uplink = { down = "2Mbps", latency = "50ms", loss = 0.0001 } }
app { name = "x", versions = { ["1"] = { image = "2MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
)";
  auto run = run_fleetsim(write_scenario(dir, "lossline.lua", lua), {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  double t = read_report(run)["operations"][0]["time_to_pct_s"]["100"].get<double>();
  const double one_way = 0.005 + 0.050 * (1 + 2 * 0.0001) + 0.0002;
  const double latencies = one_way + first_byte_s(one_way);  // the notification, then the pull
  double expected = 2 * kMiB / (2e6 / 8 * kUplinkEfficiency) + latencies;
  EXPECT_NEAR(t, expected, 0.005 * expected);
}

TEST(Strategies, BatchesWithHealthyTimeTakeAtLeastCeilNOverKTimesT) {
  // Batches of k = 3 with healthy time T = 60 s over N = 10 nodes: ceil(10/3) = 4 batches, each notified only
  // after the previous one held T, and the operation done once the last one held T: at least 4 T. Each batch
  // also pulls 1 MiB over its own 80 Mbps uplink and starts in 1 s, so it is 4 (T + pull + start) at most-ish.
  std::string dir = fresh_dir("run");
  std::string lua = R"(
site { name = "s", count = 10, nodes = 1, uplink = { down = "80Mbps", latency = "20ms" } }
app { name = "x", versions = { ["1"] = { image = "1MiB", start_time = "0s" }, ["2"] = { image = "1MiB", start_time = "1s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
at("1m", rollout { app = "x", version = "2", name = "r", strategy = { kind = "batches", size = 3, healthy_time = "60s" } })
expect "r.succeeded == 10"
)";
  auto run = run_fleetsim(write_scenario(dir, "batches.lua", lua), {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  auto op = read_report(run)["operations"][1];
  double duration = op["finished_at_s"].get<double>() - op["started_at_s"].get<double>();
  EXPECT_GE(duration, 4 * 60.0);
  const double one_way = 0.005 + 0.020 + 0.0002;  // notification, then the pull's set-up, then the status report
  const double per_batch = 60.0 + 1 * kMiB / (80e6 / 8 * kUplinkEfficiency) + 1.0 + 2 * one_way + first_byte_s(one_way);
  EXPECT_LE(duration, 4 * per_batch);
  ASSERT_EQ(op["batches"].size(), 4u);
  EXPECT_EQ(op["batches"][0]["nodes"], 3);
  EXPECT_EQ(op["batches"][3]["nodes"], 1);
  for (std::size_t b = 1; b < 4; ++b)
    EXPECT_GE(op["batches"][b]["started_s"].get<double>(), op["batches"][b - 1]["completed_s"].get<double>() + 60.0);
}

TEST(Strategies, ExponentialRolloutNotifiesAtTheDocumentedRates) {
  // AWS IoT Jobs exponentialRate: base 10/min, x2 each time 20 more nodes were notified, at most 40/min. Node k
  // (in placement order) is notified at 6 s intervals for k < 20, 3 s for k < 40, then 1.5 s (the maximum):
  // t_k = 6k, 114 + 3(k - 19), 174 + 1.5(k - 39). Each node sees it one notification latency later.
  std::string dir = fresh_dir("run");
  std::string lua = R"(
site { name = "s", count = 100, nodes = 1, uplink = { down = "80Mbps", latency = "20ms" } }
app { name = "x", versions = { ["1"] = { image = "1MiB", start_time = "0s" }, ["2"] = { image = "1MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
at("1m", rollout { app = "x", version = "2", name = "r",
                   strategy = { kind = "exponential", base_per_minute = 10, increment_factor = 2, increase_after = 20,
                                maximum_per_minute = 40 } })
expect "r.succeeded == 100"
)";
  auto run = run_fleetsim(write_scenario(dir, "exp.lua", lua), {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  std::vector<std::string> header;
  auto rows = read_csv(dir + "/nodes.csv", &header);
  ASSERT_EQ(rows.size(), 100u);
  const std::size_t col = column(header, "r.notified_s");
  const double latency = 0.005 + 0.020 + 0.0002;  // orchestrator link, uplink, LAN port (plus ~1 KB of bytes)
  for (std::size_t k = 0; k < 100; ++k) {
    double expected = k < 20 ? 6.0 * k : k < 40 ? 114 + 3.0 * (k - 19) : 174 + 1.5 * (k - 39);
    EXPECT_NEAR(std::stod(rows[k][col]) - 60.0, expected + latency, 0.005) << "node " << k;
  }
}

class ControlMessages : public ::testing::TestWithParam<std::string> {};

TEST_P(ControlMessages, AndSmallPullsTakeTheRouteLatency) {
  // With a 1 KiB image, a node becomes healthy one notification and one pull after the deploy: the notification
  // costs the one-way route latency (cloud link + 200 ms uplink + LAN port), the pull a new connection's two
  // handshakes and its request's round trip (3 RTT), each plus its bytes over the narrowest link, whether
  // control messages are SimGrid communications ("network") or timed deliveries ("timed").
  std::string dir = fresh_dir("run");
  std::string lua = R"(
cloud { registry = { egress = "1Gbps", latency = "3ms" }, orchestrator = { bandwidth = "1Gbps", latency = "7ms" } }
site { name = "s", count = 1, nodes = 1, uplink = { down = "8Mbps", latency = "200ms" },
       lan = { bandwidth = "1Mbps", latency = "1ms" } }
app { name = "x", versions = { ["1"] = { image = "1KiB", start_time = "0s" } } }
at("10s", deploy { app = "x", version = "1", name = "d" })
)";
  auto run = run_fleetsim(write_scenario(dir, "latency.lua", lua),
                          {"--set", "simulation.control_messages=" + GetParam()}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  std::vector<std::string> header;
  auto rows = read_csv(dir + "/nodes.csv", &header);
  ASSERT_EQ(rows.size(), 1u);
  // The 1 Mbps LAN port is the narrowest link of both paths (0.94 Mbps of payload). The notification is a
  // DesiredState of one layer: its wire size is bounded by 1 KiB, which bounds its transfer time by 8.7 ms.
  double notified = std::stod(rows[0][column(header, "d.notified_s")]) - 10.0;
  double healthy = std::stod(rows[0][column(header, "d.healthy_s")]) - 10.0;
  const double notify_latency = 0.007 + 0.200 + 0.001, pull_latency = 0.003 + 0.200 + 0.001;
  EXPECT_GE(notified, notify_latency);
  const double kib_over_lan = 1024 * 8 / (1e6 * kPortEfficiency);
  EXPECT_LE(notified, notify_latency + kib_over_lan);
  EXPECT_NEAR(healthy - notified, first_byte_s(pull_latency) + kib_over_lan, 0.0002);
}

INSTANTIATE_TEST_SUITE_P(Modes, ControlMessages, ::testing::Values("network", "timed"));

// Connection set-up (docs/ENGINE.md): three 1 KiB layers pulled one at a time over a 408 ms RTT. The first opens a
// connection (connect_rtts round trips) and each layer's request costs one more; with keep-alive the next layers
// reuse it, without they each open their own. Bytes: 1 KiB over 8 Mbps of line each.
struct Setup {
  const char* name;
  const char* agent;  // agent settings besides max_concurrent_downloads = 1
  double rtts;        // round trips from the notification to the last byte, bytes aside
};
class ConnectionSetUp : public ::testing::TestWithParam<Setup> {};
TEST_P(ConnectionSetUp, CostsItsRoundTripsBeforeEachLayersFirstByte) {
  std::string dir = fresh_dir("run");
  std::string lua = std::string(R"(
cloud { registry = { egress = "1Gbps", latency = "3ms" } }
site { name = "s", nodes = 1, uplink = { down = "8Mbps", latency = "200ms" },
       lan = { latency = "1ms" }, agent = { max_concurrent_downloads = 1, )") +
                    GetParam().agent + R"( } }
app { name = "x", versions = { ["1"] = { layers = { "1KiB", "1KiB", "1KiB" }, start_time = "0s" } } }
at("10s", deploy { app = "x", version = "1", name = "d" })
)";
  auto run = run_fleetsim(write_scenario(dir, "setup.lua", lua), {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  std::vector<std::string> header;
  auto rows = read_csv(dir + "/nodes.csv", &header);
  ASSERT_EQ(rows.size(), 1u);
  const double pulled = std::stod(rows[0][column(header, "d.healthy_s")]) -
                        std::stod(rows[0][column(header, "d.notified_s")]);
  const double rtt = 2 * (0.003 + 0.200 + 0.001), bytes = 3 * 1024 / (8e6 / 8 * kUplinkEfficiency);
  EXPECT_NEAR(pulled, GetParam().rtts * rtt + bytes, 0.001) << GetParam().name;
}
INSTANTIATE_TEST_SUITE_P(
    Agents, ConnectionSetUp,
    ::testing::Values(Setup{"TlsKeptAlive", "", 3 + 1 + 1},               // TCP + TLS 1.3 + request, then requests
                      Setup{"TlsNoKeepAlive", "keep_alive = \"0s\"", 3 * 3},  // every layer opens a connection
                      Setup{"Tls12KeptAlive", "connect_rtts = 3", 4 + 1 + 1},
                      Setup{"PlainKeptAlive", "connect_rtts = 0", 1 + 1 + 1}),  // requests only
    [](const ::testing::TestParamInfo<Setup>& p) { return std::string(p.param.name); });

// A connection kept alive serves the next release's pull within the keep-alive, not after it, and not after an
// outage of the uplink (which closes it): version 2's 1 KiB layer is pulled on a reused connection (1 RTT) or a new
// one (3 RTT). Outage from 20 s to 30 s, version 1 pulled at 0 s.
struct Reuse {
  const char* name;
  const char* rollout_at;
  bool outage;
  double rtts;
};
class ConnectionReuse : public ::testing::TestWithParam<Reuse> {};
TEST_P(ConnectionReuse, WithinTheKeepAliveAndUntilAnOutage) {
  std::string dir = fresh_dir("run");
  std::string lua = std::string(R"(
cloud { registry = { egress = "1Gbps", latency = "3ms" } }
site { name = "s", nodes = 1, uplink = { down = "8Mbps", latency = "200ms" }, lan = { latency = "1ms" } }
app { name = "x", versions = { ["1"] = { image = "1KiB", start_time = "0s" }, ["2"] = { image = "1KiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
at(")") + GetParam().rollout_at + R"(", rollout { app = "x", version = "2", name = "r" })
)" + (GetParam().outage ? R"(at("20s", fault.partition { sites = { "s-1" }, duration = "10s" }))" : "") + "\n";
  auto run = run_fleetsim(write_scenario(dir, "reuse.lua", lua), {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  std::vector<std::string> header;
  auto rows = read_csv(dir + "/nodes.csv", &header);
  ASSERT_EQ(rows.size(), 1u);
  const double pulled = std::stod(rows[0][column(header, "r.healthy_s")]) -
                        std::stod(rows[0][column(header, "r.notified_s")]);
  const double rtt = 2 * (0.003 + 0.200 + 0.001), bytes = 1024 / (8e6 / 8 * kUplinkEfficiency);
  EXPECT_NEAR(pulled, GetParam().rtts * rtt + bytes, 0.001) << GetParam().name;
}
INSTANTIATE_TEST_SUITE_P(
    Agents, ConnectionReuse,
    ::testing::Values(Reuse{"WithinKeepAlive", "60s", false, 1}, Reuse{"PastKeepAlive", "120s", false, 3},
                      Reuse{"AfterAnOutage", "60s", true, 3}),
    [](const ::testing::TestParamInfo<Reuse>& p) { return std::string(p.param.name); });

TEST(Physics, TimedControlMessagesStayWithinHalfAPercentOfNetworkOnes) {
  // docs/ENGINE.md promises that delivering control messages outside bandwidth sharing moves rollout times by
  // well under 1 %: 12 sites x 8 nodes with jitter behind a shared 200 Mbps egress, run in both modes.
  std::string dir = fresh_dir("run");
  std::string lua = R"(
cloud { registry = { egress = "200Mbps" } }
site { name = "s", count = 12, nodes = 8, uplink = { down = "30Mbps", up = "5Mbps", latency = "50ms" },
       agent = { notify_jitter = "20s" } }
app { name = "x", versions = { ["1"] = { image = "20MiB" }, ["2"] = { image = "40MiB" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
at("1h", rollout { app = "x", version = "2", name = "r" })
)";
  std::string path = write_scenario(dir, "modes.lua", lua);
  auto network = run_fleetsim(path, {"--set", "simulation.control_messages=network"}, fresh_dir("network"));
  auto timed = run_fleetsim(path, {"--set", "simulation.control_messages=timed"}, fresh_dir("timed"));
  ASSERT_EQ(network.exit_code, 0) << network.out << network.err;
  ASSERT_EQ(timed.exit_code, 0) << timed.out << timed.err;
  auto a = read_report(network), b = read_report(timed);
  for (int op = 0; op < 2; ++op)
    for (const char* pct : {"50", "90", "100"}) {
      double x = a["operations"][op]["time_to_pct_s"][pct].get<double>();
      double y = b["operations"][op]["time_to_pct_s"][pct].get<double>();
      EXPECT_NEAR(y, x, 0.005 * x) << "operation " << op << " p" << pct;
    }
}

// Bytes over time (network.csv): four nodes of one site pull 40 MiB each through an 8 Mbps uplink (1 MB/s of line,
// 0.956 MB/s of payload, which is what network.csv counts), halved
// from 60 s to 120 s. No pull ends before ~2 min, so the rate between samples is the uplink's capacity only if pulls in
// flight count what has arrived: 1 MB/s, then 0.5 MB/s with the capacity column halved, then 1 MB/s again; the
// bytes end at 4 x 40 MiB (plus the few control messages on the down direction), the egress at exactly that. On
// both solvers (SimGrid's comms and fleetsim's flows are read differently).
class BytesOverTime : public ::testing::TestWithParam<const char*> {};
TEST_P(BytesOverTime, FollowTheBottleneckCapacityAndAddUpToTheBytesPulled) {
  std::string dir = fresh_dir(std::string("bytes_") + GetParam());
  std::string lua = R"(
cloud { registry = { egress = "1Gbps", latency = "1ms" } }
site { name = "s", count = 1, nodes = 4, uplink = { down = "8Mbps", up = "2Mbps", latency = "10ms" } }
app { name = "x", versions = { ["1"] = { image = "40MiB", start_time = "0s" } } }
simulation { duration = "5m", states_sample = "5s" }
at("0s", deploy { app = "x", version = "1", name = "d" })
at("60s", fault.degrade { sites = { "s-1" }, factor = 0.5, duration = "60s", name = "slow" })
)";
  auto run = run_fleetsim(write_scenario(dir, "bytes.lua", lua),
                          {"--set", std::string("simulation.solver=") + GetParam()}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  std::vector<std::string> header;
  auto rows = read_csv(dir + "/network.csv", &header);
  const std::size_t t_col = column(header, "time_s"), link_col = column(header, "link"),
                    dir_col = column(header, "direction"), bytes_col = column(header, "bytes"),
                    cap_col = column(header, "capacity_bytes_per_s");
  std::vector<double> t, down, cap, egress;
  for (const auto& row : rows) {
    if (row[link_col] == "registry egress") egress.push_back(std::stod(row[bytes_col]));
    if (row[link_col] != "s-1" || row[dir_col] != "down") continue;
    t.push_back(std::stod(row[t_col]));
    down.push_back(std::stod(row[bytes_col]));
    cap.push_back(std::stod(row[cap_col]));
  }
  ASSERT_EQ(t.size(), 61u);  // 0, 5, ..., 300 s
  ASSERT_EQ(egress.size(), t.size());
  const double uplink = 1e6 * kUplinkEfficiency, total = 4 * 40 * kMiB;
  std::size_t checked = 0;
  for (std::size_t k = 1; k < t.size(); ++k) {
    const double rate = (down[k] - down[k - 1]) / (t[k] - t[k - 1]);
    EXPECT_GE(rate, 0) << t[k];
    // (bytes in flight are whole bytes: a few bytes of rounding per interval)
    EXPECT_LE(rate, std::max(cap[k - 1], cap[k]) + 16 / (t[k] - t[k - 1])) << t[k];
    const double expected = t[k] > 10 && t[k] <= 55 ? uplink : t[k] > 65 && t[k] <= 120 ? uplink / 2
                            : t[k] > 125 && t[k] <= 190                                ? uplink
                                                                                       : -1;
    if (expected < 0) continue;
    EXPECT_NEAR(rate, expected, 0.01 * expected) << "at " << t[k];
    EXPECT_EQ(cap[k], std::round(expected)) << "at " << t[k];  // network.csv writes whole bytes/s
    ++checked;
  }
  EXPECT_EQ(checked, 9u + 11u + 13u);
  EXPECT_GE(down.back(), total);
  EXPECT_LE(down.back(), total + 64 * 1024);  // the desired-state messages
  EXPECT_EQ(egress.back(), total);
  EXPECT_EQ(read_report(run)["network"]["registry_egress_bytes"].get<double>(), egress.back());
}
INSTANTIATE_TEST_SUITE_P(Solvers, BytesOverTime, ::testing::Values("sharing", "simgrid"));

}  // namespace
}  // namespace fleetsim::testing
