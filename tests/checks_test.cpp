// Every invariant checker is shown to fail: each gets a hand-written history (no SimGrid, no agents running) that
// violates it, and a near miss that does not. The table of violating histories must cover the whole catalogue, so
// an invariant added without a failing test fails this suite.
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fleetsim/checks/expectations.hpp"
#include "fleetsim/checks/invariants.hpp"

namespace fleetsim::checks {
namespace {

using agents::NodeAppState;
using agents::NodeOutcome;
using agents::telemetry::MessageRun;

// Two sites of two nodes, disks of 1000 bytes, local rollback. store-1 has a telemetry bus on its first node: a
// memory stream "telemetry" (500 bytes, TTL 60 s) and a disk stream "events" (100 messages, fsync every 5 s),
// batches every 10 s, an upload cap of 1000 B/s.
FleetLayout fleet() {
  FleetLayout f;
  f.nodes = {{"store-1/n1", 0, 1000, true},
             {"store-1/n2", 0, 1000, true},
             {"store-2/n1", 1, 1000, true},
             {"store-2/n2", 1, 1000, false}};
  BusLayout bus{0, 10.0, 1000.0, {{"telemetry", 500, 0, 60.0, false, 0}, {"events", 0, 100, 0, true, 5.0}}};
  f.sites = {{"store-1", bus}, {"store-2", std::nullopt}};
  return f;
}

History history(std::vector<Record> records = {}) { return History{fleet(), std::move(records), RunEnd{}}; }

MessageRun run(std::uint32_t stream, std::uint64_t first, std::uint64_t count, double t0 = 0, double dt = 1) {
  MessageRun r;
  r.stream = stream;
  r.first_seq = first;
  r.count = count;
  r.msg_bytes = 10;
  r.t0 = t0;
  r.dt = dt;
  return r;
}

// An operation of app "pos" (generation 2, revision 2) over the given nodes, every target succeeded at t = 10.
agents::Operation operation(std::vector<std::size_t> nodes) {
  agents::Operation op;
  op.id = 1;
  op.kind = agents::Command::Kind::rollout;
  op.app = "pos";
  op.generation = 2;
  op.to_revision = 2;
  op.started_at = 0;
  op.finished_at = 10;
  for (std::size_t n : nodes) {
    agents::NodeProgress p;
    p.node = static_cast<agents::NodeId>(n);
    p.outcome = NodeOutcome::succeeded;
    p.notified_at = 0;
    p.finished_at = 10;
    p.succeeded_at = 10;
    op.targets.push_back(p);
  }
  op.succeeded = nodes.size();
  return op;
}

History with_operation(agents::Operation op, std::vector<Record> records = {}) {
  History h = history(std::move(records));
  h.end.t = 100;
  h.end.operations.push_back({"upgrade", std::move(op)});
  return h;
}

std::vector<std::string> names(const std::vector<reports::InvariantViolation>& violations) {
  std::vector<std::string> out;
  for (const auto& v : violations) out.push_back(v.invariant + ": " + v.detail);
  return out;
}

// ---- one violating history per invariant --------------------------------------------------------------------------

struct Case {
  std::string invariant;
  History history;
  std::string detail;  // a part of the violation's message
};

std::vector<Case> violating_cases() {
  std::vector<Case> cases;
  cases.push_back({"no-downgrade-without-rollback",
                   history({DesiredStateHandled{1, 0, "pos", 1, 2, false, 0, false, true},
                            DesiredStateHandled{2, 0, "pos", 2, 1, false, 2, false, true}}),
                   "store-1/n1 was told to go from revision 2 to 1 of pos outside a rollback"});
  cases.push_back({"resend-restarts-nothing", history({DesiredStateHandled{5, 1, "pos", 3, 2, false, 2, true, true}}),
                   "store-1/n2 restarted pos when told again to run revision 2, which it ran"});
  cases.push_back({"healthy-report-matches-running-release",
                   history({StatusSent{3, 2, "pos", 2, 2, NodeAppState::healthy, 1}}),
                   "store-2/n1 reported revision 2 of pos healthy but does not run it"});
  cases.push_back({"disk-budget", history({DiskUsage{4, 1, 1001}}), "store-1/n2 stores 1001 bytes, budget 1000"});
  cases.push_back({"always-bootable", history({PowerEvent{1, 0, false, true}, PowerEvent{2, 0, true, false}}),
                   "store-1/n1 had a committed release before a crash and none after"});
  // A deeper history: v1 then v2 committed, v3 fails, and the node rolls back to v1 instead of v2.
  cases.push_back({"local-rollback-restores-previous",
                   history({DesiredStateHandled{1, 0, "pos", 1, 1, false, 0, false, true},
                            DesiredStateHandled{2, 0, "pos", 2, 2, false, 1, false, true},
                            DesiredStateHandled{3, 0, "pos", 3, 3, false, 2, false, true},
                            StatusSent{4, 0, "pos", 3, 3, NodeAppState::failed, 1}}),
                   "store-1/n1 failed revision 3 of pos and runs revision 1, not the revision 2 it ran before"});
  {
    agents::Operation op = operation({0, 1});
    op.targets[1].outcome = NodeOutcome::pending;
    op.succeeded = 1;
    cases.push_back({"terminal-states-account-for-every-target", with_operation(op),
                     "operation upgrade: 1 of 2 targeted nodes never reached a terminal state"});
  }
  {
    agents::Operation op = operation({0, 1});
    op.strategy.kind = agents::Strategy::Kind::batches;
    op.strategy.healthy_time_s = 60;
    op.wave_begin = {0, 1};
    op.wave_started_at = {0, 30};  // batch 1 completed at 10, its gate passes at 70
    op.wave_completed_at = {10, 40};
    cases.push_back({"batch-starts-after-previous-gate", with_operation(op),
                     "operation upgrade: batch 2 started at 30 s, before the gate of batch 1 passed"});
  }
  {
    agents::Operation op = operation({0, 1});
    op.strategy.kind = agents::Strategy::Kind::batches;
    op.wave_begin = {0, 1};
    op.wave_started_at = {0, 70};
    op.wave_completed_at = {10, 80};
    // store-1/n2 belongs to the second batch but saw its desired state at 20 s.
    cases.push_back({"notified-only-in-its-batch",
                     with_operation(op, {DesiredStateHandled{20, 1, "pos", 2, 2, false, 1, false, true}}),
                     "store-1/n2 was notified at 20 s, before its batch started"});
  }
  {
    agents::Operation op = operation({0, 2});
    op.is_rollback = true;
    op.to_revision = 1;
    op.targets[1].outcome = NodeOutcome::timed_out;
    op.targets[1].detail = "no report";
    cases.push_back({"revert-all-converges", with_operation(op),
                     "store-2/n1 did not return to revision 1 of pos (timed_out: no report)"});
  }
  {
    // Threshold 50 % after 2 executed: failed at 5, succeeded at 10: crossed at 10; the abort fired at 40.
    agents::Operation op = operation({0, 1});
    op.targets[0].outcome = NodeOutcome::failed;
    op.targets[0].succeeded_at = -1;
    op.targets[0].finished_at = 5;
    op.aborted_at = 40;
    op.finished_at = 50;
    History h = with_operation(op);
    h.end.operations[0].abort_threshold_percent = 50;
    h.end.operations[0].abort_min_executed = 2;
    cases.push_back({"abort-within-one-check", h,
                     "operation upgrade: the abort threshold was crossed at 10 s, the abort fired at 40 s"});
  }
  {
    agents::Operation op = operation({2, 3});  // one site, window of one node
    op.strategy.kind = agents::Strategy::Kind::rolling;
    op.strategy.max_unavailable = 1;
    op.targets[1].notified_at = 5;  // before store-2/n1 finished at 10
    cases.push_back({"rolling-window-holds", with_operation(op),
                     "operation upgrade: 2 nodes of store-2 updating at once, window 1"});
  }
  {
    agents::Operation op = operation({0, 1, 2});
    op.strategy.kind = agents::Strategy::Kind::exponential;
    op.strategy.maximum_per_minute = 60;  // one a second at most
    op.targets[1].notified_at = 1;
    op.targets[2].notified_at = 1.5;
    cases.push_back({"rate-limit-holds", with_operation(op),
                     "operation upgrade: two nodes notified 0.5 s apart, the maximum rate allows 1 s"});
  }
  cases.push_back({"telemetry-storage-limit", history({TelemetryProduced{10, 0, 0, 60, 600, 60}}),
                   "store-1: stream telemetry holds 600 bytes in 60 messages"});
  cases.push_back({"telemetry-upload-cap", history({BatchSent{10, 0, 1000}, BatchSent{10.5, 0, 1000}}),
                   "store-1: a batch started 0.500 s after one of 1000 bytes, faster than the cap"});
  // Messages 6..10 arrived first; 1..5 come later, below the mark, and are discarded: they were never accepted.
  cases.push_back({"telemetry-order",
                   history({BatchArrived{20, 0, 19, {run(0, 6, 5, 0)}, {run(0, 6, 5, 0)}},
                            BatchArrived{30, 0, 29, {run(0, 1, 5, 0)}, {}}}),
                   "store-1: stream telemetry: messages 1..5 arrived after later ones and were discarded"});
  cases.push_back({"telemetry-ttl", history({BatchArrived{100, 0, 99, {run(0, 1, 5, 0)}, {run(0, 1, 5, 0)}}}),
                   "store-1: stream telemetry: message 1 was sent 98.000 s after it was produced, TTL 60.000 s"});
  cases.push_back({"telemetry-at-least-once",
                   history({BatchArrived{20, 0, 19, {run(0, 1, 10)}, {run(0, 1, 5)}},
                            BatchAcknowledged{20.1, 0, {run(0, 1, 10)}, true}}),
                   "store-1: stream telemetry: acknowledged messages 1.. are not at the cloud"});
  cases.push_back({"telemetry-crash-loss",
                   history({TelemetryProduced{10, 0, 0, 20, 200, 20}, BrokerCrashed{12, 0, 0, 21, 20}}),
                   "store-1: stream telemetry lost 21 messages in a crash, more than the 20 its storage allows"});
  {
    History h = history();
    h.end.t = 100;
    h.end.streams.push_back({0, 1, 100, 50, 40, 40, 5, 50});  // 5 messages unaccounted for
    cases.push_back({"telemetry-conservation", h,
                     "store-1: stream events: produced 100 != delivered 50 + buffered 40 + dropped 5"});
  }
  return cases;
}

class ViolatingHistory : public ::testing::TestWithParam<std::size_t> {};

TEST_P(ViolatingHistory, IsReportedUnderItsInvariant) {
  // Each hand-written history breaks exactly one invariant: the checks report it, named, with its message.
  const Case c = violating_cases()[GetParam()];
  const auto violations = check_history(c.history);
  ASSERT_EQ(violations.size(), 1u) << ::testing::PrintToString(names(violations));
  EXPECT_EQ(violations[0].invariant, c.invariant);
  EXPECT_NE(violations[0].detail.find(c.detail), std::string::npos) << violations[0].detail;
}

INSTANTIATE_TEST_SUITE_P(Invariants, ViolatingHistory, ::testing::Range<std::size_t>(0, violating_cases().size()),
                         [](const ::testing::TestParamInfo<std::size_t>& param) {
                           std::string name = violating_cases()[param.param].invariant;
                           for (char& ch : name)
                             if (ch == '-') ch = '_';
                           return name;
                         });

TEST(Invariants, EveryCheckedInvariantHasAViolatingHistory) {
  // The catalogue is what the checks claim to check; each entry must be shown to fail above.
  std::set<std::string> covered;
  for (const auto& c : violating_cases()) covered.insert(c.invariant);
  for (const auto& [name, meaning] : InvariantChecks::catalogue())
    EXPECT_TRUE(covered.count(name)) << name << " (" << meaning << ") has no violating history";
  EXPECT_EQ(covered.size(), InvariantChecks::catalogue().size());
}

// ---- near misses: correct histories that come close ---------------------------------------------------------------

TEST(NodeInvariants, RollbackMayGoBackAndResendMayRestartNothing) {
  // A rollback message may lower the revision; a resend of the running revision that starts nothing is fine; a node
  // at its disk's exact size is within budget; a node without local rollback may keep the failed release.
  auto violations = check_history(history({
      DesiredStateHandled{1, 0, "pos", 1, 2, false, 0, false, true},
      DesiredStateHandled{2, 0, "pos", 2, 1, true, 2, false, true},
      DesiredStateHandled{3, 0, "pos", 2, 1, true, 1, true, false},  // the rollback's desired state, resent
      DiskUsage{4, 0, 1000},
      DesiredStateHandled{5, 3, "pos", 3, 3, false, 2, false, true},
      StatusSent{6, 3, "pos", 3, 3, NodeAppState::failed, 3},
  }));
  EXPECT_TRUE(violations.empty()) << ::testing::PrintToString(names(violations));
}

TEST(NodeInvariants, LocalRollbackToThePreviousReleasePasses) {
  // v1, v2 committed, v3 failed: back on v2 is right; a first install that fails has nothing to restore.
  auto violations = check_history(history({
      DesiredStateHandled{1, 0, "pos", 1, 1, false, 0, false, true},
      DesiredStateHandled{2, 0, "pos", 2, 2, false, 1, false, true},
      DesiredStateHandled{3, 0, "pos", 3, 3, false, 2, false, true},
      StatusSent{4, 0, "pos", 3, 3, NodeAppState::failed, 2},
      DesiredStateHandled{5, 1, "pos", 1, 1, false, 0, false, true},
      StatusSent{6, 1, "pos", 1, 1, NodeAppState::failed, 0},
  }));
  EXPECT_TRUE(violations.empty()) << ::testing::PrintToString(names(violations));
}

TEST(NodeInvariants, AHealthyReportFromANodeThatRunsNothingIsAViolation) {
  // healthy-report-matches-running-release from the other side: the node runs no release at all (running = 0) and
  // still reports revision 2 healthy. (Killed mutant: chk-healthy-running-none-ok.)
  auto violations = check_history(history({StatusSent{3, 2, "pos", 2, 2, NodeAppState::healthy, 0}}));
  ASSERT_EQ(violations.size(), 1u) << ::testing::PrintToString(names(violations));
  EXPECT_EQ(violations[0].invariant, "healthy-report-matches-running-release");
}

TEST(NodeInvariants, ADowngradeIsJudgedAgainstTheHighestRevisionEverSent) {
  // no-downgrade-without-rollback compares with the highest revision the node was ever told, not the last one
  // (revisions only grow; a rollback gets a new generation, never a new revision): told 3, rolled back to 1 (fine),
  // then told 2 outside a rollback: below 3, a downgrade, though above the last revision sent.
  // (Killed mutant: chk-downgrade-vs-last.)
  auto violations = check_history(history({
      DesiredStateHandled{1, 0, "pos", 1, 3, false, 0, false, true},
      DesiredStateHandled{2, 0, "pos", 2, 1, true, 3, false, true},
      DesiredStateHandled{3, 0, "pos", 3, 2, false, 1, false, true},
  }));
  ASSERT_EQ(violations.size(), 1u) << ::testing::PrintToString(names(violations));
  EXPECT_EQ(violations[0].invariant, "no-downgrade-without-rollback");
  EXPECT_NE(violations[0].detail.find("from revision 3 to 2"), std::string::npos) << violations[0].detail;
}

TEST(NodeInvariants, EachNodeAndInvariantIsReportedOnce) {
  // A node that keeps breaking the disk budget is reported once; another node is reported on its own.
  auto violations = check_history(history({DiskUsage{1, 0, 1500}, DiskUsage{2, 0, 1600}, DiskUsage{3, 1, 1001}}));
  ASSERT_EQ(violations.size(), 2u);
  EXPECT_EQ(violations[0].at_s, 1);
  EXPECT_NE(violations[1].detail.find("store-1/n2"), std::string::npos);
}

TEST(NodeInvariants, PowerCycleWithoutACommittedReleaseIsBootable) {
  auto violations = check_history(history({PowerEvent{1, 0, false, false}, PowerEvent{2, 0, true, false},
                                           PowerEvent{3, 1, false, true}, PowerEvent{4, 1, true, true}}));
  EXPECT_TRUE(violations.empty()) << ::testing::PrintToString(names(violations));
}

TEST(OperationInvariants, ANodeIsJudgedByItsFirstNotificationNotItsLast) {
  // notified-only-in-its-batch uses the first time the node heard of the operation: store-1/n2, of batch 2 (started
  // at 70 s), heard at 20 s and again at 75 s (a resend): a violation at 20 s, which its last notification would
  // hide. (Killed mutant: chk-notified-last-not-first.)
  agents::Operation op = operation({0, 1});
  op.strategy.kind = agents::Strategy::Kind::batches;
  op.wave_begin = {0, 1};
  op.wave_started_at = {0, 70};
  op.wave_completed_at = {10, 80};
  auto violations = check_history(with_operation(op, {DesiredStateHandled{20, 1, "pos", 2, 2, false, 1, false, true},
                                                      DesiredStateHandled{75, 1, "pos", 2, 2, false, 1, true, false}}));
  ASSERT_EQ(violations.size(), 1u) << ::testing::PrintToString(names(violations));
  EXPECT_EQ(violations[0].invariant, "notified-only-in-its-batch");
}

TEST(OperationInvariants, GatesRatesAndWindowsThatHoldPass) {
  // Batch 2 starts exactly when batch 1's gate passes and its node hears of it then; the exponential rollout keeps
  // its one-a-second maximum; the rolling window of one lets the next node start as the previous one finishes.
  agents::Operation batches = operation({0, 1});
  batches.strategy.kind = agents::Strategy::Kind::batches;
  batches.strategy.healthy_time_s = 60;
  batches.wave_begin = {0, 1};
  batches.wave_started_at = {0, 70};
  batches.wave_completed_at = {10, 80};
  auto h = with_operation(batches, {DesiredStateHandled{70, 1, "pos", 2, 2, false, 1, false, true}});
  EXPECT_TRUE(check_history(h).empty()) << ::testing::PrintToString(names(check_history(h)));

  agents::Operation rate = operation({0, 1, 2});
  rate.strategy.kind = agents::Strategy::Kind::exponential;
  rate.strategy.maximum_per_minute = 60;
  rate.targets[1].notified_at = 1;
  rate.targets[2].notified_at = 2;
  EXPECT_TRUE(check_history(with_operation(rate)).empty());

  agents::Operation rolling = operation({2, 3});
  rolling.strategy.kind = agents::Strategy::Kind::rolling;
  rolling.strategy.max_unavailable = 1;
  rolling.targets[1].notified_at = 10;
  rolling.targets[1].finished_at = 20;
  EXPECT_TRUE(check_history(with_operation(rolling)).empty());
}

TEST(OperationInvariants, AbortTimingIsJudgedBothWays) {
  // The abort that fires at the crossing passes; one that never fires, or fires without a crossing, fails.
  agents::Operation op = operation({0, 1});
  op.targets[0].outcome = NodeOutcome::failed;
  op.targets[0].succeeded_at = -1;
  op.targets[0].finished_at = 5;
  auto judged = [&](std::optional<double> aborted_at, double threshold) {
    agents::Operation o = op;
    o.aborted_at = aborted_at;
    History h = with_operation(o);
    h.end.operations[0].abort_threshold_percent = threshold;
    h.end.operations[0].abort_min_executed = 2;
    return names(check_history(h));
  };
  EXPECT_TRUE(judged(10.0, 50).empty());
  auto never = judged(std::nullopt, 50);
  ASSERT_EQ(never.size(), 1u);
  EXPECT_NE(never[0].find("never fired"), std::string::npos);
  auto uncalled = judged(10.0, 60);  // 1 of 2 executed is 50 %, under 60 %
  ASSERT_EQ(uncalled.size(), 1u);
  EXPECT_NE(uncalled[0].find("aborted at 10 s though its threshold was never crossed"), std::string::npos);
}

TEST(OperationInvariants, RevertThatStoppedAtMaxTimeIsNotJudged) {
  agents::Operation op = operation({0});
  op.is_rollback = true;
  op.targets[0].outcome = NodeOutcome::failed;
  History h = with_operation(op);
  h.end.hit_max_time = true;
  EXPECT_TRUE(check_history(h).empty());
}

TEST(TelemetryInvariants, StraddlingReplayAndPacedBatchesPass) {
  // 1..10 accepted; a replay of 6..15 is accepted above the mark only; batches leave exactly at the cap's pace; an
  // acknowledged batch that reached the cloud passes; a crash of a disk stream loses at most one sync interval.
  auto violations = check_history(history({
      BatchSent{10, 0, 1000}, BatchArrived{11, 0, 10, {run(0, 1, 10, 0)}, {run(0, 1, 10, 0)}},
      BatchAcknowledged{11.1, 0, {run(0, 1, 10, 0)}, true}, BatchSent{11, 0, 500},
      BatchArrived{12, 0, 11, {run(0, 6, 10, 5)}, {run(0, 11, 5, 10)}},
      BatchAcknowledged{12.1, 0, {run(0, 6, 10, 5)}, true}, TelemetryProduced{10, 0, 1, 10, 100, 10},
      TelemetryProduced{20, 0, 1, 25, 250, 25}, TelemetryProduced{30, 0, 1, 40, 400, 40},
      BrokerCrashed{31, 0, 1, 30, 40},  // produced since 31 - 5 - 10 = 16 s: 40 - 10 = 30
  }));
  EXPECT_TRUE(violations.empty()) << ::testing::PrintToString(names(violations));
}

TEST(TelemetryInvariants, DiskStreamLosingMoreThanOneSyncIntervalFails) {
  auto violations =
      check_history(history({TelemetryProduced{10, 0, 1, 10, 100, 10}, TelemetryProduced{20, 0, 1, 25, 250, 25},
                             TelemetryProduced{30, 0, 1, 40, 400, 40}, BrokerCrashed{31, 0, 1, 31, 40}}));
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].invariant, "telemetry-crash-loss");
}

