// Invariants of what each node is told and does, checked as records arrive: no downgrade outside a rollback, a
// resend restarts nothing, a healthy report matches the running release, the disk budget, always bootable, a
// local rollback restores exactly the previous release.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "fleetsim/checks/history.hpp"
#include "violation_log.hpp"

namespace fleetsim::checks {

class NodeInvariants {
 public:
  NodeInvariants(const FleetLayout& fleet, ViolationLog& log);

  void observe(const DesiredStateHandled& r);
  void observe(const StatusSent& r);
  void observe(const DiskUsage& r);
  void observe(const PowerEvent& r);

  // When each node first received the desired state of (app, generation) (a negative value: never); the node's own
  // side of the batch gates.
  double first_notified(const std::string& app, std::uint64_t generation, std::size_t node) const;

 private:
  const FleetLayout& fleet_;
  ViolationLog& log_;
  std::vector<std::map<std::string, agents::Revision>> last_desired_;  // per node, per app: the newest revision told
  // Per node, (app, generation): the revision it had committed when that desired state arrived.
  std::vector<std::map<std::pair<std::string, std::uint64_t>, agents::Revision>> committed_at_handover_;
  std::vector<bool> bootable_before_crash_;
  std::map<std::pair<std::string, std::uint64_t>, std::vector<double>> notified_;
};

}  // namespace fleetsim::checks
