// The test build of fleetsim (`fleetsim_hooked`): with FLEETSIM_MISBEHAVE=<invariant>, the run ends with a history
// that breaks that invariant, so that a test can show the whole run failing on it (exit code 1; named in
// report.json, junit.xml and the summary). The records are the smallest misbehaviour of an agent that breaks it,
// on the run's own nodes and site: node 0 and 1 of the first site, whose telemetry bus must have a memory stream
// with a byte bound, a TTL and an upload cap (tests/cli_test.cpp's scenario has them).
#include <cstdlib>
#include <string>

#include "fleetsim/sim/test_hooks.hpp"

namespace fleetsim::sim::test_hooks {
namespace {

using agents::NodeAppState;
using agents::NodeOutcome;
using agents::telemetry::MessageRun;
using namespace checks;

constexpr std::uint64_t kFar = 1'000'000'000'000ULL;  // sequence numbers far above anything the run produced

MessageRun run(std::uint64_t first, std::uint64_t count, double t0) {
  MessageRun r;
  r.first_seq = first;
  r.count = count;
  r.msg_bytes = 10;
  r.t0 = t0;
  r.dt = 1;
  return r;
}

agents::Operation operation() {
  agents::Operation op;
  op.id = 1000;
  op.app = "hooked";
  op.generation = 99;
  op.to_revision = 2;
  op.finished_at = 10;
  for (agents::NodeId n : {0u, 1u}) {
    agents::NodeProgress p;
    p.node = n;
    p.outcome = NodeOutcome::succeeded;
    p.notified_at = 0;
    p.finished_at = 10;
    p.succeeded_at = 10;
    op.targets.push_back(p);
  }
  op.succeeded = 2;
  return op;
}

// Operations the orchestrator could have got wrong.
bool misbehave_operation(const std::string& name, InvariantChecks& checks, RunEnd& end) {
  agents::Operation op = operation();
  double abort_threshold = 0;
  if (name == "terminal-states-account-for-every-target") {
    op.targets[1].outcome = NodeOutcome::pending;
    op.succeeded = 1;
  } else if (name == "batch-starts-after-previous-gate" || name == "notified-only-in-its-batch") {
    op.strategy.kind = agents::Strategy::Kind::batches;
    op.wave_begin = {0, 1};
    const bool gate = name == "batch-starts-after-previous-gate";
    op.strategy.healthy_time_s = gate ? 60 : 0;
    op.wave_started_at = {0, gate ? 30.0 : 70.0};
    op.wave_completed_at = {10, 80};
    if (!gate) checks.observe(DesiredStateHandled{20, 1, "hooked", 99, 2, false, 1, false, true});
  } else if (name == "revert-all-converges") {
    op.is_rollback = true;
    op.targets[1].outcome = NodeOutcome::timed_out;
  } else if (name == "abort-within-one-check") {
    op.targets[0].outcome = NodeOutcome::failed;
    op.targets[0].succeeded_at = -1;
    op.targets[0].finished_at = 5;
    op.aborted_at = 9;  // before the threshold was crossed at 10
    abort_threshold = 50;
  } else if (name == "rolling-window-holds") {
    op.strategy.kind = agents::Strategy::Kind::rolling;
    op.strategy.max_unavailable = 1;
    op.targets[1].notified_at = 5;
  } else if (name == "rate-limit-holds") {
    op.strategy.kind = agents::Strategy::Kind::exponential;
    op.strategy.maximum_per_minute = 60;
    op.targets[1].notified_at = 0.5;
  } else {
    return false;
  }
  end.operations.push_back({"hooked", op, abort_threshold, 2, agents::Command::FailureType::all});
  return true;
}

// A node agent's misbehaviour, at the end of the run.
bool misbehave_node(const std::string& name, InvariantChecks& checks, double t) {
  const std::uint64_t disk = checks.fleet().nodes[0].disk_bytes;
  if (name == "no-downgrade-without-rollback") {
    checks.observe(DesiredStateHandled{t, 0, "hooked", 100, 5, false, 0, false, true});
    checks.observe(DesiredStateHandled{t, 0, "hooked", 101, 4, false, 5, false, true});
  } else if (name == "resend-restarts-nothing") {
    checks.observe(DesiredStateHandled{t, 0, "hooked", 100, 5, false, 5, true, true});
  } else if (name == "healthy-report-matches-running-release") {
    checks.observe(StatusSent{t, 0, "hooked", 100, 5, NodeAppState::healthy, 4});
  } else if (name == "disk-budget") {
    checks.observe(DiskUsage{t, 0, disk + 1});
  } else if (name == "always-bootable") {
    checks.observe(PowerEvent{t, 0, false, true});
    checks.observe(PowerEvent{t, 0, true, false});
  } else if (name == "local-rollback-restores-previous") {
    checks.observe(DesiredStateHandled{t, 0, "hooked", 100, 1, false, 0, false, true});
    checks.observe(DesiredStateHandled{t, 0, "hooked", 101, 2, false, 1, false, true});
    checks.observe(DesiredStateHandled{t, 0, "hooked", 102, 3, false, 2, false, true});
    checks.observe(StatusSent{t, 0, "hooked", 102, 3, NodeAppState::failed, 1});
  } else {
    return false;
  }
  return true;
}

// The site bus's broker (or the cloud) misbehaving, on the first site's first stream.
bool misbehave_telemetry(const std::string& name, InvariantChecks& checks, RunEnd& end) {
  const double t = end.t;
  const StreamLayout& stream = checks.fleet().sites[0].bus->streams[0];
  if (name == "telemetry-storage-limit") {
    checks.observe(TelemetryProduced{t, 0, 0, kFar, stream.max_bytes + 1, 1});
  } else if (name == "telemetry-upload-cap") {
    checks.observe(BatchSent{t, 0, 1'000'000'000});
    checks.observe(BatchSent{t + 0.001, 0, 1});
  } else if (name == "telemetry-order") {
    checks.observe(BatchArrived{t, 0, t, {run(kFar + 6, 5, t - 1)}, {run(kFar + 6, 5, t - 1)}});
    checks.observe(BatchArrived{t, 0, t, {run(kFar + 1, 5, t - 1)}, {}});
  } else if (name == "telemetry-ttl") {
    const auto old = run(kFar + 100, 1, t - stream.ttl_s - 100);
    checks.observe(BatchArrived{t, 0, t, {old}, {old}});
  } else if (name == "telemetry-at-least-once") {
    checks.observe(BatchArrived{t, 0, t, {run(kFar + 200, 10, t - 1)}, {run(kFar + 200, 5, t - 1)}});
    checks.observe(BatchAcknowledged{t, 0, {run(kFar + 200, 10, t - 1)}, true});
  } else if (name == "telemetry-crash-loss") {
    checks.observe(BrokerCrashed{t, 0, 0, 1000, 10});
  } else if (name == "telemetry-conservation") {
    end.streams.push_back({0, 0, 100, 50, 40, 40, 5, 50});
  } else {
    return false;
  }
  return true;
}

}  // namespace

void before_finish(InvariantChecks& checks, RunEnd& end) {
  const char* which = std::getenv("FLEETSIM_MISBEHAVE");
  if (which == nullptr) return;
  const std::string name = which;
  if (misbehave_operation(name, checks, end) || misbehave_node(name, checks, end.t) ||
      misbehave_telemetry(name, checks, end))
    return;
  std::abort();  // a test asked for a misbehaviour this hook does not know: the test is wrong
}

}  // namespace fleetsim::sim::test_hooks
