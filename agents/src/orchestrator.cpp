#include "fleetsim/agents/orchestrator.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <utility>

namespace fleetsim::agents {

namespace {
// Whether the labels have every key = value of the selector.
bool labels_match(const std::map<std::string, std::string>& labels,
                  const std::map<std::string, std::string>& selector) {
  for (const auto& [key, value] : selector) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  return true;
}
}  // namespace

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
  std::vector<std::pair<NodeId, std::string>> unplaced;
  Operation op;
  op.id = static_cast<std::uint32_t>(operations_.size()) + 1;
  op.kind = command.kind;
  op.app = command.release.app;
  op.started_at = ports_.clock.now();
  op.from_revision = app.desired ? app.desired->revision : 0;

  if (command.kind == Command::Kind::deploy) {
    app.placement.clear();
    for (const auto& node : inventory_) {
      if (!labels_match(node.labels, command.selector)) continue;
      if (auto why = misfit(node.id, command.release))
        unplaced.emplace_back(node.id, *why);
      else
        app.placement.push_back(node.id);
    }
  }
  // A newer operation on the same app supersedes the one in progress: its pending nodes are re-targeted now.
  if (app.operation) {
    Operation& previous = operations_[*app.operation - 1];
    app.operation.reset();  // no longer the app's operation: none of its batches starts any more
    for (auto& target : previous.targets)
      if (target.outcome == NodeOutcome::pending)
        finish_target(previous, target, NodeOutcome::canceled, FailureReason::superseded, "superseded by a newer operation");
  }

  // A rollback re-uses the revision it returns to; anything else gets the next one.
  if (!command.is_rollback) command.release.revision = app.next_revision++;
  history_[command.release.app][command.release.revision] = command.release;
  op.to_revision = command.release.revision;
  app.desired = command.release;
  ++app.generation;
  app.operation = op.id;
  operations_.push_back(std::move(op));
  Operation& current = operations_.back();

