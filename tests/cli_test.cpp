// The fleetsim command as CI and people meet it: exit codes, signals, the --out directory, what the files say and
// how they are written. Every test runs the real binary.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fleetsim/checks/invariants.hpp"
#include "sim_test_support.hpp"

namespace fleetsim::testing {
namespace {

namespace fs = std::filesystem;

// A fleet of a few stores with a 30 s notification jitter, flipped between two versions every hour for 100 hours:
// long enough in wall time (seconds, even with the fast solver on a fast machine) to be interrupted in the middle.
// A single upgrade is not: the whole run takes a third of a second since the sharing solver (the CI failure of
// 2026-11-30, where the signal landed after the end).
const char* kLongRun = R"lua(
scenario { name = "long" }
site { name = "store", count = 300, nodes = 10, uplink = { down = "20Mbps", latency = "40ms" },
       agent = { notify_jitter = "30s" } }
app { name = "pos", versions = { ["1"] = { image = "50MiB" }, ["2"] = { image = "60MiB" } } }
at("0s", deploy { app = "pos", version = "1", name = "install" })
for hour = 1, 100 do
  at(hour .. "h", rollout { app = "pos", version = tostring(2 - hour % 2), name = "flip" .. hour })
end
)lua";
constexpr double kLongRunLastRolloutS = 100 * 3600.0;

const char* kSmall = R"lua(
scenario { name = "small" }
site { name = "store", count = 4, nodes = 2, uplink = { down = "20Mbps", latency = "40ms" } }
app { name = "pos", versions = { ["1"] = { image = "10MiB" } } }
at("0s", deploy { app = "pos", version = "1", name = "install" })
)lua";

// Starts fleetsim, waits until it has printed its first line (the scenario is loaded), waits `delay`, sends
// `signal`, and returns the exit code.
int run_and_signal(const std::vector<std::string>& args, int signal_number, std::chrono::milliseconds delay) {
  int out[2];
  if (pipe(out) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    int null = open("/dev/null", O_WRONLY);
    dup2(null, STDERR_FILENO);
    close(out[0]);
    std::vector<char*> argv{const_cast<char*>(FLEETSIM_BINARY), const_cast<char*>("run")};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(FLEETSIM_BINARY, argv.data());
    _exit(127);
  }
  close(out[1]);
  char c = 0;
  while (read(out[0], &c, 1) == 1 && c != '\n') {
  }
  std::this_thread::sleep_for(delay);
  kill(pid, signal_number);
  char buf[4096];
  while (read(out[0], buf, sizeof buf) > 0) {
  }
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void expect_interrupted_reports(const std::string& dir) {
  auto report = nlohmann::json::parse(read_file(dir + "/report.json"));  // complete, valid JSON
  EXPECT_EQ(report["result"], "interrupted");
  // Wherever the signal landed (building the platform or simulating), the run stopped long before its end.
  EXPECT_GE(report["end_time_s"].get<double>(), 0.0);
  EXPECT_LT(report["end_time_s"].get<double>(), kLongRunLastRolloutS / 2) << "stopped long before the last rollout";
  EXPECT_TRUE(report["invariant_violations"].empty()) << report["invariant_violations"].dump();
  const std::string junit = read_file(dir + "/junit.xml");
  EXPECT_NE(junit.find("errors=\"1\""), std::string::npos);
  EXPECT_NE(junit.find("interrupted at simulated"), std::string::npos);
  EXPECT_EQ(junit_problems(dir + "/junit.xml"), "") << junit;
}

// Ctrl-C in the middle of a run (and SIGTERM, a CI runner's timeout): exit 130 (not 1, not SimGrid's handler), and
// report.json and junit.xml describe what was simulated until then, marked "interrupted", with no invariant falsely
// violated by the cut.
class Signals : public ::testing::TestWithParam<int> {};

TEST_P(Signals, StopTheRunAndWriteMarkedReports) {
  const std::string dir = fresh_dir("run");
  const std::string scenario = write_scenario(dir, "long.lua", kLongRun);
  const int code =
      run_and_signal({scenario, "--out", dir + "/out", "--no-progress"}, GetParam(), std::chrono::milliseconds(300));
  EXPECT_EQ(code, 130);
  expect_interrupted_reports(dir + "/out");
}

INSTANTIATE_TEST_SUITE_P(CtrlCAndTerm, Signals, ::testing::Values(SIGINT, SIGTERM),
                         [](const ::testing::TestParamInfo<int>& param) {
                           return std::string(param.param == SIGINT ? "SIGINT" : "SIGTERM");
                         });

TEST(OutDir, AnUnwritableOutFailsBeforeAnythingIsSimulated) {
  // --out below a regular file cannot be created: exit 2 at once, naming --out, and no result is printed.
  const std::string dir = fresh_dir("run");
  const std::string scenario = write_scenario(dir, "small.lua", kSmall);
  write_scenario(dir, "a-file", "not a directory");
  auto run = run_raw({"run", scenario, "--out", dir + "/a-file/out", "--no-progress"});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("--out"), std::string::npos) << run.err;
  EXPECT_EQ(run.out.find("result:"), std::string::npos) << run.out;
}

