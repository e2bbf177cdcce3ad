#include "node_invariants.hpp"

#include <algorithm>

namespace fleetsim::checks {

using agents::NodeAppState;

NodeInvariants::NodeInvariants(const FleetLayout& fleet, ViolationLog& log)
    : fleet_(fleet),
      log_(log),
      last_desired_(fleet.nodes.size()),
      committed_at_handover_(fleet.nodes.size()),
      bootable_before_crash_(fleet.nodes.size(), false) {}

void NodeInvariants::observe(const DesiredStateHandled& r) {
  const std::string& name = fleet_.nodes[r.node].name;
  auto& notified = notified_[{r.app, r.generation}];
  if (notified.empty()) notified.assign(fleet_.nodes.size(), -1.0);
  if (notified[r.node] < 0) notified[r.node] = r.t;
  auto& last = last_desired_[r.node][r.app];
  if (r.revision < last && !r.rollback)
    log_.once("no-downgrade-without-rollback", r.node, r.t,
              name + " was told to go from revision " + std::to_string(last) + " to " + std::to_string(r.revision) +
                  " of " + r.app + " outside a rollback");
  last = std::max(last, r.revision);
  committed_at_handover_[r.node].emplace(std::make_pair(r.app, r.generation), r.committed);
  if (r.already_applied && r.started_container)
    log_.once("resend-restarts-nothing", r.node, r.t,
              name + " restarted " + r.app + " when told again to run revision " + std::to_string(r.revision) +
                  ", which it ran");
}

void NodeInvariants::observe(const StatusSent& r) {
  const std::string& name = fleet_.nodes[r.node].name;
  if (r.state == NodeAppState::healthy && r.running != r.revision)
    log_.once(
        "healthy-report-matches-running-release", r.node, r.t,
        name + " reported revision " + std::to_string(r.revision) + " of " + r.app + " healthy but does not run it");
  if (r.state != NodeAppState::failed || !fleet_.nodes[r.node].local_rollback) return;
  // A local rollback restores exactly the release the node had committed when this update arrived.
  const auto& handover = committed_at_handover_[r.node];
  auto before = handover.find({r.app, r.generation});
  if (before == handover.end() || before->second == 0 || r.running == before->second) return;
  log_.once("local-rollback-restores-previous", r.node, r.t,
            name + " failed revision " + std::to_string(r.revision) + " of " + r.app + " and runs revision " +
                (r.running != 0 ? std::to_string(r.running) : std::string("none")) + ", not the revision " +
                std::to_string(before->second) + " it ran before");
}

void NodeInvariants::observe(const DiskUsage& r) {
  const std::uint64_t disk = fleet_.nodes[r.node].disk_bytes;
  if (r.stored_bytes > disk)
    log_.once("disk-budget", r.node, r.t,
              fleet_.nodes[r.node].name + " stores " + std::to_string(r.stored_bytes) + " bytes, budget " +
                  std::to_string(disk));
}

void NodeInvariants::observe(const PowerEvent& r) {
  if (!r.boot) {
    bootable_before_crash_[r.node] = r.has_committed;
    return;
  }
  if (bootable_before_crash_[r.node] && !r.has_committed)
    log_.once("always-bootable", r.node, r.t,
              fleet_.nodes[r.node].name + " had a committed release before a crash and none after");
}

double NodeInvariants::first_notified(const std::string& app, std::uint64_t generation, std::size_t node) const {
  auto it = notified_.find({app, generation});
  return it == notified_.end() ? -1.0 : it->second[node];
}

}  // namespace fleetsim::checks
