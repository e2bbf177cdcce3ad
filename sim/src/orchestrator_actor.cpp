#include "orchestrator_actor.hpp"

#include "logging.hpp"

namespace fleetsim::sim {

namespace sg4 = simgrid::s4u;

SimOrchestrator::SimOrchestrator(World& world, std::vector<agents::NodeInfo> inventory)
    : world_(world), orchestrator_(std::move(inventory), agents::OrchestratorPorts{*this, *this, *this}) {
  orchestrator_.on_operation_finished([this](const agents::Operation& op) {
    logger("orchestrator")
        ->info("operation {} finished: {}/{} healthy, {} failed, {} timed out", name_of(op.id), op.succeeded,
               op.targets.size(), op.failed, op.timed_out);
    maybe_settled();
  });
}

// The scenario's name of an operation, or "<name>_revert" for a rollback the orchestrator started itself.
std::string SimOrchestrator::name_of(std::uint32_t id) const {
  if (auto it = names_.find(id); it != names_.end()) return it->second;
  for (const auto& op : orchestrator_.operations())
    if (op.rolled_back_by == id) return name_of(op.id) + "_revert";
  return "#" + std::to_string(id);
}

void SimOrchestrator::send_failed(std::size_t node, const agents::Message& message) {
  orchestrator_.on_send_failed(static_cast<agents::NodeId>(node), message);
}

void SimOrchestrator::crash() {
  loop_.post_at(sg4::Engine::get_clock(), [this] {
    if (down_) return;
    down_ = true;
    for (auto id : timers_) loop_.cancel_timer(id);
    timers_.clear();
  });
}

void SimOrchestrator::boot() {
  loop_.post_at(sg4::Engine::get_clock(), [this] {
    if (!down_) return;
    down_ = false;
    orchestrator_.on_restart();
    std::vector<Envelope> held = std::move(held_commands_);
    held_commands_.clear();
    for (const auto& envelope : held) receive(envelope);
  });
}

void SimOrchestrator::receive(const Envelope& envelope) {
  if (down_) {
    if (envelope.kind == Envelope::Kind::command) held_commands_.push_back(envelope);
    return;  // a message to a stopped process is refused (senders learn it through send_failed)
  }
  if (envelope.kind == Envelope::Kind::command) {
    submit(envelope);
  } else if (envelope.kind == Envelope::Kind::message) {
    account(envelope.message);
    orchestrator_.on_message(envelope.message);
  }
}

void SimOrchestrator::submit(const Envelope& envelope) {
  const auto& c = envelope.command;
  // Named before submit: an operation with no target finishes (and is logged) inside submit.
  const auto next_id = static_cast<std::uint32_t>(orchestrator_.operations().size()) + 1;
  names_[next_id] = envelope.operation_name;
  std::uint32_t id = orchestrator_.submit(c);
  if (id != next_id) names_[id] = names_.extract(next_id).mapped();
  const auto& op = orchestrator_.operations().back();
  logger("orchestrator")
      ->info("operation {} ({} {} version {} as revision {}) targets {} nodes", envelope.operation_name,
             c.kind == agents::Command::Kind::deploy ? "deploy" : "rollout", c.release.app, c.release.version,
             op.to_revision, op.targets.size());
  ++submitted_;
  maybe_settled();
}

// Status reports and polls cross the node's site uplink.
void SimOrchestrator::account(const agents::Message& message) {
  std::size_t node = 0;
  if (const auto* status = std::get_if<agents::StatusReport>(&message))
    node = status->node;
  else if (const auto* poll = std::get_if<agents::Poll>(&message))
    node = poll->node;
  else
    return;
  const std::uint64_t size = agents::wire_size(message);
  world_.control_bytes += size;
  world_.site_uplink_bytes[world_.platform.nodes[node].site_index] += size;
  world_.site_up_bytes[world_.platform.nodes[node].site_index] += size;
}

agents::Time SimOrchestrator::now() const { return sg4::Engine::get_clock(); }

agents::TimerId SimOrchestrator::set_timer(double delay_s) {
  auto id = std::make_shared<agents::TimerId>(0);
  *id = loop_.add_timer(delay_s, [this, id] {
    timers_.erase(*id);
    orchestrator_.on_timer(*id);
  });
  timers_.insert(*id);
  return *id;
}

void SimOrchestrator::cancel_timer(agents::TimerId id) {
  timers_.erase(id);
  loop_.cancel_timer(id);
}

void SimOrchestrator::send_to_node(agents::NodeId node, const agents::Message& message) {
  world_.send_to_node(node, message);
}

void SimOrchestrator::maybe_settled() {
  if (settled_sent_ || submitted_ < world_.scenario.timeline.size() || !orchestrator_.all_operations_finished()) return;
  settled_sent_ = true;
  auto* envelope = new Envelope{Envelope::Kind::settled, {}, {}, {}};
  world_.admin_inbox->put_init(envelope, 0)->detach([](void* payload) { delete static_cast<Envelope*>(payload); });
}


}  // namespace fleetsim::sim