TEST(TelemetryInvariants, TheCloudMustHoldWhatTheBrokerCountsDelivered) {
  History h = history();
  h.end.t = 100;
  h.end.streams.push_back({0, 0, 100, 60, 40, 40, 0, 59});
  auto violations = check_history(h);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].invariant, "telemetry-at-least-once");
  EXPECT_NE(violations[0].detail.find("the broker counts 60 delivered, the cloud accepted 59"), std::string::npos);
  h.end.streams[0] = {0, 0, 100, 60, 40, 39, 0, 60};  // the buffer's runs and its count disagree
  violations = check_history(h);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].invariant, "telemetry-conservation");
}

TEST(InvariantChecks, ReportsEachViolationAsItIsFound) {
  // A runtime logs violations as they happen: the callback sees each one with its time.
  InvariantChecks checks(fleet());
  std::vector<double> seen;
  checks.on_violation([&](const reports::InvariantViolation& v) { seen.push_back(v.at_s); });
  checks.observe(DiskUsage{7, 0, 2000});
  EXPECT_EQ(seen, std::vector<double>{7});
  checks.finish(RunEnd{});
  EXPECT_EQ(checks.violations().size(), 1u);
}

TEST(Metrics, OperationTimesByName) {
  // time_to_abort is an operation metric of its own, not a percentile (it once made the lookup throw); each
  // time_to_<p> reads its percentile, and an unknown field is no metric.
  reports::RunResult r;
  reports::OperationResult op;
  op.name = "upgrade";
  op.started_at_s = 100;
  op.aborted_at_s = 160;
  op.time_to_pct = {{50, 20.0}, {90, 40.0}, {99, std::nullopt}, {100, std::nullopt}};
  r.operations.push_back(op);
  EXPECT_EQ(metric_value(r, "upgrade.time_to_abort"), 60.0);
  EXPECT_EQ(metric_value(r, "upgrade.time_to_90"), 40.0);
  EXPECT_EQ(metric_value(r, "upgrade.time_to_99"), std::nullopt);
  EXPECT_EQ(metric_value(r, "upgrade.time_to_75"), std::nullopt);
  EXPECT_EQ(metric_value(r, "upgrade.time_to_"), std::nullopt);
  r.operations[0].aborted_at_s.reset();
  EXPECT_EQ(metric_value(r, "upgrade.time_to_abort"), std::nullopt);
}

