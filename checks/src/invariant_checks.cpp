#include "fleetsim/checks/invariants.hpp"
#include "node_invariants.hpp"
#include "operation_invariants.hpp"
#include "telemetry_invariants.hpp"
#include "violation_log.hpp"

namespace fleetsim::checks {

InvariantChecks::InvariantChecks(FleetLayout fleet)
    : fleet_(std::move(fleet)),
      log_(std::make_unique<ViolationLog>()),
      nodes_(std::make_unique<NodeInvariants>(fleet_, *log_)),
      telemetry_(std::make_unique<TelemetryInvariants>(fleet_, *log_)) {}

InvariantChecks::~InvariantChecks() = default;

void InvariantChecks::on_violation(std::function<void(const reports::InvariantViolation&)> callback) {
  log_->on_violation(std::move(callback));
}

void InvariantChecks::observe(const Record& record) {
  std::visit(
      [this](const auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, DesiredStateHandled> || std::is_same_v<T, StatusSent> ||
                      std::is_same_v<T, DiskUsage> || std::is_same_v<T, PowerEvent>)
          nodes_->observe(r);
        else
          telemetry_->observe(r);
      },
      record);
}

void InvariantChecks::observe(const TelemetryProduced& r) { telemetry_->observe(r); }
void InvariantChecks::observe(const BatchSent& r) { telemetry_->observe(r); }
void InvariantChecks::observe(const BatchArrived& r) { telemetry_->observe(r); }
void InvariantChecks::observe(const BatchAcknowledged& r) { telemetry_->observe(r); }

void InvariantChecks::finish(const RunEnd& end) {
  const FirstNotified first_notified = [this](const std::string& app, std::uint64_t generation, std::size_t node) {
    return nodes_->first_notified(app, generation, node);
  };
  for (const auto& operation : end.operations) check_operation(fleet_, operation, end, first_notified, *log_);
  telemetry_->finish(end);
}

const std::vector<reports::InvariantViolation>& InvariantChecks::violations() const { return log_->violations(); }

const std::vector<std::pair<std::string, std::string>>& InvariantChecks::catalogue() {
  static const std::vector<std::pair<std::string, std::string>> invariants{
      {"terminal-states-account-for-every-target",
       "at the end, every targeted node of every operation is succeeded, failed, timed out or canceled"},
      {"no-downgrade-without-rollback",
       "no node is sent an older revision of an app than it was sent before, unless the message is a rollback"},
      {"healthy-report-matches-running-release", "a node reports healthy only for the release it runs"},
      {"disk-budget", "a node's layer store never exceeds its disk"},
      {"always-bootable", "a node that had a committed release before a power loss has one after it"},
      {"batch-starts-after-previous-gate", "a batch starts only after the previous batch held its healthy time"},
      {"notified-only-in-its-batch", "no node sees its notification before its batch started"},
      {"local-rollback-restores-previous",
       "a node that failed an update (local rollback) runs exactly the revision it had committed before it"},
      {"resend-restarts-nothing", "a desired state the node already applied starts no container"},
      {"revert-all-converges", "every node a revert_all targeted is back on the stable revision"},
      {"abort-within-one-check", "the abort fires when its threshold is crossed, and only then"},
      {"rolling-window-holds", "in every site, never more nodes updating at once than the rolling window"},
      {"rate-limit-holds", "no two notifications closer than the exponential rollout's maximum rate allows"},
      {"telemetry-storage-limit", "no stream holds more bytes or messages than its bounds"},
      {"telemetry-conservation", "for every stream, produced = delivered + buffered + dropped"},
      {"telemetry-ttl", "nothing older than its TTL is sent"},
      {"telemetry-order", "no message reaches the cloud after a later one of its stream (and is discarded)"},
      {"telemetry-at-least-once", "every message acknowledged to the broker is at the cloud"},
      {"telemetry-crash-loss", "a broker crash loses at most what its storage allows (one sync interval on disk)"},
      {"telemetry-upload-cap", "batches never leave faster than the upload cap"},
  };
  return invariants;
}

std::vector<reports::InvariantViolation> check_history(const History& history) {
  InvariantChecks checks(history.fleet);
  for (const auto& record : history.records) checks.observe(record);
  checks.finish(history.end);
  return checks.violations();
}

}  // namespace fleetsim::checks