  // Every placed node is a target from the start; the strategy decides when each is notified.
  current.strategy = command.strategy;
  current.generation = app.generation;
  current.version = command.release.version;
  current.is_rollback = command.is_rollback;
  commands_[current.id] = command;
  node_deadline_s_[current.id] = command.node_deadline_s;
  current.unplaced = std::move(unplaced);
  for (NodeId node : app.placement) {
    target_index_[{current.id, node}] = current.targets.size();
    current.targets.push_back(NodeProgress{node, NodeOutcome::pending, -1, -1, -1, -1, FailureReason::none, {}});
  }
  const std::size_t n = current.targets.size();
  const Strategy& strategy = current.strategy;
  current.wave_begin.push_back(0);
  if (strategy.kind == Strategy::Kind::canary && n > 0) {
    // The canary set goes first; the rest keeps its placement order.
    std::vector<NodeProgress> canary, rest;
    if (!strategy.canary_selector.empty()) {
      for (const auto& target : current.targets)
        (labels_match(inventory_[index_of_node_[target.node]].labels, strategy.canary_selector) ? canary : rest)
            .push_back(target);
    } else {
      std::size_t k = strategy.canary_size;
      if (strategy.canary_percent > 0)
        k = static_cast<std::size_t>(std::ceil(strategy.canary_percent / 100.0 * static_cast<double>(n) - 1e-9));
      k = std::clamp<std::size_t>(k, 1, n);
      // Spread evenly over the targets (and so over sites): target i is a canary when floor((i + 1) k / n) grows.
      for (std::size_t i = 0; i < n; ++i) ((i + 1) * k / n > i * k / n ? canary : rest).push_back(current.targets[i]);
    }
    current.targets = canary;
    current.targets.insert(current.targets.end(), rest.begin(), rest.end());
    for (std::size_t i = 0; i < n; ++i) target_index_[{current.id, current.targets[i].node}] = i;
    std::size_t size = strategy.batch_size;
    if (strategy.batch_percent > 0)
      size = static_cast<std::size_t>(std::ceil(strategy.batch_percent / 100.0 * static_cast<double>(n) - 1e-9));
    if (size == 0) size = n;
    if (!canary.empty() && !rest.empty()) current.wave_begin.push_back(canary.size());
    for (std::size_t i = canary.size() + size; i < n; i += size) current.wave_begin.push_back(i);
  }
  if (strategy.kind == Strategy::Kind::batches) {
    if (strategy.sites_in_parallel > 0) {
      // Batches of whole sites, in placement order: a new batch begins at the first node of the k-th new site.
      std::size_t sites_in_batch = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const std::string& site = inventory_[index_of_node_[current.targets[i].node]].site;
        bool new_site = i == 0 || site != inventory_[index_of_node_[current.targets[i - 1].node]].site;
        if (new_site && ++sites_in_batch > strategy.sites_in_parallel) {
          current.wave_begin.push_back(i);
          sites_in_batch = 1;
        }
      }
    } else {
      std::size_t size = strategy.batch_size;
      if (strategy.batch_percent > 0)
        size = static_cast<std::size_t>(std::ceil(strategy.batch_percent / 100.0 * static_cast<double>(n) - 1e-9));
      size = std::max<std::size_t>(size, 1);
      for (std::size_t i = size; i < n; i += size) current.wave_begin.push_back(i);
    }
  }
  // A rollout to a release that needs more than a node has room for fails that node at once (it keeps running
  // the release it has).
  if (command.kind == Command::Kind::rollout)
    for (auto& target : current.targets)
      if (auto why = misfit(target.node, command.release)) {
        current.unplaced.emplace_back(target.node, *why);
        finish_target(current, target, NodeOutcome::failed, FailureReason::does_not_fit, "does not fit: " + *why);
      }
  if (strategy.kind == Strategy::Kind::rolling) {
    for (std::size_t i = 0; i < n; ++i)
      current.rolling[inventory_[index_of_node_[current.targets[i].node]].site].targets.push_back(i);
    for (auto& [site, roll] : current.rolling) roll.window = strategy.rolling_window(roll.targets.size());
    current.rolling_started = true;
    for (auto& [site, roll] : current.rolling) roll_site(current, site);
    arm_deadline_timer();
  } else if (strategy.kind == Strategy::Kind::exponential) {
    current.rate_per_minute = strategy.base_per_minute;
    if (strategy.maximum_per_minute > 0)
      current.rate_per_minute = std::min(current.rate_per_minute, strategy.maximum_per_minute);
    if (n > 0) pace(current);
  } else if (n > 0) {
    start_wave(current);
  }
  maybe_finish(current);
  std::uint32_t id = current.id;
  run_pending_reverts();
  notify_finished();
  return id;
}

std::optional<std::string> Orchestrator::misfit(NodeId node, const Release& release) const {
  if (release.requires.empty()) return std::nullopt;
  const NodeInfo& info = inventory_[index_of_node_.at(node)];
  for (const auto& [key, need] : release.requires) {
    double used = 0;
    for (const auto& [name, other] : apps_) {
      if (name == release.app || !other.desired) continue;
      if (std::find(other.placement.begin(), other.placement.end(), node) == other.placement.end()) continue;
      if (auto it = other.desired->requires.find(key); it != other.desired->requires.end()) used += it->second;
    }
    auto cap = info.capacity.find(key);
    const double have = cap == info.capacity.end() ? 0 : cap->second;
    if (used + need > have + 1e-9) {
      const bool bytes = key.size() >= 6 && key.compare(key.size() - 6, 6, "memory") == 0;
      auto amount = [&](double v) {
        std::ostringstream out;
        if (bytes)
          out << std::fixed << std::setprecision(2) << v / 1073741824.0 << " GiB";
        else
          out << v;
        return out.str();
      };
      return key + ": needs " + amount(need) + ", " + amount(have - used) + " free of " + amount(have);
    }
  }
  return std::nullopt;
}

