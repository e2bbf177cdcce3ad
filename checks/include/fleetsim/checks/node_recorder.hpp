// The records of one node agent's life (history.hpp), made the same way by every runtime that hosts one: sim/ on
// SimGrid and net/ on real sockets call these around the agent's handlers, so the invariant checks judge a real run
// exactly as they judge a simulated one.
#pragma once

#include <cstdint>
#include <functional>

#include "fleetsim/agents/node_agent.hpp"
#include "fleetsim/checks/history.hpp"

namespace fleetsim::checks {

class NodeRecorder {
 public:
  using Sink = std::function<void(const Record&)>;
  NodeRecorder(std::size_t node, Sink sink) : node_(node), sink_(std::move(sink)) {}

  // Hands `message` to the agent (by calling `handle`) and records what a desired state did to the node.
  template <typename Handle>
  void message(double t, const agents::NodeAgent& agent, const agents::Message& message, Handle&& handle) {
    const auto* desired = std::get_if<agents::DesiredState>(&message);
    if (desired == nullptr) {
      handle();
      return;
    }
    DesiredStateHandled handled = before(t, agent, *desired);
    const unsigned starts = agent.container_starts();
    handle();
    handled.started_container = agent.container_starts() != starts;
    sink_(handled);
  }
  // The agent sent a status report (records what the node runs at that instant).
  void status(double t, const agents::NodeAgent& agent, const agents::StatusReport& report) {
    const agents::Release* running = agent.running(report.app);
    sink_(StatusSent{t, node_, report.app, report.generation, report.revision, report.state, running ? running->revision : 0});
  }
  // After any handler: the layer store's use, when it changed.
  void disk(double t, const agents::NodeAgent& agent) {
    const std::uint64_t stored = agent.bytes_stored();
    if (stored == disk_recorded_) return;
    disk_recorded_ = stored;
    sink_(DiskUsage{t, node_, stored});
  }
  // The node lost power (before on_crash) or came back (after on_boot).
  void power(double t, const agents::NodeAgent& agent, bool boot) {
    sink_(PowerEvent{t, node_, boot, agent.has_committed_release()});
  }

 private:
  DesiredStateHandled before(double t, const agents::NodeAgent& agent, const agents::DesiredState& desired) const {
    const agents::Release* committed = agent.running(desired.release.app);
    return {t, node_, desired.release.app, desired.generation, desired.release.revision, desired.rollback,
            committed ? committed->revision : 0,
            // re-sending an update the node has applied restarts nothing
            committed != nullptr && committed->revision == desired.release.revision && !agent.updating(desired.release.app),
            false};
  }
  std::size_t node_;
  Sink sink_;
  std::uint64_t disk_recorded_ = 0;
};

}  // namespace fleetsim::checks