// ---- what a violation does to the run's result (reports/) ----------------------------------------------------------

TEST(RunResultOfViolations, AViolationFailsARunWhoseExpectationsAllPass) {
  // RunResult::passed and result() count invariant violations as much as failed expectations, and junit.xml has a
  // failing test case for the violation. (Killed mutant: rep-passed-ignores-violations.)
  reports::RunResult r;
  reports::ExpectationResult e;
  e.text = "upgrade.failed == 0";
  e.metric = "upgrade.failed";
  e.op = "==";
  e.unit = "count";
  e.measured = 0;
  e.passed = true;
  r.expectations.push_back(e);
  EXPECT_TRUE(r.passed());
  EXPECT_EQ(r.result(), "pass");
  r.violations.push_back({"disk-within-budget", "store-1/n1 stored 1500 bytes on a disk of 1000", 4});
  EXPECT_FALSE(r.passed());
  EXPECT_EQ(r.result(), "fail");
  const std::string path = ::testing::TempDir() + "checks_test_junit.xml";
  reports::write_junit_xml(r, path);
  std::ifstream in(path);
  const std::string xml((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(xml.find("failures=\"1\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("disk-within-budget"), std::string::npos) << xml;
}

// ---- tests for survivors of the full mutation run (docs/MUTATION.md) --------------------------------------------

TEST(NodeInvariants, EachNodeIsJudgedAgainstItsOwnDisk) {
  // disk-budget uses the node's own disk: store-1/n2 has 500 bytes, store-1/n1 1000; 800 bytes on n2 break
  // it. (Killed mutant: chk-disk-budget-first-node.)
  FleetLayout f = fleet();
  f.nodes[1].disk_bytes = 500;
  auto violations = check_history(History{f, {DiskUsage{1, 1, 800}}, RunEnd{}});
  ASSERT_EQ(violations.size(), 1u) << ::testing::PrintToString(names(violations));
  EXPECT_EQ(violations[0].invariant, "disk-budget");
}

TEST(OperationInvariants, TheCanaryIsHeldForTheCanaryTime) {
  // batch-starts-after-previous-gate after a canary uses canary_time (100 s), not healthy_time (10 s): the canary
  // completed at 10 s and the next batch started at 50 s. (Killed mutant: chk-gate-of-wrong-batch.)
  agents::Operation op = operation({0, 1});
  op.strategy.kind = agents::Strategy::Kind::canary;
  op.strategy.canary_time_s = 100;
  op.strategy.healthy_time_s = 10;
  op.wave_begin = {0, 1};
  op.wave_started_at = {0, 50};
  op.wave_completed_at = {10, 60};
  auto violations = check_history(with_operation(op));
  ASSERT_EQ(violations.size(), 1u) << ::testing::PrintToString(names(violations));
  EXPECT_EQ(violations[0].invariant, "batch-starts-after-previous-gate");
}

TEST(OperationInvariants, TheLastNodeOfABatchIsCheckedToo) {
  // notified-only-in-its-batch covers every node of a batch, its last one included: batches {n1, n2} (started at 5 s)
  // and {n3, n4}; store-1/n2 heard at 2 s. (Killed mutant: chk-batch-last-node-unchecked.)
  agents::Operation op = operation({0, 1, 2, 3});
  op.strategy.kind = agents::Strategy::Kind::batches;
  op.wave_begin = {0, 2};
  op.wave_started_at = {5, 70};
  op.wave_completed_at = {20, 80};
  auto violations =
      check_history(with_operation(op, {DesiredStateHandled{2, 1, "pos", 2, 2, false, 1, false, true}}));
  ASSERT_EQ(violations.size(), 1u) << ::testing::PrintToString(names(violations));
  EXPECT_EQ(violations[0].invariant, "notified-only-in-its-batch");
}

TEST(OperationInvariants, TheRollingWindowIsPerSite) {
  // rolling-window-holds computes the window from the site's node count: 50 % of a site of 2 is 1 node, though 50 %
  // of the operation's 4 would be 2; both nodes of each site updated at once. (Killed mutant:
  // chk-rolling-window-of-operation.)
  agents::Operation op = operation({0, 1, 2, 3});
  op.strategy.kind = agents::Strategy::Kind::rolling;
  op.strategy.max_unavailable_percent = 50;
  auto violations = check_history(with_operation(op));
  ASSERT_FALSE(violations.empty());
  for (const auto& v : violations) EXPECT_EQ(v.invariant, "rolling-window-holds") << v.detail;
}

TEST(TelemetryInvariants, AStreamBoundedByMessagesIsCheckedByMessages) {
  // telemetry-storage-limit checks max_msgs too: the "events" stream holds at most 100 messages and reports 150 (of
  // 150 bytes, no byte bound). (Killed mutant: chk-storage-msgs-unchecked.)
  auto violations = check_history(history({TelemetryProduced{10, 0, 1, 150, 150, 150}}));
  ASSERT_EQ(violations.size(), 1u) << ::testing::PrintToString(names(violations));
  EXPECT_EQ(violations[0].invariant, "telemetry-storage-limit");
}

TEST(TelemetryInvariants, TheTtlIsJudgedOnTheOldestMessageOfARun) {
  // telemetry-ttl looks at the oldest message a run carries: messages 1..50 produced at 1..50 s and sent at 99 s
  // with a TTL of 60 s: message 1 is 98 s old, though the newest is only 49 s old. (Killed mutant: chk-ttl-at-arrival.)
  auto violations = check_history(history({BatchArrived{100, 0, 99, {run(0, 1, 50, 0)}, {run(0, 1, 50, 0)}}}));
  ASSERT_EQ(violations.size(), 1u) << ::testing::PrintToString(names(violations));
  EXPECT_EQ(violations[0].invariant, "telemetry-ttl");
}

TEST(Expectations, AMetricNeverMeasuredFailsItsExpectation) {
  // "upgrade.time_to_100 <= 1h" when 100 % was never reached: not measured, so not passed, whatever the bound.
  // (Killed mutant: chk-expect-unmeasured-passes.)
  reports::RunResult r;
  reports::OperationResult op;
  op.name = "upgrade";
  op.time_to_pct = {{50, 20.0}, {90, std::nullopt}, {99, std::nullopt}, {100, std::nullopt}};
  r.operations.push_back(op);
  auto results = evaluate({Expectation{"upgrade.time_to_100 <= 1h", "s.lua:9", "upgrade.time_to_100", "<=", 3600,
                                       "seconds", ""}},
                          r);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].measured.has_value());
  EXPECT_FALSE(results[0].passed);
}

TEST(RunResultOfViolations, AnUnmeasuredExpectationOrAnInterruptionFailsTheRun) {
  // RunResult::passed is false for an expectation that failed because its metric was never measured, and for an
  // interrupted run, whose result() says "interrupted". (Killed mutants: rep-passed-ignores-unmeasured,
  // rep-passed-when-interrupted.)
  reports::RunResult r;
  reports::ExpectationResult e;
  e.text = "upgrade.time_to_100 <= 1h";
  e.metric = "upgrade.time_to_100";
  e.op = "<=";
  e.unit = "seconds";
  e.expected = 3600;
  e.passed = false;  // never measured
  r.expectations.push_back(e);
  EXPECT_FALSE(r.passed());
  EXPECT_EQ(r.result(), "fail");
  reports::RunResult interrupted;
  interrupted.interrupted = true;
  EXPECT_FALSE(interrupted.passed());
  EXPECT_EQ(interrupted.result(), "interrupted");
}

}  // namespace
}  // namespace fleetsim::checks