void Orchestrator::notify_target(Operation& op, std::size_t index) {
  const Time now = ports_.clock.now();
  const AppState& app = apps_[op.app];
  NodeProgress& target = op.targets[index];
  if (target.outcome != NodeOutcome::pending) return;
  target.notified_at = now;
  const double deadline_s = node_deadline_s_[op.id];
  if (deadline_s > 0) {
    Deadline deadline{now + deadline_s, op.id, index};
    deadlines_.insert(std::upper_bound(deadlines_.begin(), deadlines_.end(), deadline,
                                       [](const Deadline& a, const Deadline& b) { return a.at < b.at; }),
                      deadline);
  }
  tell(target.node, DesiredState{app.generation, *app.desired, op.is_rollback});
}

// Exponential rate: notify the next target now, raise the rate when the criterion count grew by increase_after,
// and come back after 60 / rate seconds.
void Orchestrator::pace(Operation& op) {
  if (op.finished() || apps_[op.app].operation != op.id || op.next_target >= op.targets.size()) return;
  notify_target(op, op.next_target++);
  arm_deadline_timer();
  const Strategy& s = op.strategy;
  std::size_t count = s.count_succeeded ? op.succeeded : op.next_target;
  if (s.increase_after > 0) {
    while (count - op.count_at_increase >= s.increase_after) {
      op.count_at_increase += s.increase_after;
      op.rate_per_minute *= s.increment_factor;
      if (s.maximum_per_minute > 0) op.rate_per_minute = std::min(op.rate_per_minute, s.maximum_per_minute);
    }
  }
  if (op.next_target < op.targets.size()) pace_timers_[ports_.timers.set_timer(60.0 / op.rate_per_minute)] = op.id;
}

void Orchestrator::start_wave(Operation& op) {
  const Time now = ports_.clock.now();
  const AppState& app = apps_[op.app];
  const std::size_t w = op.current_wave;
  const std::size_t begin = op.wave_begin[w];
  const std::size_t end = w + 1 < op.wave_begin.size() ? op.wave_begin[w + 1] : op.targets.size();
  op.wave_started_at.push_back(now);
  op.gate_at = -1;
  DesiredState desired{app.generation, *app.desired, op.is_rollback};
  const double deadline_s = node_deadline_s_[op.id];
  for (std::size_t i = begin; i < end; ++i) {
    NodeProgress& target = op.targets[i];
    if (target.outcome != NodeOutcome::pending) continue;
    target.notified_at = now;
    if (deadline_s > 0) {
      Deadline deadline{now + deadline_s, op.id, i};
      deadlines_.insert(std::upper_bound(deadlines_.begin(), deadlines_.end(), deadline,
                                         [](const Deadline& a, const Deadline& b) { return a.at < b.at; }),
                        deadline);
    }
    tell(target.node, desired);
  }
  arm_deadline_timer();
  on_wave_progress(op);
}

// Called whenever a target of the operation reaches a terminal outcome: closes the current batch when all of its
// nodes are terminal, and starts the next one at once or after the healthy time.
void Orchestrator::on_wave_progress(Operation& op) {
  if (op.finished() || op.wave_begin.empty() || op.gate_at >= 0 || apps_[op.app].operation != op.id) return;
  const std::size_t w = op.current_wave;
  const std::size_t begin = op.wave_begin[w];
  const std::size_t end = w + 1 < op.wave_begin.size() ? op.wave_begin[w + 1] : op.targets.size();
  // Targets only ever leave pending, so the scan resumes where it stopped: O(1) amortised per report.
  std::size_t& i = op.wave_scan;
  if (i < begin) i = begin;
  while (i < end && op.targets[i].outcome != NodeOutcome::pending) ++i;
  if (i < end) return;
  op.wave_completed_at.push_back(ports_.clock.now());
  const bool last = w + 1 >= op.wave_begin.size();
  const double gate = op.strategy.gate_after(w);
  if (last && !(gate > 0)) {
    op.last_gate_passed = true;
    return;
  }
  if (!last) op.current_wave = w + 1;
  if (gate > 0) {
    op.gate_at = ports_.clock.now() + gate;
    gate_timers_[ports_.timers.set_timer(gate)] = op.id;
  } else {
    start_wave(op);
  }
}

