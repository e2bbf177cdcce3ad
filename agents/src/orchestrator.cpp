#include "fleetsim/agents/orchestrator.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace fleetsim::agents {

const char* to_string(NodeOutcome outcome) {
  switch (outcome) {
    case NodeOutcome::pending:
      return "pending";
    case NodeOutcome::succeeded:
      return "succeeded";
    case NodeOutcome::failed:
      return "failed";
    case NodeOutcome::timed_out:
      return "timed_out";
    case NodeOutcome::canceled:
      return "canceled";
  }
  return "?";
}

Orchestrator::Orchestrator(std::vector<NodeInfo> inventory, OrchestratorPorts ports)
    : inventory_(std::move(inventory)), ports_(ports) {
  for (std::size_t i = 0; i < inventory_.size(); ++i) index_of_node_[inventory_[i].id] = i;
}

std::optional<Revision> Orchestrator::desired_revision(const std::string& app) const {
  auto it = apps_.find(app);
  if (it == apps_.end() || !it->second.desired) return std::nullopt;
  return it->second.desired->revision;
}

bool Orchestrator::all_operations_finished() const {
  for (const auto& op : operations_)
    if (!op.finished()) return false;
  return true;
}

std::uint32_t Orchestrator::submit(Command command) {
  if (command.kind == Command::Kind::rollout) {
    auto known = apps_.find(command.release.app);
    if (known == apps_.end() || !known->second.desired) {
      Operation failed_op;
      failed_op.id = static_cast<std::uint32_t>(operations_.size()) + 1;
      failed_op.kind = command.kind;
      failed_op.app = command.release.app;
      failed_op.started_at = ports_.clock.now();
      operations_.push_back(std::move(failed_op));
      Operation& current = operations_.back();
      current.finished_at = current.started_at;
      finished_to_notify_.push_back(current.id);
      std::uint32_t id = current.id;
      notify_finished();
      return id;
    }
  }
  AppState& app = apps_[command.release.app];
  Operation op;
  op.id = static_cast<std::uint32_t>(operations_.size()) + 1;
  op.kind = command.kind;
  op.app = command.release.app;
  op.started_at = ports_.clock.now();
  op.from_revision = app.desired ? app.desired->revision : 0;

  if (command.kind == Command::Kind::deploy) {
    app.placement.clear();
    for (const auto& node : inventory_) {
      bool match = true;
      for (const auto& [key, value] : command.selector) {
        auto it = node.labels.find(key);
        if (it == node.labels.end() || it->second != value) {
          match = false;
          break;
        }
      }
      if (match) app.placement.push_back(node.id);
    }
  }
  // A newer operation on the same app supersedes the one in progress: its pending nodes are re-targeted now.
  if (app.operation) {
    Operation& previous = operations_[*app.operation - 1];
    for (auto& target : previous.targets)
      if (target.outcome == NodeOutcome::pending)
        finish_target(previous, target, NodeOutcome::canceled, "superseded by a newer operation");
  }

  command.release.revision = app.next_revision++;
  op.to_revision = command.release.revision;
  app.desired = command.release;
  ++app.generation;
  app.operation = op.id;
  operations_.push_back(std::move(op));
  Operation& current = operations_.back();

  // all_at_once: every placed node is notified now.
  const Time now = ports_.clock.now();
  DesiredState desired{app.generation, *app.desired};
  Message message{desired};
  for (NodeId node : app.placement) {
    target_index_[{current.id, node}] = current.targets.size();
    current.targets.push_back(NodeProgress{node, NodeOutcome::pending, now, -1, {}});
    if (command.node_deadline_s > 0) {
      Deadline deadline{now + command.node_deadline_s, current.id, current.targets.size() - 1};
      deadlines_.insert(std::upper_bound(deadlines_.begin(), deadlines_.end(), deadline,
                                         [](const Deadline& a, const Deadline& b) { return a.at < b.at; }),
                        deadline);
    }
    ports_.channel.send_to_node(node, message);
  }
  arm_deadline_timer();
  maybe_finish(current);
  std::uint32_t id = current.id;
  notify_finished();
  return id;
}

void Orchestrator::on_message(const Message& message) {
  const auto* status = std::get_if<StatusReport>(&message);
  if (status == nullptr) return;
  auto app_it = apps_.find(status->app);
  if (app_it == apps_.end() || !app_it->second.operation) return;
  Operation& op = operations_[*app_it->second.operation - 1];
  if (status->revision != op.to_revision) return;  // a report about an older revision
  auto idx = target_index_.find({op.id, status->node});
  if (idx == target_index_.end()) return;
  NodeProgress& target = op.targets[idx->second];
  target.last_report_at = ports_.clock.now();
  if (target.outcome != NodeOutcome::pending) return;  // duplicates after a terminal outcome change nothing
  if (status->state == NodeAppState::healthy)
    finish_target(op, target, NodeOutcome::succeeded, {});
  else if (status->state == NodeAppState::failed)
    finish_target(op, target, NodeOutcome::failed, status->detail);
  notify_finished();
}