TEST(OutDir, APreviousRunsFilesGoAndReportJsonListsWhatThisRunWrote) {
  // A reused --out: the old telemetry.csv and report.json of another run must not sit beside the new reports;
  // report.json lists exactly the files in the directory; no temporary file is left.
  const std::string dir = fresh_dir("run");
  const std::string out = dir + "/out";
  fs::create_directories(out);
  write_scenario(out, "telemetry.csv", "stale");
  write_scenario(out, "report.json", "{\"result\": \"pass\"}");
  write_scenario(out, "notes.txt", "the user's own file");
  auto run = run_fleetsim(write_scenario(dir, "small.lua", kSmall), {"--seed", "3"}, out);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_FALSE(fs::exists(out + "/telemetry.csv"));
  auto report = read_report(run);
  std::vector<std::string> listed = report["files"].get<std::vector<std::string>>();
  std::vector<std::string> present;
  for (const auto& entry : fs::directory_iterator(out)) present.push_back(entry.path().filename().string());
  std::sort(listed.begin(), listed.end());
  std::sort(present.begin(), present.end());
  listed.push_back("notes.txt");  // left alone: not a report of fleetsim's
  std::sort(listed.begin(), listed.end());
  EXPECT_EQ(listed, present);
}

TEST(OutDir, ABadScenarioStillWritesAJunitFileWithTheError) {
  // CI reads junit.xml: a scenario that does not load is a test in error there, not a missing file.
  const std::string dir = fresh_dir("run");
  auto run = run_fleetsim(write_scenario(dir, "bad.lua", "site { name = \"s\", uplink = { down = \"20 Mbps\" } }"), {},
                          dir + "/out");
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  const std::string junit = read_file(dir + "/out/junit.xml");
  EXPECT_NE(junit.find("errors=\"1\""), std::string::npos) << junit;
  EXPECT_NE(junit.find("bad.lua:1"), std::string::npos) << junit;
  EXPECT_EQ(junit_problems(dir + "/out/junit.xml"), "") << junit;
}