void Orchestrator::tell(NodeId node, const DesiredState& desired) {
  told_[{node, desired.release.app}] = Told{desired.generation, desired.release.revision, desired.rollback};
  ports_.channel.send_to_node(node, desired);
}

// A poll is answered, per app, with the newest desired state this node was already told and has not confirmed
// knowing: polling recovers lost notifications, but never tells a node early (a batch not started yet, the targets
// an abort canceled).
void Orchestrator::on_poll(const Poll& poll) {
  for (auto it = told_.lower_bound({poll.node, std::string()}); it != told_.end() && it->first.first == poll.node;
       ++it) {
    const Told& told = it->second;
    auto known = poll.generations.find(it->first.second);
    if (known != poll.generations.end() && known->second >= told.generation) continue;
    ports_.channel.send_to_node(
        poll.node, DesiredState{told.generation, history_[it->first.second][told.revision], told.rollback});
  }
}

void Orchestrator::on_message(const Message& message) {
  if (const auto* poll = std::get_if<Poll>(&message)) return on_poll(*poll);
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
  // Health is watched until the operation ends (the batches' healthy time): a node that stops being healthy
  // before then counts as failed.
  if (status->state == NodeAppState::unhealthy && target.outcome == NodeOutcome::succeeded && !op.finished()) {
    --op.succeeded;
    target.outcome = NodeOutcome::pending;
    finish_target(op, target, NodeOutcome::failed, FailureReason::unhealthy_after_healthy,
                  "unhealthy after it was healthy: " + status->detail);
    run_pending_reverts();
    notify_finished();
    return;
  }
  if (target.outcome != NodeOutcome::pending) return;  // duplicates after a terminal outcome change nothing
  if (status->state == NodeAppState::healthy)
    finish_target(op, target, NodeOutcome::succeeded, FailureReason::none, {});
  else if (status->state == NodeAppState::failed)
    finish_target(op, target, NodeOutcome::failed, status->reason, status->detail);
  run_pending_reverts();
  notify_finished();
}

void Orchestrator::finish_target(Operation& op, NodeProgress& target, NodeOutcome outcome, FailureReason reason,
                                 std::string detail) {
  target.outcome = outcome;
  target.reason = reason;
  target.finished_at = ports_.clock.now();
  if (outcome == NodeOutcome::succeeded) target.succeeded_at = target.finished_at;
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
  check_abort(op);
  if (op.strategy.kind == Strategy::Kind::rolling && op.rolling_started) {
    roll_site(op, inventory_[index_of_node_[target.node]].site);
    arm_deadline_timer();
  }
  on_wave_progress(op);
  maybe_finish(op);
}

std::size_t Strategy::rolling_window(std::size_t n) const {
  std::size_t unavailable = max_unavailable, surge = max_surge;
  if (max_unavailable_percent > 0)
    unavailable = static_cast<std::size_t>(std::floor(max_unavailable_percent / 100.0 * static_cast<double>(n) + 1e-9));
  if (max_surge_percent > 0)
    surge = static_cast<std::size_t>(std::ceil(max_surge_percent / 100.0 * static_cast<double>(n) - 1e-9));
  if (unavailable == 0 && surge == 0) unavailable = 1;
  return unavailable + surge;
}

// Rolling: notify the site's next targets while fewer than its window are notified and not yet terminal.
void Orchestrator::roll_site(Operation& op, const std::string& site) {
  if (op.finished() || op.aborted_at || apps_[op.app].operation != op.id) return;
  auto it = op.rolling.find(site);
  if (it == op.rolling.end()) return;
  Operation::SiteRoll& roll = it->second;
  std::size_t in_progress = 0;
  for (std::size_t k = 0; k < roll.next; ++k)
    if (op.targets[roll.targets[k]].outcome == NodeOutcome::pending) ++in_progress;
  while (roll.next < roll.targets.size() && in_progress < roll.window) {
    const std::size_t index = roll.targets[roll.next++];
    if (op.targets[index].outcome != NodeOutcome::pending) continue;
    notify_target(op, index);
    ++in_progress;
  }
}

