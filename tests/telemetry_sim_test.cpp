// The telemetry bus on the SimGrid platform, against closed forms: a backlog B on an uplink of capacity c with live
// rate r drains in B / (c - r); an upload cap replaces c; drop-oldest loses r*T - C of an outage of T with a cache
// of C; a GPU of throughput mu fed at lambda > mu processes mu*T and drops (lambda - mu)*T; a GPU that fails drops
// what arrives while it is down beyond its queue. All within one batch interval of data.
#include <cmath>

#include <gtest/gtest.h>

#include "sim_test_support.hpp"

namespace fleetsim::testing {
namespace {

// One site, one node: 100 readings/s of 200 B (20 kB/s) over a 1 Mbps (125 kB/s) uplink, cut for an hour at 10 min.
std::string bus_scenario(const std::string& bus, const std::string& extra = "") {
  return R"(
site { name = "s", count = 1, nodes = 1, uplink = { down = "10Mbps", up = "1Mbps", latency = "10ms" },
       sensors = { { name = "meter", rate = "100/s", size = "200B" } },
       bus = { )" +
         bus + R"( } }
at("10m", fault.partition { sites = { "s-1" }, duration = "1h", name = "cut" })
simulation { duration = "3h" }
)" + extra;
}

const nlohmann::json& group(const nlohmann::json& report, const std::string& scope) {
  for (const auto& g : report["telemetry"]["groups"])
    if (g["scope"] == scope) return g;
  static const nlohmann::json none;
  ADD_FAILURE() << "no telemetry group " << scope;
  return none;
}

double site_drain(const RunOutput& run) {
  std::vector<std::string> header;
  auto rows = read_csv(run.dir + "/telemetry_sites.csv", &header);
  EXPECT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][column(header, "drains")], "1");
  return std::stod(rows[0][column(header, "drain_max_s")]);
}

constexpr double r = 100 * 200.0;  // live bytes/s
constexpr double c = 1e6 / 8 * kUplinkEfficiency;  // the 1 Mbps uplink's payload rate, bytes/s
constexpr double T = 3600;
constexpr double interval = 10;

