// The invariants every run is checked against (docs/ARCHITECTURE.md, "Invariants checked on every run"), judged
// from a run's history (history.hpp), never from the objects of the runtime that produced it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fleetsim/checks/history.hpp"
#include "fleetsim/reports/run_result.hpp"

namespace fleetsim::checks {

class NodeInvariants;
class TelemetryInvariants;
class ViolationLog;

// Feed it the records of a run as they happen, then the run's end. A violation found while records arrive is
// reported once per (invariant, node); the end-of-run checks of operations report each finding.
class InvariantChecks {
 public:
  explicit InvariantChecks(FleetLayout fleet);
  ~InvariantChecks();
  InvariantChecks(const InvariantChecks&) = delete;
  InvariantChecks& operator=(const InvariantChecks&) = delete;

  // Called with each violation when it is found (a runtime logs it); set before the first record.
  void on_violation(std::function<void(const reports::InvariantViolation&)> callback);

  void observe(const Record& record);
  // The same for the records every telemetry batch makes, without building a Record (a variant) for each.
  void observe(const TelemetryProduced& r);
  void observe(const BatchSent& r);
  void observe(const BatchArrived& r);
  void observe(const BatchAcknowledged& r);
  // The end-of-run invariants: every operation's targets, gates, windows, rates and rollbacks; telemetry
  // conservation. Call once, after the last record.
  void finish(const RunEnd& end);

  const std::vector<reports::InvariantViolation>& violations() const;
  const FleetLayout& fleet() const { return fleet_; }

  // Every invariant this library checks, by name, with what it means (one line each).
  static const std::vector<std::pair<std::string, std::string>>& catalogue();

 private:
  FleetLayout fleet_;
  std::unique_ptr<ViolationLog> log_;
  std::unique_ptr<NodeInvariants> nodes_;
  std::unique_ptr<TelemetryInvariants> telemetry_;
};

// Checks a whole recorded history at once (tests, tools that re-read a run).
std::vector<reports::InvariantViolation> check_history(const History& history);

}  // namespace fleetsim::checks
