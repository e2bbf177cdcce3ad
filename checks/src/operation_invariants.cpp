#include "operation_invariants.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <vector>

namespace fleetsim::checks {
namespace {

using agents::NodeOutcome;

// Batches: the gates, checked on two paths: the orchestrator's own records, and the times the nodes (not the
// orchestrator) saw their notification.
void check_gates(const FleetLayout& fleet, const OperationRecord& record, const FirstNotified& first_notified,
                 ViolationLog& log) {
  const agents::Operation& op = record.op;
  for (std::size_t w = 0; w < op.wave_started_at.size(); ++w) {
    const std::size_t begin = op.wave_begin[w];
    const std::size_t end = w + 1 < op.wave_begin.size() ? op.wave_begin[w + 1] : op.targets.size();
    if (w > 0 && op.wave_started_at[w] + 1e-9 < op.wave_completed_at[w - 1] + op.strategy.gate_after(w - 1))
      log.add({"batch-starts-after-previous-gate",
               "operation " + record.name + ": batch " + std::to_string(w + 1) + " started at " +
                   format_g(op.wave_started_at[w]) + " s, before the gate of batch " + std::to_string(w) + " passed",
               op.wave_started_at[w]});
    for (std::size_t i = begin; i < end; ++i) {
      const double seen = first_notified(op.app, op.generation, op.targets[i].node);
      if (seen >= 0 && seen + 1e-9 < op.wave_started_at[w])
        log.add({"notified-only-in-its-batch",
                 fleet.nodes[op.targets[i].node].name + " was notified at " + format_g(seen) +
                     " s, before its batch started",
                 seen});
    }
  }
}

void check_terminal(const OperationRecord& record, const RunEnd& end, ViolationLog& log) {
  const agents::Operation& op = record.op;
  if (op.terminal() != op.targets.size())
    log.add({"terminal-states-account-for-every-target",
             "operation " + record.name + ": " + std::to_string(op.targets.size() - op.terminal()) + " of " +
                 std::to_string(op.targets.size()) + " targeted nodes never reached a terminal state",
             end.t});
}

// revert_all converges: every node the rollback targeted is back on the stable revision within its deadline.
void check_revert(const FleetLayout& fleet, const OperationRecord& record, const RunEnd& end, ViolationLog& log) {
  const agents::Operation& op = record.op;
  if (!op.is_rollback || end.hit_max_time) return;
  for (const auto& target : op.targets)
    if (target.outcome == NodeOutcome::failed || target.outcome == NodeOutcome::timed_out)
      log.add({"revert-all-converges",
               fleet.nodes[target.node].name + " did not return to revision " + std::to_string(op.to_revision) +
                   " of " + op.app + " (" + agents::to_string(target.outcome) + ": " + target.detail + ")",
               target.finished_at});
}

// The abort rule fires within one check of its threshold being crossed, recomputed from the targets' own times:
// executed targets (succeeded, failed, timed out) in time order, a node that turned unhealthy counting first as a
// success and then as a failure. Simultaneous outcomes may be taken in any order: the abort must fall between the
// earliest and the latest crossing those orders allow.
struct AbortStep {
  double t;
  int executed;
  int bad;
};

std::vector<AbortStep> abort_steps(const OperationRecord& record) {
  std::vector<AbortStep> steps;
  for (const auto& target : record.op.targets) {
    const bool failed = target.outcome == NodeOutcome::failed;
    const bool timed_out = target.outcome == NodeOutcome::timed_out;
    const bool bad = record.abort_failure_type == agents::Command::FailureType::failed      ? failed
                     : record.abort_failure_type == agents::Command::FailureType::timed_out ? timed_out
                                                                                            : failed || timed_out;
    if (target.succeeded_at >= 0) steps.push_back({target.succeeded_at, 1, 0});
    if (failed || timed_out) steps.push_back({target.finished_at, target.succeeded_at >= 0 ? 0 : 1, bad ? 1 : 0});
  }
  return steps;
}

std::optional<double> abort_crossing(const OperationRecord& record, std::vector<AbortStep> steps, bool failures_first) {
  std::stable_sort(steps.begin(), steps.end(), [&](const AbortStep& a, const AbortStep& b) {
    if (a.t != b.t) return a.t < b.t;
    return failures_first ? a.bad > b.bad : a.bad < b.bad;
  });
  double executed = 0, bad = 0;
  const double min_executed = static_cast<double>(std::max<std::uint64_t>(record.abort_min_executed, 1));
  for (const auto& step : steps) {
    executed += step.executed;
    bad += step.bad;
    if (executed >= min_executed && 100.0 * bad >= record.abort_threshold_percent * executed) return step.t;
  }
  return std::nullopt;
}

void check_abort(const OperationRecord& record, ViolationLog& log) {
  if (!(record.abort_threshold_percent > 0)) return;
  const agents::Operation& op = record.op;
  const auto steps = abort_steps(record);
  auto early = abort_crossing(record, steps, true), late = abort_crossing(record, steps, false);
  if (early && op.finished_at && *early > *op.finished_at) early.reset();
  if (late && op.finished_at && *late > *op.finished_at) late.reset();
  const std::optional<double>& aborted = op.aborted_at;
  if (!early && !aborted) return;
  const double latest = late ? *late : early ? *early : 0.0;
  if (early && (!aborted || *aborted + 1e-6 < *early || *aborted > latest + 1e-6))
    log.add({"abort-within-one-check",
             "operation " + record.name + ": the abort threshold was crossed at " + format_g(*early) +
                 " s, the abort " + (aborted ? "fired at " + format_g(*aborted) + " s" : std::string("never fired")),
             *early});
  if (!early && aborted)
    log.add(
        {"abort-within-one-check",
         "operation " + record.name + " aborted at " + format_g(*aborted) + " s though its threshold was never crossed",
         *aborted});
}

// Rolling: in every site, never more nodes updating at once than its window.
void check_rolling(const FleetLayout& fleet, const OperationRecord& record, ViolationLog& log) {
  const agents::Operation& op = record.op;
  if (op.strategy.kind != agents::Strategy::Kind::rolling) return;
  std::map<std::size_t, std::vector<std::pair<double, int>>> by_site;
  std::map<std::size_t, std::size_t> targets_in_site;
  for (const auto& target : op.targets) {
    const std::size_t site = fleet.nodes[target.node].site;
    ++targets_in_site[site];
    if (target.notified_at < 0) continue;
    by_site[site].emplace_back(target.notified_at, 1);
    if (target.finished_at >= 0) by_site[site].emplace_back(target.finished_at, -1);
  }
  for (auto& [site, steps] : by_site) {
    std::sort(steps.begin(), steps.end());  // at equal times an end (-1) comes before a start (+1)
    const std::size_t window = op.strategy.rolling_window(targets_in_site[site]);
    long in_progress = 0;
    for (const auto& [t, delta] : steps) {
      in_progress += delta;
      if (in_progress > static_cast<long>(window)) {
        log.add({"rolling-window-holds",
                 "operation " + record.name + ": " + std::to_string(in_progress) + " nodes of " +
                     fleet.sites[site].name + " updating at once, window " + std::to_string(window),
                 t});
        break;
      }
    }
  }
}

// Exponential rate: never faster than its maximum (notifications at least 60 / maximum_per_minute apart).
void check_rate(const OperationRecord& record, ViolationLog& log) {
  const agents::Operation& op = record.op;
  if (op.strategy.kind != agents::Strategy::Kind::exponential || !(op.strategy.maximum_per_minute > 0)) return;
  std::vector<double> sent;
  for (const auto& target : op.targets)
    if (target.notified_at >= 0) sent.push_back(target.notified_at);
  std::sort(sent.begin(), sent.end());
  const double gap = 60.0 / op.strategy.maximum_per_minute;
  for (std::size_t i = 1; i < sent.size(); ++i)
    if (sent[i] - sent[i - 1] < gap - 1e-6) {
      log.add({"rate-limit-holds",
               "operation " + record.name + ": two nodes notified " + format_g(sent[i] - sent[i - 1]) +
                   " s apart, the maximum rate allows " + format_g(gap) + " s",
               sent[i]});
      break;
    }
}

}  // namespace

void check_operation(const FleetLayout& fleet, const OperationRecord& record, const RunEnd& end,
                     const FirstNotified& first_notified, ViolationLog& log) {
  check_gates(fleet, record, first_notified, log);
  // An operation an interrupt cut short has no outcome to judge yet.
  if (!end.interrupted || record.op.finished()) {
    check_terminal(record, end, log);
    check_revert(fleet, record, end, log);
    check_abort(record, log);
  }
  check_rolling(fleet, record, log);
  check_rate(record, log);
}

}  // namespace fleetsim::checks