// The abort rule is evaluated on every terminal outcome, so it fires within one check of its threshold.
void Orchestrator::check_abort(Operation& op) {
  const Command& command = commands_[op.id];
  if (op.aborted_at || op.finished() || !(command.abort_threshold_percent > 0)) return;
  const std::size_t executed = op.succeeded + op.failed + op.timed_out;
  if (executed < std::max<std::size_t>(command.abort_min_executed, 1)) return;
  const std::size_t bad = command.abort_failure_type == Command::FailureType::failed      ? op.failed
                          : command.abort_failure_type == Command::FailureType::timed_out ? op.timed_out
                                                                                          : op.failed + op.timed_out;
  const double failed_percent = 100.0 * static_cast<double>(bad) / static_cast<double>(executed);
  if (failed_percent < command.abort_threshold_percent) return;
  abort_now(op, command.rollback == Command::Rollback::revert_all);
}

void Orchestrator::abort_now(Operation& op, bool revert) {
  op.aborted_at = ports_.clock.now();
  // Stop notifying: every target not yet told is canceled; the ones already told finish on their own.
  for (auto& target : op.targets)
    if (target.outcome == NodeOutcome::pending && target.notified_at < 0) {
      target.outcome = NodeOutcome::canceled;
      target.reason = FailureReason::aborted;
      target.detail = "operation aborted";
      ++op.canceled;
    }
  if (revert && op.from_revision != 0) pending_reverts_.push_back(op.id);
}

std::optional<std::string> Orchestrator::abort(std::uint32_t id, bool revert) {
  if (id == 0 || id > operations_.size()) return "no operation " + std::to_string(id);
  Operation& op = operations_[id - 1];
  if (op.finished()) return "operation " + std::to_string(id) + " has finished (revert it instead)";
  if (op.aborted_at) return "operation " + std::to_string(id) + " is already aborted";
  if (revert && op.from_revision == 0)
    return "operation " + std::to_string(id) + " deployed the app's first revision: there is none to go back to";
  abort_now(op, revert);
  maybe_finish(op);
  run_pending_reverts();
  notify_finished();
  return std::nullopt;
}

std::optional<std::string> Orchestrator::revert(std::uint32_t id) {
  if (id == 0 || id > operations_.size()) return "no operation " + std::to_string(id);
  const Operation& op = operations_[id - 1];
  if (!op.finished()) return "operation " + std::to_string(id) + " is in progress (abort it with revert instead)";
  if (op.from_revision == 0 || op.targets.empty())
    return "operation " + std::to_string(id) + " changed no revision: there is none to go back to";
  const auto desired = desired_revision(op.app);
  if (!desired || *desired != op.to_revision)
    return "app " + op.app + " is no longer at revision " + std::to_string(op.to_revision) + " (an operation since changed it)";
  if (op.rolled_back_by) return "operation " + std::to_string(id) + " was already rolled back";
  revert_all(id);
  notify_finished();
  return std::nullopt;
}

// Rollbacks are submitted once the handler that saw the abort is done with its references into operations_.
void Orchestrator::run_pending_reverts() {
  while (!pending_reverts_.empty()) {
    const std::uint32_t aborted = pending_reverts_.front();
    pending_reverts_.pop_front();
    revert_all(aborted);
  }
}

// revert_all: every node the aborted operation told, offline ones included, goes back to the previous revision.
void Orchestrator::revert_all(std::uint32_t aborted_id) {
  const Operation& op = operations_[aborted_id - 1];
  const Command& command = commands_[op.id];
  AppState& app = apps_[op.app];
  Command revert;
  revert.kind = Command::Kind::rollout;
  revert.release = history_[op.app][op.from_revision];
  revert.is_rollback = true;
  revert.node_deadline_s = command.node_deadline_s;
  std::vector<NodeId> told;
  for (const auto& target : op.targets)
    if (target.notified_at >= 0) told.push_back(target.node);
  app.placement = told;  // the rollback targets exactly these (placement is restored below)
  std::vector<NodeId> placement_before;
  for (const auto& target : op.targets) placement_before.push_back(target.node);
  const std::string app_name = op.app;
  const std::uint32_t id = submit(revert);  // may reallocate operations_: `op` is not used after this
  apps_[app_name].placement = placement_before;
  operations_[aborted_id - 1].rolled_back_by = id;
}