// junit.xml as every CI parses it: valid against the Jenkins xUnit schema, with counts that match its test cases,
// one test case per expectation and per invariant (named), and a failure's message with what was measured, the
// threshold and the gap, and the replay command in its text.
TEST(JUnit, PassAndFailValidateWithATestCasePerExpectationAndInvariant) {
  const std::string dir = fresh_dir("junit");
  const std::string scenario = write_scenario(dir, "s.lua", std::string(kSmall) + R"lua(
expect "install.time_to_100 <= 1s"
expect "install.time_to_50 <= 1h"
)lua");
  auto run = run_fleetsim(scenario, {"--seed", "3"}, dir + "/out");
  ASSERT_EQ(run.exit_code, 1) << run.out << run.err;
  const std::string junit = read_file(dir + "/out/junit.xml");
  EXPECT_EQ(junit_problems(dir + "/out/junit.xml"), "") << junit;
  EXPECT_NE(junit.find("<testcase classname=\"expect\" name=\"install.time_to_50 &lt;= 1h\" time=\"0\"></testcase>"),
            std::string::npos)
      << junit;
  // 10 MiB over 20 Mbps shared by 2 nodes: 8.4 s at the least, so the first expectation misses by over 7 s.
  const auto failure = junit.find("<failure message=\"measured ");
  ASSERT_NE(failure, std::string::npos) << junit;
  const std::string message = junit.substr(failure, junit.find("</failure>", failure) - failure);
  EXPECT_NE(message.find(", threshold &lt;= 1.000s, off by "), std::string::npos) << message;
  EXPECT_NE(message.find("replay: fleetsim run " + scenario + " --seed 3"), std::string::npos) << message;
  for (const auto& [name, meaning] : checks::InvariantChecks::catalogue())
    EXPECT_NE(junit.find("<testcase classname=\"invariant\" name=\"" + name + "\" time=\"0\"></testcase>"),
              std::string::npos)
        << name;
  // A passing run validates too, with nothing failed.
  auto pass = run_fleetsim(write_scenario(dir, "pass.lua", kSmall), {}, dir + "/pass");
  ASSERT_EQ(pass.exit_code, 0) << pass.err;
  EXPECT_EQ(junit_problems(dir + "/pass/junit.xml"), "");
  EXPECT_NE(read_file(dir + "/pass/junit.xml").find("failures=\"0\" errors=\"0\""), std::string::npos);
}

// RFC 4180 fields of one CSV text: rows of fields, quotes handled.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1, std::vector<std::string>(1));
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        rows.back().back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        rows.back().back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().emplace_back();
    } else if (c == '\n') {
      rows.emplace_back(1);
    } else {
      rows.back().back() += c;
    }
  }
  if (rows.back().size() == 1 && rows.back()[0].empty()) rows.pop_back();
  return rows;
}

TEST(Reports, UserStringsCannotBreakCsvOrXml) {
  // A version named with a comma and a quote, and a scenario name with markup and a control character: states.csv
  // keeps five fields per row (quoted), and junit.xml carries no raw markup or control byte.
  const std::string dir = fresh_dir("run");
  auto run = run_fleetsim(write_scenario(dir, "names.lua", R"lua(
scenario { name = "a <b> & \"c\" \1 d" }
site { name = "store", count = 2, nodes = 1, uplink = { down = "20Mbps", latency = "40ms" } }
app { name = "pos", versions = { ["1,\"x\""] = { image = "10MiB" } } }
at("0s", deploy { app = "pos", version = "1,\"x\"", name = "install" })
expect "install.succeeded == 3"
simulation { states_sample = "1s" }
)lua"),
                          {}, dir + "/out");
  ASSERT_EQ(run.exit_code, 1) << run.out << run.err;  // the expectation fails: junit has a failure to escape
  auto rows = parse_csv(read_file(dir + "/out/states.csv"));
  ASSERT_GT(rows.size(), 1u);
  bool seen = false;
  for (const auto& row : rows) {
    EXPECT_EQ(row.size(), 5u);
    seen = seen || (row.size() == 5 && row[2] == "1,\"x\"");
  }
  EXPECT_TRUE(seen) << "the version name comes back whole";
  const std::string junit = read_file(dir + "/out/junit.xml");
  for (char c : junit) EXPECT_TRUE(c == '\n' || static_cast<unsigned char>(c) >= 0x20) << static_cast<int>(c);
  EXPECT_NE(junit.find("a &lt;b&gt; &amp; &quot;c&quot; &#xFFFD; d"), std::string::npos) << junit;
}

TEST(Cli, SeedsAreDecimalAndAMissingValueIsAnError) {
  // "--seed 010" is ten (never octal): the same report as "--seed 10"; "--seed --out x" is a usage error, not two
  // scenarios.
  const std::string dir = fresh_dir("run");
  const std::string scenario = write_scenario(dir, "small.lua", R"lua(
site { name = "store", count = 4, nodes = 2, uplink = { down = "20Mbps", latency = "40ms" },
       agent = { notify_jitter = "30s" } }
app { name = "pos", versions = { ["1"] = { image = "10MiB" } } }
at("0s", deploy { app = "pos", version = "1", name = "install" })
)lua");
  auto a = run_fleetsim(scenario, {"--seed", "010"}, dir + "/a");
  auto b = run_fleetsim(scenario, {"--seed", "10"}, dir + "/b");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(read_file(dir + "/a/report.json"), read_file(dir + "/b/report.json"));
  auto bad = run_raw({"run", "--seed", "--out", "x", scenario});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--seed needs a value"), std::string::npos) << bad.err;
}