void Orchestrator::finish_target(Operation& op, NodeProgress& target, NodeOutcome outcome, std::string detail) {
  target.outcome = outcome;
  target.detail = std::move(detail);
  switch (outcome) {
    case NodeOutcome::succeeded:
      ++op.succeeded;
      break;
    case NodeOutcome::failed:
      ++op.failed;
      break;
    case NodeOutcome::timed_out:
      ++op.timed_out;
      break;
    case NodeOutcome::canceled:
      ++op.canceled;
      break;
    case NodeOutcome::pending:
      break;
  }
  maybe_finish(op);
}

void Orchestrator::maybe_finish(Operation& op) {
  if (op.finished() || op.terminal() != op.targets.size()) return;
  op.finished_at = ports_.clock.now();
  AppState& app = apps_[op.app];
  if (app.operation == op.id) app.operation.reset();
  finished_to_notify_.push_back(op.id);
}

void Orchestrator::notify_finished() {
  // Callbacks may submit new operations (operations_ may reallocate): run them last, and look operations up by id.
  if (notifying_) return;
  notifying_ = true;
  while (!finished_to_notify_.empty()) {
    std::uint32_t id = finished_to_notify_.front();
    finished_to_notify_.pop_front();
    if (operation_finished_) operation_finished_(operations_[id - 1]);
  }
  notifying_ = false;
}

void Orchestrator::arm_deadline_timer() {
  while (!deadlines_.empty()) {
    const Deadline& next = deadlines_.front();
    if (operations_[next.operation - 1].targets[next.target_index].outcome != NodeOutcome::pending) {
      deadlines_.pop_front();
      continue;
    }
    if (deadline_timer_ != 0 && deadline_timer_at_ <= next.at) return;  // already armed early enough
    if (deadline_timer_ != 0) ports_.timers.cancel_timer(deadline_timer_);
    deadline_timer_at_ = next.at;
    deadline_timer_ = ports_.timers.set_timer(next.at - ports_.clock.now());
    return;
  }
}

void Orchestrator::on_send_failed(NodeId node, const Message& message) {
  const auto* desired = std::get_if<DesiredState>(&message);
  if (desired == nullptr) return;
  auto app_it = apps_.find(desired->release.app);
  if (app_it == apps_.end() || app_it->second.generation != desired->generation || !app_it->second.operation)
    return;  // superseded: the newer desired state has its own delivery
  const Operation& op = operations_[*app_it->second.operation - 1];
  auto idx = target_index_.find({op.id, node});
  if (idx == target_index_.end() || op.targets[idx->second].outcome != NodeOutcome::pending) return;
  unsigned attempts = ++resend_attempts_[{node, desired->release.app}];
  double backoff = std::min(300.0, 10.0 * std::pow(2.0, attempts - 1));
  resend_timers_[ports_.timers.set_timer(backoff)] = Resend{node, desired->release.app};
}

void Orchestrator::on_restart() {
  deadline_timer_ = 0;
  deadline_timer_at_ = -1;
  resend_timers_.clear();
  resend_attempts_.clear();
  for (const auto& [name, app] : apps_) {
    if (!app.operation || !app.desired) continue;
    const Operation& op = operations_[*app.operation - 1];
    for (const auto& target : op.targets)
      if (target.outcome == NodeOutcome::pending)
        ports_.channel.send_to_node(target.node, DesiredState{app.generation, *app.desired});
  }
  arm_deadline_timer();
  notify_finished();
}

void Orchestrator::on_timer(TimerId id) {
  if (auto resend = resend_timers_.find(id); resend != resend_timers_.end()) {
    Resend r = resend->second;
    resend_timers_.erase(resend);
    const AppState& app = apps_[r.app];
    if (!app.operation || !app.desired) return;
    const Operation& op = operations_[*app.operation - 1];
    auto idx = target_index_.find({op.id, r.node});
    if (idx != target_index_.end() && op.targets[idx->second].outcome == NodeOutcome::pending)
      ports_.channel.send_to_node(r.node, DesiredState{app.generation, *app.desired});
    return;
  }
  if (id != deadline_timer_) return;
  deadline_timer_ = 0;
  const Time now = ports_.clock.now();
  while (!deadlines_.empty() && deadlines_.front().at <= now) {
    Deadline due = deadlines_.front();
    deadlines_.pop_front();
    Operation& op = operations_[due.operation - 1];
    NodeProgress& target = op.targets[due.target_index];
    if (target.outcome == NodeOutcome::pending)
      finish_target(op, target, NodeOutcome::timed_out, "not healthy within the node deadline");
  }
  arm_deadline_timer();
  notify_finished();
}

}  // namespace fleetsim::agents
