// The orchestrator on SimGrid: agents/orchestrator.hpp in its own actor on the orchestrator host. Commands come from
// the timeline, status reports and polls from the nodes; a restart fault stops the process but keeps its store.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "fleetsim/agents/orchestrator.hpp"
#include "world.hpp"

namespace fleetsim::sim {

class SimOrchestrator final : public Receiver,
                              public agents::Clock,
                              public agents::Timers,
                              public agents::OrchestratorChannel {
 public:
  SimOrchestrator(World& world, std::vector<agents::NodeInfo> inventory);

  void run() { loop_.run(); }
  EventLoop& loop() override { return loop_; }
  void receive(const Envelope& envelope) override;
  void send_failed(std::size_t node, const agents::Message& message) override;
  bool accepting() const override { return !down_; }
  // The orchestrator process stops: its timers go; its state (desired state, operations, outcomes) is in its
  // store and survives. Commands that arrive meanwhile wait for it, as a client retrying the API would.
  void crash() override;
  void boot() override;

  agents::Time now() const override;
  agents::TimerId set_timer(double delay_s) override;
  void cancel_timer(agents::TimerId id) override;
  void send_to_node(agents::NodeId node, const agents::Message& message) override;

  const agents::Orchestrator& orchestrator() const { return orchestrator_; }
  // Operation names by id, as the scenario gave them.
  const std::map<std::uint32_t, std::string>& names() const { return names_; }

 private:
  std::string name_of(std::uint32_t id) const;
  void submit(const Envelope& envelope);
  void account(const agents::Message& message);
  void maybe_settled();

  World& world_;
  EventLoop loop_;
  agents::Orchestrator orchestrator_;
  std::map<std::uint32_t, std::string> names_;
  std::size_t submitted_ = 0;
  bool settled_sent_ = false;
  bool down_ = false;
  std::set<agents::TimerId> timers_;
  std::vector<Envelope> held_commands_;
};

}  // namespace fleetsim::sim