TEST(Cli, QuietPrintsOnlyWhatFailedAndTheResult) {
  const std::string dir = fresh_dir("run");
  auto pass = run_fleetsim(write_scenario(dir, "small.lua", kSmall), {}, dir + "/out");
  ASSERT_EQ(pass.exit_code, 0) << pass.err;
  EXPECT_EQ(pass.out, "  result: PASS\n");
  auto fail =
      run_fleetsim(write_scenario(dir, "fail.lua", std::string(kSmall) + "expect \"install.time_to_100 <= 1s\"\n"), {},
                   dir + "/fail");
  ASSERT_EQ(fail.exit_code, 1) << fail.err;
  EXPECT_NE(fail.out.find("expect install.time_to_100 <= 1s: FAILED"), std::string::npos) << fail.out;
  EXPECT_NE(fail.out.find("  result: FAIL\n"), std::string::npos) << fail.out;
  EXPECT_NE(fail.out.find("  replay: fleetsim run "), std::string::npos) << fail.out;
  EXPECT_EQ(fail.out.find("registry egress"), std::string::npos) << fail.out;
}

TEST(Cli, VersionNamesTheCommitAndTheEngines) {
  auto run = run_raw({"--version"});
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(run.out.rfind("fleetsim 0.1.0 (commit ", 0), 0u) << run.out;
  EXPECT_NE(run.out.find("SimGrid 3.32"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("Lua 5.4"), std::string::npos) << run.out;
}

TEST(Faults, AFaultAfterTheRunEndedIsAnErrorAndNeverReported) {
  // The deploy settles within minutes; a fault at 24 h is never injected. The run says so (exit 2, naming the fault
  // and the run's end) and report.json lists no fault that did not happen.
  const std::string dir = fresh_dir("run");
  auto run = run_fleetsim(write_scenario(dir, "late.lua", std::string(kSmall) + R"lua(
at("24h", fault.partition { name = "storm", template = "store", duration = "1h" })
)lua"),
                          {}, dir + "/out");
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("late.lua:7: fault.partition 'storm' at 24h"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("never injected"), std::string::npos) << run.err;
  auto report = read_report(run);
  EXPECT_EQ(report["result"], "error");
  EXPECT_TRUE(report["faults"].empty()) << report["faults"].dump();
  // With a duration that covers it, the same fault is injected and reported.
  auto covered = run_fleetsim(dir + "/late.lua", {"--set", "simulation.duration=26h"}, dir + "/covered");
  EXPECT_EQ(covered.exit_code, 0) << covered.out << covered.err;
  EXPECT_EQ(read_report(covered)["faults"].size(), 1u);
}

TEST(Summary, SaysWhatEachFaultDidAndWhatIsStillBuffered) {
  // A degradation is not downtime: the summary says at what bandwidth; telemetry lines account for every message
  // (delivered, dropped, buffered at the end).
  const std::string dir = fresh_dir("run");
  auto run = run_raw({"run", write_scenario(dir, "degrade.lua", R"lua(
site { name = "store", count = 2, nodes = 2, uplink = { down = "20Mbps", up = "2Mbps", latency = "40ms" },
       sensors = { { name = "temp", rate = "10/s", size = "200B" } } }
app { name = "pos", versions = { ["1"] = { image = "10MiB" } } }
at("0s", deploy { app = "pos", version = "1", name = "install" })
at("1m", fault.degrade { name = "slow", template = "store", factor = 0.3, duration = "10m" })
simulation { duration = "30m" }
)lua"),
                      "--out", dir + "/out", "--no-progress"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("fault slow (degrade): 1 window(s) on 2 target(s), 20m00.0s of target time at 0.3 x "
                         "bandwidth"),
            std::string::npos)
      << run.out;
  EXPECT_EQ(run.out.find("downtime"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("buffered at the end"), std::string::npos) << run.out;
}

TEST(States, ARollbackIsStartingNotCrashLooping) {
  // canary_bad_release.lua: version 2 crashes on start and nodes roll back locally; no committed release ever
  // crashes (crash_reports is 0), so states.csv must never show a node crash looping.
  const std::string dir = fresh_dir("run");
  auto run = run_fleetsim(source_path("scenarios/canary_bad_release.lua"), {"--seed", "7"}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  ASSERT_EQ(read_report(run)["crash_reports"], 0);
  const std::string states = read_file(dir + "/states.csv");
  EXPECT_EQ(states.find("crashlooping"), std::string::npos);
}

TEST(NodesCsv, AnOperationThatDidNotTargetANodeLeavesItsOutcomeEmpty) {
  // Two templates, a deploy to one: the other's nodes are not "pending" for it, they were never targeted.
  const std::string dir = fresh_dir("run");
  auto run = run_fleetsim(write_scenario(dir, "two.lua", R"lua(
site { name = "a", count = 1, nodes = 2, uplink = { down = "20Mbps", latency = "40ms" }, labels = { ring = "a" } }
site { name = "b", count = 1, nodes = 2, uplink = { down = "20Mbps", latency = "40ms" }, labels = { ring = "b" } }
app { name = "pos", versions = { ["1"] = { image = "10MiB" } } }
at("0s", deploy { app = "pos", version = "1", name = "install", where = { ring = "a" } })
)lua"),
                          {}, dir + "/out");
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  std::vector<std::string> header;
  auto rows = read_csv(dir + "/out/nodes.csv", &header);
  const std::size_t outcome = column(header, "install.outcome");
  for (const auto& row : rows) EXPECT_EQ(row[outcome], row[0].rfind("a-", 0) == 0 ? "succeeded" : "") << row[0];
}

TEST(NodesCsv, AndReportJsonSayWhyEachNodeFailed) {
  // Three stores: one whose disk budget (5 MiB) cannot hold the 10 MiB image (disk_full, at once), one whose 1 Mbps
  // uplink needs 84 s for it against a 30 s node deadline (deadline), one that is fine. Each failed node is listed
  // with its reason in report.json, counted per reason, and named in nodes.csv and the summary.
  const std::string dir = fresh_dir("run");
  auto run = run_raw({"run", write_scenario(dir, "why.lua", R"lua(
site { name = "small", count = 1, nodes = 2, uplink = { down = "100Mbps", latency = "10ms" },
       hardware = { disk = "5MiB" } }
site { name = "slow", count = 1, nodes = 1, uplink = { down = "1Mbps", latency = "10ms" } }
site { name = "fine", count = 1, nodes = 1, uplink = { down = "100Mbps", latency = "10ms" } }
app { name = "pos", versions = { ["1"] = { image = "10MiB" } } }
at("0s", deploy { app = "pos", version = "1", name = "install", node_deadline = "30s" })
)lua"),
                       "--out", dir + "/out", "--no-progress"});  // not -q: the summary names the reasons
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const auto report = nlohmann::json::parse(read_file(dir + "/out/report.json"));
  const auto& op = report.at("operations").at(0);
  EXPECT_EQ(op.at("failures_by_reason"), nlohmann::json({{"deadline", 1}, {"disk_full", 2}}));
  std::map<std::string, std::string> why;
  for (const auto& n : op.at("failed_nodes")) why[n.at("node").get<std::string>()] = n.at("reason").get<std::string>();
  EXPECT_EQ(why, (std::map<std::string, std::string>{
                     {"small-1/n1", "disk_full"}, {"small-1/n2", "disk_full"}, {"slow-1/n1", "deadline"}}));
  std::vector<std::string> header;
  const auto rows = read_csv(dir + "/out/nodes.csv", &header);
  const std::size_t outcome = column(header, "install.outcome"), reason = column(header, "install.reason");
  const std::size_t detail = column(header, "install.detail");
  ASSERT_EQ(rows.size(), 4u);
  for (const auto& row : rows) {
    if (row[0].rfind("small", 0) == 0) {
      EXPECT_EQ(row[outcome], "failed");
      EXPECT_EQ(row[reason], "disk_full");
      EXPECT_NE(row[detail].find("disk full"), std::string::npos) << row[detail];
    } else if (row[0].rfind("slow", 0) == 0) {
      EXPECT_EQ(row[outcome], "timed_out");
      EXPECT_EQ(row[reason], "deadline");
    } else {
      EXPECT_EQ(row[outcome], "succeeded");
      EXPECT_EQ(row[reason], "");
      EXPECT_EQ(row[detail], "");
    }
  }
  EXPECT_NE(run.out.find("(deadline 1, disk_full 2)"), std::string::npos) << run.out;
}

// A fleet whose first site has a telemetry bus with a memory stream, a byte bound, a TTL and an upload cap: every
// invariant has something to break in it.
const char* kHooked = R"lua(
scenario { name = "hooked" }
site { name = "store", count = 2, nodes = 2, uplink = { down = "20Mbps", up = "2Mbps", latency = "40ms" },
       sensors = { { name = "temp", rate = "1/s", size = "100B" } },
       bus = { storage = "memory", max_bytes = "1MiB", ttl = "1h", upload_cap = "1Mbps" } }
app { name = "pos", versions = { ["1"] = { image = "10MiB" } } }
at("0s", deploy { app = "pos", version = "1", name = "install" })
simulation { duration = "10m" }
)lua";

// Runs the test build of fleetsim (tests/hooked/misbehave.cpp) with FLEETSIM_MISBEHAVE set.
RunOutput run_hooked(const std::string& misbehave, const std::string& scenario, const std::string& out) {
  const std::string stem = out + ".run";
  std::string cmd = "CI=1 ";
  if (!misbehave.empty()) cmd += "FLEETSIM_MISBEHAVE=" + misbehave + " ";
  cmd += std::string(FLEETSIM_HOOKED_BINARY) + " run '" + scenario + "' --out '" + out + "' --no-progress > '" + stem +
         ".stdout' 2> '" + stem + ".stderr'";
  const int status = std::system(cmd.c_str());
  RunOutput r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(stem + ".stdout");
  r.err = read_file(stem + ".stderr");
  r.dir = out;
  return r;
}

// Every invariant of the catalogue fails a whole run when the run's history breaks it: exit code 1, the violation
// named in report.json, in junit.xml as a failure, and in the summary. (checks_test shows each checker failing on
// a history; this shows that its failure reaches the user.)
class InvariantFailsTheRun : public ::testing::TestWithParam<std::string> {};

TEST_P(InvariantFailsTheRun, WithExitOneAndInEveryReport) {
  const std::string dir = fresh_dir("run");
  const std::string scenario = write_scenario(dir, "hooked.lua", kHooked);
  auto run = run_hooked(GetParam(), scenario, dir + "/out");
  ASSERT_EQ(run.exit_code, 1) << run.out << run.err;
  auto report = read_report(run);
  EXPECT_EQ(report["result"], "fail");
  bool named = false;
  for (const auto& v : report["invariant_violations"]) named = named || v["invariant"] == GetParam();
  EXPECT_TRUE(named) << report["invariant_violations"].dump();
  const std::string junit = read_file(dir + "/out/junit.xml");
  EXPECT_NE(junit.find("<testcase classname=\"invariant\" name=\"" + GetParam() + "\" time=\"0\"><failure message=\"" +
                       GetParam() + ": "),
            std::string::npos)
      << junit;
  EXPECT_EQ(junit_problems(dir + "/out/junit.xml"), "") << junit;
  EXPECT_NE(run.out.find("INVARIANT VIOLATED " + GetParam() + " at "), std::string::npos) << run.out;
}

std::vector<std::string> invariant_names() {
  std::vector<std::string> names;
  for (const auto& [name, meaning] : checks::InvariantChecks::catalogue()) names.push_back(name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Catalogue, InvariantFailsTheRun, ::testing::ValuesIn(invariant_names()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           std::string name = param.param;
                           for (char& c : name)
                             if (c == '-') c = '_';
                           return name;
                         });

TEST(InvariantFailsTheRun, TheHookedBuildPassesWhenNothingMisbehaves) {
  // The baseline of the tests above: the same scenario and binary, no misbehaviour, passes.
  const std::string dir = fresh_dir("run");
  auto run = run_hooked("", write_scenario(dir, "hooked.lua", kHooked), dir + "/out");
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
}

}  // namespace
}  // namespace fleetsim::testing

namespace fleetsim::testing {
namespace {

// The JSON a report.html carries (<script type="application/json" id="fleetsim-data">).
nlohmann::json page_data(const std::string& page) {
  const std::string open = "id=\"fleetsim-data\">";
  const auto from = page.find(open);
  const auto to = page.find("</script>", from);
  if (from == std::string::npos || to == std::string::npos) return nullptr;
  return nlohmann::json::parse(page.substr(from + open.size(), to - from - open.size()));
}

// Four one-node sites whose uplinks are 1 to 4 Mbps pull 10 MiB each: node k is healthy 83.886 s / k after the
// start. The page's completion curve holds exactly those times with ranks 1..4; the page loads nothing; it is
// listed in report.json; `fleetsim report DIR` rebuilds the same bytes; --no-html leaves it out.
TEST(ReportHtml, SelfContainedWithThePhysicsAndRebuiltByteForByte) {
  const std::string dir = fresh_dir("report_html");
  std::string lua;
  for (int k = 1; k <= 4; ++k)
    lua += "site { name = \"s" + std::to_string(k) + "\", count = 1, nodes = 1, uplink = { down = \"" +
           std::to_string(k) + "Mbps\", latency = \"1ms\" } }\n";
  lua += "app { name = \"a\", versions = { [\"1\"] = { image = \"10MiB\", start_time = \"0s\" } } }\n"
         "at(\"0s\", deploy { app = \"a\", version = \"1\", name = \"install\" })\n"
         "expect \"install.time_to_100 <= 2m\"\n";
  const std::string file = write_scenario(dir, "four.lua", lua);
  RunOutput run = run_fleetsim(file, {}, dir + "/out");
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const std::string page = read_file(dir + "/out/report.html");
  EXPECT_EQ(page.find("src="), std::string::npos);  // scripts and data inlined, nothing fetched
  EXPECT_EQ(page.find("href="), std::string::npos);
  EXPECT_NE(page.find("Chart.js v3"), std::string::npos);
  const auto data = page_data(page);
  ASSERT_TRUE(data.is_object());
  const auto& curve = data["completion"][0];
  EXPECT_EQ(curve["name"], "install");
  EXPECT_EQ(curve["targeted"], 4);
  EXPECT_EQ(curve["ranks"], nlohmann::json({1, 2, 3, 4}));
  const double all = 10.0 * 1024 * 1024 * 8 / (1e6 * kUplinkEfficiency);  // 10 MiB over 1 Mbps of line
  for (int k = 0; k < 4; ++k)
    EXPECT_NEAR(curve["healthy_s"][k].get<double>(), all / (4 - k), 0.01 * all / (4 - k)) << k;
  EXPECT_EQ(data["report"], read_report(run));  // report.json's content, as it is
  // Bytes over time: the registry egress first, its rates between samples adding up to the bytes it carried (the
  // series ends at the run's end); no outage, so no drains.
  const auto& egress = data["network"][0];
  EXPECT_EQ(egress["link"], "registry egress");
  double carried = 0, before = 0;
  for (std::size_t k = 0; k < egress["t"].size(); ++k) {
    carried += egress["bytes_per_s"][k].get<double>() * (egress["t"][k].get<double>() - before);
    before = egress["t"][k];
  }
  EXPECT_NEAR(carried, 4 * 10 * 1048576.0, 1.0);
  EXPECT_NEAR(before, read_report(run)["end_time_s"].get<double>(), 1e-3);
  EXPECT_TRUE(data["drains"].is_null());
  EXPECT_NE(data["replay"].get<std::string>().find("fleetsim run "), std::string::npos);
  EXPECT_FALSE(data["invariants"].empty());
  const auto files = read_report(run)["files"];
  EXPECT_NE(std::find(files.begin(), files.end(), "report.html"), files.end());

  fs::remove(dir + "/out/report.html");
  const RunOutput rebuilt = run_raw({"report", dir + "/out"});
  EXPECT_EQ(rebuilt.exit_code, 0) << rebuilt.err;
  EXPECT_EQ(read_file(dir + "/out/report.html"), page);

  RunOutput bare = run_fleetsim(file, {"--no-html"}, dir + "/bare");
  ASSERT_EQ(bare.exit_code, 0) << bare.err;
  EXPECT_FALSE(fs::exists(dir + "/bare/report.html"));
  const auto bare_files = read_report(bare)["files"];
  EXPECT_EQ(std::find(bare_files.begin(), bare_files.end(), "report.html"), bare_files.end());

  // Bad input names the file (and line), exit 2, and leaves what was there.
  const RunOutput missing = run_raw({"report", dir + "/nothing"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find(dir + "/nothing/report.json"), std::string::npos) << missing.err;
  std::string nodes = read_file(dir + "/out/nodes.csv");
  std::ofstream(dir + "/out/nodes.csv") << nodes.substr(0, nodes.rfind(',')) << "\n";  // the last row cut short
  const RunOutput broken = run_raw({"report", dir + "/out"});
  EXPECT_EQ(broken.exit_code, 2);
  EXPECT_NE(broken.err.find(dir + "/out/nodes.csv:5: "), std::string::npos) << broken.err;
  EXPECT_EQ(read_file(dir + "/out/report.html"), page);
  std::ofstream(dir + "/out/nodes.csv") << nodes;
  std::string network = read_file(dir + "/out/network.csv");
  network.replace(network.find("\n0.000,registry egress,down,0,") + 1, 5, "zero!");  // line 2's time
  std::ofstream(dir + "/out/network.csv") << network;
  const RunOutput bad_number = run_raw({"report", dir + "/out"});
  EXPECT_EQ(bad_number.exit_code, 2);
  EXPECT_NE(bad_number.err.find(dir + "/out/network.csv:2: time_s: 'zero!' is not a number"), std::string::npos)
      << bad_number.err;
  EXPECT_EQ(read_file(dir + "/out/report.html"), page);
}

// 2,000 nodes: the curve keeps at most 1,500 points, the first and the last among them, ranks increasing.
TEST(ReportHtml, LongCurvesAreDownsampledKeepingBothEnds) {
  const std::string dir = fresh_dir("report_html_big");
  const std::string file = write_scenario(dir, "big.lua", R"lua(
site { name = "s", count = 500, nodes = 4, uplink = { down = "20Mbps", latency = "5ms" }, agent = { notify_jitter = "1m" } }
app { name = "a", versions = { ["1"] = { image = "1MiB", start_time = "0s" } } }
at("0s", deploy { app = "a", version = "1", name = "install" })
)lua");
  RunOutput run = run_fleetsim(file, {}, dir + "/out");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto curve = page_data(read_file(dir + "/out/report.html"))["completion"][0];
  const auto& ranks = curve["ranks"];
  ASSERT_LE(ranks.size(), 1500u);
  ASSERT_GE(ranks.size(), 1000u);
  EXPECT_EQ(ranks.front(), 1);
  EXPECT_EQ(ranks.back(), 2000);
  for (std::size_t k = 1; k < ranks.size(); ++k) {
    EXPECT_LT(ranks[k - 1].get<int>(), ranks[k].get<int>());
    EXPECT_LE(curve["healthy_s"][k - 1].get<double>(), curve["healthy_s"][k].get<double>());
  }
  EXPECT_NEAR(curve["healthy_s"].back().get<double>(), read_report(run)["operations"][0]["time_to_pct_s"]["100"].get<double>(),
              1e-5);
}

}  // namespace
}  // namespace fleetsim::testing