TEST(TelemetryOnSimGrid, BacklogDrainsInBacklogOverSpareCapacity) {
  std::string dir = fresh_dir("run");
  auto run = run_fleetsim(
      write_scenario(dir, "drain.lua", bus_scenario(R"(max_bytes = "1GiB", batch_interval = "10s", max_batch = "4MiB",
                                                         retry_initial = "1s", retry_max = "1s")")),
      {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  // The backlog is the outage's data plus at most one interval that was waiting when the link went down.
  const double lo = r * T / (c - r), hi = r * (T + interval) / (c - r);
  const double drain = site_drain(run);
  EXPECT_GE(drain, lo - interval);
  EXPECT_LE(drain, hi + interval);
  auto report = read_report(run);
  const auto& fleet = group(report, "fleet");
  EXPECT_EQ(fleet["dropped"], 0);
  EXPECT_EQ(fleet["duplicates"], 0);
  EXPECT_EQ(report["invariant_violations"].size(), 0u);
  // Everything produced more than a batch interval before the end reached the cloud.
  EXPECT_GE(fleet["delivered"].get<double>(), fleet["produced"].get<double>() - 2 * interval * 100);
  // The oldest message waited the outage, the wait for its batch and its share of the drain.
  EXPECT_GE(fleet["max_backlog_age_s"].get<double>(), T);

  // telemetry_drains.csv: the one drain, from the uplink's return at 10 min + 1 h, of the outage's data.
  std::vector<std::string> header;
  auto rows = read_csv(run.dir + "/telemetry_drains.csv", &header);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][column(header, "site")], "s-1");
  EXPECT_NEAR(std::stod(rows[0][column(header, "uplink_up_at_s")]), 600 + T, 1e-3);
  const double backlog = std::stod(rows[0][column(header, "backlog_bytes")]);
  EXPECT_GE(backlog, r * T);
  EXPECT_LE(backlog, r * (T + 2 * interval));
  EXPECT_NEAR(std::stod(rows[0][column(header, "drained_after_s")]), drain, 1e-3);

  // The delay distribution: every delivered message in a bin of 20 per decade; those produced during the outage or
  // the drain (live data waits behind the backlog) waited more than 10^1.5 s, the others a batch interval or less.
  const auto& bins = fleet["delay_histogram"];
  ASSERT_FALSE(bins.empty());
  double messages = 0, late = 0, previous_upper = 0;
  for (const auto& bin : bins) {
    const double lower = bin[0], upper = bin[1], n = bin[2];
    EXPECT_NEAR(upper / lower, std::pow(10.0, 1 / 20.0), 1e-9);
    EXPECT_GE(lower, previous_upper - 1e-12);
    previous_upper = upper;
    messages += n;
    if (lower >= std::pow(10.0, 1.5) - 1e-9) late += n;
  }
  EXPECT_EQ(messages, fleet["delivered"].get<double>());
  EXPECT_NEAR(late, 100 * (T + drain), 0.01 * messages);
  EXPECT_GE(previous_upper, T);
}

// A live rate above the uplink's payload rate but below its line rate can never be carried: 610 readings/s of 200 B
// (122 kB/s) on 1 Mbps up (125 kB/s of line, 119.6 kB/s of TCP payload, docs/ENGINE.md "Wire efficiency").
TEST(TelemetryOnSimGrid, ALiveRateAboveThePayloadRateOfTheUplinkNeverDrains) {
  std::string dir = fresh_dir("run");
  auto run = run_fleetsim(write_scenario(dir, "never.lua", R"(
site { name = "s", count = 1, nodes = 1, uplink = { down = "10Mbps", up = "1Mbps", latency = "10ms" },
       sensors = { { name = "meter", rate = "610/s", size = "200B" } } }
simulation { duration = "2m" }
)"),
                          {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const auto never = read_report(run)["telemetry"]["never_drains"];
  ASSERT_EQ(never.size(), 1u) << never.dump();
  EXPECT_EQ(never[0]["site"], "s-1");
  EXPECT_DOUBLE_EQ(never[0]["live_bytes_per_s"].get<double>(), 610 * 200.0);
  EXPECT_DOUBLE_EQ(never[0]["capacity_bytes_per_s"].get<double>(), c);
}

// The cap paces batches (256 KiB: 5 s each at the cap, below one batch interval).
TEST(TelemetryOnSimGrid, UploadCapLimitsTheDrain) {
  std::string dir = fresh_dir("run");
  auto run = run_fleetsim(
      write_scenario(dir, "cap.lua", bus_scenario(R"(max_bytes = "1GiB", max_batch = "256KiB", upload_cap = "400kbps",
                                                         retry_initial = "1s", retry_max = "1s")")),
      {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const double cap = 400e3 / 8;
  const double drain = site_drain(run);
  EXPECT_GE(drain, r * T / (cap - r) - interval);
  EXPECT_LE(drain, r * (T + interval) / (cap - r) + interval);
}

TEST(TelemetryOnSimGrid, DropOldestLosesRateTimesOutageMinusCache) {
  std::string dir = fresh_dir("run");
  auto run = run_fleetsim(
      write_scenario(
          dir, "drop.lua",
          bus_scenario(R"(max_bytes = "10MB", overflow = "drop_oldest", retry_initial = "1s", retry_max = "1s")")),
      {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  auto report = read_report(run);
  const auto& g = group(report, "s");
  const double msgs_per_s = 100, cache_msgs = 10e6 / 200;
  const double dropped = g["dropped_by_reason"]["evicted"].get<double>();
  EXPECT_GE(dropped, msgs_per_s * T - cache_msgs);
  EXPECT_LE(dropped, msgs_per_s * (T + interval) - cache_msgs);
  EXPECT_EQ(g["dropped"].get<double>(), dropped);
  EXPECT_LE(g["peak_buffer_bytes"].get<double>(), 10e6);
  EXPECT_EQ(g["produced"], g["delivered"].get<std::uint64_t>() + g["dropped"].get<std::uint64_t>() +
                               g["buffered_at_end"].get<std::uint64_t>());
}

// Reject-new keeps the oldest prefix: 50 MB hold 250,000 readings; the rest of the outage is refused.
TEST(TelemetryOnSimGrid, RejectNewRefusesWhatDoesNotFit) {
  std::string dir = fresh_dir("run");
  auto run = run_fleetsim(write_scenario(dir, "reject.lua", bus_scenario(R"(max_bytes = "50MB", overflow = "reject_new",
                                                         retry_initial = "1s", retry_max = "1s")")),
                          {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  auto report = read_report(run);
  const auto& g = group(report, "s");
  const double kept = 50e6 / 200;
  const double rejected = g["dropped_by_reason"]["rejected"].get<double>();
  EXPECT_GE(rejected, 100 * T - kept);
  EXPECT_LE(rejected, 100 * (T + interval) - kept);
  EXPECT_EQ(g["dropped"].get<double>(), rejected);
  EXPECT_EQ(report["invariant_violations"].size(), 0u);
}

// A TTL of 30 minutes over a 60-minute outage: what is older than 30 minutes when the link returns expires, and
// nothing older than the TTL is sent.
TEST(TelemetryOnSimGrid, TtlExpiresTheOldPartOfTheBacklog) {
  std::string dir = fresh_dir("run");
  auto run =
      run_fleetsim(write_scenario(dir, "ttl.lua", bus_scenario(R"(max_bytes = "1GiB", ttl = "30m", retry_initial = "1s",
                                                         retry_max = "1s")")),
                   {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  auto report = read_report(run);
  const auto& g = group(report, "s");
  const double expired = g["dropped_by_reason"]["ttl_expired"].get<double>();
  EXPECT_GE(expired, 100 * (T - 1800));
  EXPECT_LE(expired, 100 * (T - 1800 + interval + 2));
  EXPECT_EQ(g["dropped"].get<double>(), expired);
  EXPECT_EQ(report["invariant_violations"].size(), 0u);  // telemetry-ttl checks every batch's age at sending
  EXPECT_LE(g["delay_max_s"].get<double>(), 1800 + 60);
}

// A GPU of 20 frames/s fed 30 frames/s processes 20/s and drops 10/s; a failure of 10 minutes of a GPU fed below
// its throughput drops what arrives while it is down, beyond its queue.
TEST(TelemetryOnSimGrid, GpuSaturationAndFailureDropFrames) {
  std::string dir = fresh_dir("run");
  auto run = run_fleetsim(write_scenario(dir, "gpu.lua", R"(
site { name = "cam", count = 1, nodes = 2, uplink = { down = "10Mbps", up = "5Mbps", latency = "10ms" },
       hardware = { gpu = { model = "T4", count = 1, throughput = "20/s" } },
       inference = { cameras = 2, fps = "15/s", queue = 100, result = "200B" } }
at("30m", fault.gpu_failure { nodes = { "cam-1/n2" }, duration = "10m" })
simulation { duration = "1h" }
)"),
                          {}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  auto report = read_report(run);
  const auto& gpu = group(report, "cam")["gpu"];
  const double arrived = gpu["frames_arrived"].get<double>();
  // Frames are handed over each batch interval, at a phase of its own: all but the last interval's arrived.
  EXPECT_LE(arrived, 2 * 30.0 * 3600);
  EXPECT_GE(arrived, 2 * 30.0 * (3600 - interval));
  // n1 is saturated all hour: 20/s processed. n2 processes 20/s except during the failure.
  const double processed = gpu["frames_processed"].get<double>();
  const double expected_processed = 20.0 * 3600 + 20.0 * (3600 - 600);
  EXPECT_NEAR(processed, expected_processed, 2 * (100 + 30 * interval));
  const double dropped = gpu["frames_dropped_queue_full"].get<double>();
  EXPECT_NEAR(dropped, 10.0 * 3600 + 10.0 * 3000 + 30.0 * 600, 2 * (100 + 30 * interval));
  EXPECT_GT(gpu["frames_lost_in_failure"].get<double>(), 0);
  EXPECT_LE(gpu["frames_lost_in_failure"].get<double>(), 20 * interval + 100);
  // Each processed frame is one result message on the bus (the last interval's results are not handed over yet).
  EXPECT_NEAR(group(report, "cam")["produced"].get<double>(), processed, 20 * 2 * interval);
}

TEST(TelemetryOnSimGrid, SameSeedSameTelemetry) {
  std::string lua = bus_scenario(R"(preset = "greengrass_spool")", R"(
site { name = "t", count = 2, nodes = 2, uplink = { down = "10Mbps", up = "2Mbps", latency = "30ms" },
       outages = { mtbf = "40m", mttr = "5m" },
       sensors = { { name = "p", process = "poisson", rate = "20/s", size = "100B", qos = 0 },
                   { name = "b", process = "bursty", rate = "50/s", on = "2m", off = "8m", size = "300B" } },
       bus = { preset = "azure_edgehub" } }
)");
  std::string a = fresh_dir("a"), b = fresh_dir("b");
  auto ra = run_fleetsim(write_scenario(a, "x.lua", lua), {"--seed", "5"}, a);
  auto rb = run_fleetsim(write_scenario(b, "x.lua", lua), {"--seed", "5"}, b);
  ASSERT_EQ(ra.exit_code, 0) << ra.out << ra.err;
  EXPECT_EQ(read_file(a + "/telemetry.csv"), read_file(b + "/telemetry.csv"));
  EXPECT_EQ(read_file(a + "/telemetry_sites.csv"), read_file(b + "/telemetry_sites.csv"));
  auto ja = read_report(ra), jb = read_report(rb);
  EXPECT_EQ(ja["telemetry"], jb["telemetry"]);
}

}  // namespace
}  // namespace fleetsim::testing