void Orchestrator::maybe_finish(Operation& op) {
  if (op.finished() || op.terminal() != op.targets.size()) return;
  // Batches finish when the last batch has held its healthy time too, unless the operation was superseded.
  if ((op.strategy.kind == Strategy::Kind::batches || op.strategy.kind == Strategy::Kind::canary) &&
      !op.last_gate_passed && op.canceled == 0 && !op.targets.empty() && apps_[op.app].operation == op.id)
    return;
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
      if (target.outcome == NodeOutcome::pending && target.notified_at >= 0)
        tell(target.node, DesiredState{app.generation, *app.desired, op.is_rollback});
  }
  // A healthy-time gate that was running comes back with what is left of it; a paced rollout goes on.
  pace_timers_.clear();
  for (auto& op : operations_)
    if (!op.finished() && op.strategy.kind == Strategy::Kind::exponential && op.next_target < op.targets.size())
      pace_timers_[ports_.timers.set_timer(60.0 / op.rate_per_minute)] = op.id;
  gate_timers_.clear();
  for (auto& op : operations_)
    if (!op.finished() && op.gate_at >= 0)
      gate_timers_[ports_.timers.set_timer(std::max(0.0, op.gate_at - ports_.clock.now()))] = op.id;
  arm_deadline_timer();
  notify_finished();
}

void Orchestrator::on_node_connected(NodeId node) {
  for (auto it = resend_timers_.begin(); it != resend_timers_.end();) {
    if (it->second.node == node) {
      ports_.timers.cancel_timer(it->first);
      it = resend_timers_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [name, app] : apps_) {
    resend_attempts_.erase({node, name});
    if (!app.operation || !app.desired) continue;
    const Operation& op = operations_[*app.operation - 1];
    auto idx = target_index_.find({op.id, node});
    if (idx == target_index_.end()) continue;
    const NodeProgress& target = op.targets[idx->second];
    if (target.outcome == NodeOutcome::pending && target.notified_at >= 0)
      tell(node, DesiredState{app.generation, *app.desired, op.is_rollback});
  }
}

void Orchestrator::on_timer(TimerId id) {
  if (auto paced = pace_timers_.find(id); paced != pace_timers_.end()) {
    Operation& op = operations_[paced->second - 1];
    pace_timers_.erase(paced);
    pace(op);
    notify_finished();
    return;
  }
  if (auto gate = gate_timers_.find(id); gate != gate_timers_.end()) {
    Operation& op = operations_[gate->second - 1];
    gate_timers_.erase(gate);
    if (!op.finished() && op.gate_at >= 0) {
      if (op.wave_completed_at.size() >= op.wave_begin.size()) {  // the last batch held: the operation is done
        op.gate_at = -1;
        op.last_gate_passed = true;
        maybe_finish(op);
      } else {
        start_wave(op);
      }
    }
    notify_finished();
    return;
  }
  if (auto resend = resend_timers_.find(id); resend != resend_timers_.end()) {
    Resend r = resend->second;
    resend_timers_.erase(resend);
    const AppState& app = apps_[r.app];
    if (!app.operation || !app.desired) return;
    const Operation& op = operations_[*app.operation - 1];
    auto idx = target_index_.find({op.id, r.node});
    if (idx != target_index_.end() && op.targets[idx->second].outcome == NodeOutcome::pending)
      tell(r.node, DesiredState{app.generation, *app.desired, op.is_rollback});
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
      finish_target(op, target, NodeOutcome::timed_out, FailureReason::deadline, "not healthy within the node deadline");
  }
  arm_deadline_timer();
  run_pending_reverts();
  notify_finished();
}

}  // namespace fleetsim::agents
