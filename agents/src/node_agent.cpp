#include "fleetsim/agents/node_agent.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace fleetsim::agents {

NodeAgent::NodeAgent(const NodeAgentConfig& config, NodeAgentPorts ports) : config_(config), ports_(ports) {}

const Release* NodeAgent::running(const std::string& app) const {
  auto it = apps_.find(app);
  if (it == apps_.end() || !it->second.running) return nullptr;
  return &*it->second.running;
}

bool NodeAgent::has_committed_release() const {
  for (const auto& [name, slot] : apps_)
    if (slot.running) return true;
  return false;
}

void NodeAgent::on_message(const Message& message) {
  if (const auto* desired = std::get_if<DesiredState>(&message)) accept(*desired);
  // A node receives no StatusReport; anything else is ignored as a real agent ignores unknown kinds.
}

void NodeAgent::accept(const DesiredState& desired) {
  const std::string& app = desired.release.app;
  AppSlot& slot = apps_[app];
  if (desired.generation <= slot.last_generation) {
    // A duplicate or a late, stale message. Re-sending an applied update restarts nothing; answer with where we
    // are so that an orchestrator that lost our report learns it again.
    if (desired.generation == slot.last_generation && (slot.phase == Phase::idle || slot.phase == Phase::failed) &&
        slot.running && slot.running->revision == desired.release.revision)
      report(app, *slot.running, desired.generation, NodeAppState::healthy);
    return;
  }
  slot.last_generation = desired.generation;

  if ((slot.phase == Phase::idle || slot.phase == Phase::failed) && slot.running &&
      slot.running->revision == desired.release.revision) {
    slot.phase = Phase::idle;
    report(app, *slot.running, desired.generation, NodeAppState::healthy);  // already there: nothing restarts
    return;
  }
  if (slot.target && slot.target->release.revision == desired.release.revision && slot.phase != Phase::failed) {
    slot.target->generation = desired.generation;  // same revision already in progress: carry on
    return;
  }
  abandon_update(slot);
  slot.target = desired;
  slot.attempts.clear();
  report(app, desired.release, desired.generation, NodeAppState::accepted);
  if (config_.notify_jitter_s > 0) {
    slot.phase = Phase::waiting_jitter;
    slot.phase_timer = arm(config_.notify_jitter_s * ports_.random.uniform01(), {TimerPurpose::jitter, app, {}});
  } else {
    begin_download(app);
  }
}

void NodeAgent::abandon_update(AppSlot& slot) {
  if (!slot.target) return;
  const std::string& app = slot.target->release.app;
  if (slot.phase_timer != 0) {
    ports_.timers.cancel_timer(slot.phase_timer);
    timers_.erase(slot.phase_timer);
    slot.phase_timer = 0;
  }
  for (auto it = timers_.begin(); it != timers_.end();) {
    if (it->second.app == app && it->second.purpose != TimerPurpose::report) {
      ports_.timers.cancel_timer(it->first);
      it = timers_.erase(it);
    } else {
      ++it;
    }
  }
  queued_fetches_.erase(std::remove_if(queued_fetches_.begin(), queued_fetches_.end(),
                                       [&](const ActiveFetch& f) { return f.app == app; }),
                        queued_fetches_.end());
  for (auto it = active_fetches_.begin(); it != active_fetches_.end();) {
    if (it->second.app == app) {
      ports_.registry.cancel_fetch(it->first);
      it = active_fetches_.erase(it);
    } else {
      ++it;
    }
  }
  if (slot.phase == Phase::starting || slot.phase == Phase::verifying) {
    // The new container was already started: put the committed release back.
    ports_.runtime.stop_container(app);
    if (slot.running) {
      ports_.runtime.start_container(*slot.running);
      ++container_starts_;
    }
  }
  slot.target.reset();
  slot.phase = Phase::idle;
}

bool NodeAgent::layer_in_use(const std::string& digest) const {
  for (const auto& [name, slot] : apps_) {
    for (const auto* release : {slot.running ? &*slot.running : nullptr, slot.previous ? &*slot.previous : nullptr,
                                slot.target ? &slot.target->release : nullptr}) {
      if (release == nullptr) continue;
      for (const auto& layer : release->layers)
        if (layer.digest == digest) return true;
    }
  }
  return false;
}

bool NodeAgent::make_room(std::uint64_t needed) {
  // Garbage-collect complete layers that no running, rollback or in-flight release references.
  for (auto it = layers_.begin(); it != layers_.end() && bytes_stored_ + needed > config_.disk_bytes;) {
    if (!layer_in_use(it->first)) {
      ports_.registry.remove_layer(it->first);
      bytes_stored_ -= it->second.size_bytes;
      it = layers_.erase(it);
    } else {
      ++it;
    }
  }
  return bytes_stored_ + needed <= config_.disk_bytes;
}

void NodeAgent::begin_download(const std::string& app) {
  AppSlot& slot = apps_[app];
  slot.phase = Phase::downloading;
  slot.phase_timer = 0;
  const Release& release = slot.target->release;
  std::uint64_t needed = 0;
  for (const auto& layer : release.layers)
    if (layers_.find(layer.digest) == layers_.end()) needed += layer.size_bytes;
  if (!make_room(needed)) {
    fail(app, FailureReason::disk_full, "disk full: need " + std::to_string(needed) + " bytes, budget " + std::to_string(config_.disk_bytes) +
                  ", stored " + std::to_string(bytes_stored_));
    return;
  }
  for (const auto& layer : release.layers) {
    auto [it, inserted] = layers_.try_emplace(layer.digest, StoredLayer{layer.size_bytes, 0});
    if (inserted) bytes_stored_ += layer.size_bytes;  // space is reserved when the pull starts
    if (!it->second.complete()) enqueue_fetch(app, layer.digest);
  }
  maybe_downloaded(app);
  pump_downloads();
}

void NodeAgent::enqueue_fetch(const std::string& app, const std::string& digest) {
  auto busy = [&](const ActiveFetch& f) { return f.digest == digest; };
  if (std::any_of(queued_fetches_.begin(), queued_fetches_.end(), busy)) return;
  for (const auto& [id, fetch] : active_fetches_)
    if (fetch.digest == digest) return;  // another app is already pulling this shared layer
  queued_fetches_.push_back({app, digest});
}

void NodeAgent::pump_downloads() {
  while (active_fetches_.size() < config_.max_concurrent_downloads && !queued_fetches_.empty()) {
    ActiveFetch next = std::move(queued_fetches_.front());
    queued_fetches_.pop_front();
    const StoredLayer& stored = layers_.at(next.digest);
    TransferId id = ports_.registry.start_fetch(Layer{next.digest, stored.size_bytes}, stored.have_bytes);
    active_fetches_.emplace(id, std::move(next));
  }
}

void NodeAgent::on_fetch_done(TransferId id, const FetchResult& result) {
  auto it = active_fetches_.find(id);
  if (it == active_fetches_.end()) return;  // cancelled earlier
  ActiveFetch fetch = std::move(it->second);
  active_fetches_.erase(it);
  StoredLayer& layer = layers_.at(fetch.digest);
  const std::uint64_t counted = layer.have_bytes + result.bytes_received;
  layer.have_bytes = std::min(layer.size_bytes, result.ok ? layer.size_bytes : result.stored_bytes.value_or(counted));
  if (layer.have_bytes < counted && result.stored_bytes) bytes_wasted_ += counted - layer.have_bytes;  // discarded
  bytes_fetched_ += result.bytes_received;
  if (!result.ok) {
    if (config_.resume == ResumePolicy::restart_from_zero) {
      bytes_wasted_ += layer.have_bytes;
      layer.have_bytes = 0;
    }
    AppSlot& slot = apps_[fetch.app];
    unsigned attempts = ++slot.attempts[fetch.digest];
    if (attempts >= config_.max_fetch_attempts) {
      fail(fetch.app, FailureReason::pull_failed, "pull of layer " + fetch.digest + " failed " + std::to_string(attempts) +
                          " times, last error: " + result.error);
    } else {
      // Exponential back-off with +-20 % jitter so that a site's nodes do not retry in lockstep.
      double backoff = std::min(config_.retry_max_s, config_.retry_initial_s * std::pow(2.0, attempts - 1));
      backoff *= 0.8 + 0.4 * ports_.random.uniform01();
      arm(backoff, {TimerPurpose::retry, fetch.app, fetch.digest});
    }
  } else {
    for (const auto& [name, other] : apps_)
      if (other.phase == Phase::downloading) maybe_downloaded(name);
  }
  pump_downloads();
}

bool NodeAgent::all_layers_present(const Release& release) const {
  for (const auto& layer : release.layers) {
    auto it = layers_.find(layer.digest);
    if (it == layers_.end() || !it->second.complete()) return false;
  }
  return true;
}

void NodeAgent::maybe_downloaded(const std::string& app) {
  AppSlot& slot = apps_[app];
  if (slot.phase != Phase::downloading || !all_layers_present(slot.target->release)) return;
  report(app, slot.target->release, slot.target->generation, NodeAppState::downloaded);
  // Download first, then stop the old version and start the new one.
  if (slot.running) ports_.runtime.stop_container(app);
  slot.phase = Phase::starting;
  ++container_starts_;
  ports_.runtime.start_container(slot.target->release);
}

void NodeAgent::on_container_event(const std::string& app, ContainerEvent event) {
  auto it = apps_.find(app);
  if (it == apps_.end()) return;
  AppSlot& slot = it->second;
  if (event == ContainerEvent::started && slot.phase == Phase::starting) {
    slot.phase = Phase::verifying;
    double ready = slot.target->release.ready_s;
    if (ready > 0)
      slot.phase_timer = arm(ready, {TimerPurpose::ready, app, {}});
    else if (config_.verification_window_s > 0)
      slot.phase_timer = arm(config_.verification_window_s, {TimerPurpose::verified, app, {}});
    else
      commit(app);
  } else if (event == ContainerEvent::exited && (slot.phase == Phase::starting || slot.phase == Phase::verifying)) {
    // Before ready: still starting, or started and waiting out the release's readiness time.
    const auto timer = timers_.find(slot.phase_timer);
    const bool ready_pending = timer != timers_.end() && timer->second.purpose == TimerPurpose::ready;
    if (slot.phase == Phase::starting || ready_pending)
      fail(app, FailureReason::exited_before_ready, "container exited before it became ready");
    else
      fail(app, FailureReason::exited_during_verification, "container exited during the verification window");
  } else if (event == ContainerEvent::started && (slot.phase == Phase::idle || slot.phase == Phase::failed) &&
             slot.running) {
    // The committed release is up again: after a crash it says so (it reported unhealthy when it went down).
    slot.crash_restart = false;
    if (slot.up_since < 0) {
      slot.up_since = ports_.clock.now();
      if (slot.crash_streak > 0) report(app, *slot.running, slot.last_generation, NodeAppState::healthy);
    }
  } else if (event == ContainerEvent::exited && (slot.phase == Phase::idle || slot.phase == Phase::failed) &&
             slot.running) {
    crashed(app);
  }
}

const Release* NodeAgent::active_release(const std::string& app) const {
  auto it = apps_.find(app);
  if (it == apps_.end()) return nullptr;
  const AppSlot& slot = it->second;
  if ((slot.phase == Phase::starting || slot.phase == Phase::verifying) && slot.target) return &slot.target->release;
  return slot.running ? &*slot.running : nullptr;
}

bool NodeAgent::updating(const std::string& app) const {
  auto it = apps_.find(app);
  return it != apps_.end() && it->second.target.has_value() && it->second.phase != Phase::idle &&
         it->second.phase != Phase::failed;
}

void NodeAgent::start() { arm_poll(true); }

// The first poll comes at a uniform point of the first interval (nodes booted together do not poll together).
void NodeAgent::arm_poll(bool first) {
  if (!(config_.poll_interval_s > 0)) return;
  const double u = ports_.random.uniform01();
  const double delay =
      first ? config_.poll_interval_s * u : config_.poll_interval_s * (1 + config_.poll_jitter * (2 * u - 1));
  arm(delay, {TimerPurpose::poll, {}, {}});
}

bool NodeAgent::app_up(const std::string& app) const {
  auto it = apps_.find(app);
  return it != apps_.end() && it->second.running && it->second.up_since >= 0;
}

bool NodeAgent::crash_looping(const std::string& app) const {
  auto it = apps_.find(app);
  if (it == apps_.end() || !it->second.running || it->second.up_since >= 0) return false;
  return it->second.restart_timer != 0 || it->second.crash_restart;
}

// The committed release's process exited: report it and restart it after the crash-loop back-off.
void NodeAgent::crashed(const std::string& app) {
  AppSlot& slot = apps_[app];
  const Time now = ports_.clock.now();
  if (slot.up_since >= 0 && now - slot.up_since >= config_.restart_reset_s) slot.crash_streak = 0;
  slot.up_since = -1;
  ++slot.crash_streak;
  const double delay =
      std::min(config_.restart_max_s, config_.restart_initial_s * std::pow(2.0, slot.crash_streak - 1));
  if (slot.restart_timer != 0) {
    ports_.timers.cancel_timer(slot.restart_timer);
    timers_.erase(slot.restart_timer);
  }
  slot.restart_timer = arm(delay, {TimerPurpose::restart, app, {}});
  report(app, *slot.running, slot.last_generation, NodeAppState::unhealthy, "process exited; restarting",
         FailureReason::unhealthy_after_healthy);
}

void NodeAgent::commit(const std::string& app) {
  AppSlot& slot = apps_[app];
  if (slot.running) slot.previous = std::move(slot.running);
  slot.running = slot.target->release;
  slot.up_since = ports_.clock.now();
  slot.crash_streak = 0;
  std::uint64_t generation = slot.target->generation;
  slot.target.reset();
  slot.phase = Phase::idle;
  slot.phase_timer = 0;
  report(app, *slot.running, generation, NodeAppState::healthy);
}

void NodeAgent::fail(const std::string& app, FailureReason reason, const std::string& detail) {
  AppSlot& slot = apps_[app];
  Release release = slot.target->release;
  std::uint64_t generation = slot.target->generation;
  const bool started = slot.phase == Phase::starting || slot.phase == Phase::verifying;
  if (!config_.local_rollback && started) {
    // DO_NOTHING: the new release stays installed (and exited): it restarts with back-off like any crash.
    slot.phase_timer = 0;
    if (slot.running) slot.previous = std::move(slot.running);
    slot.running = release;
    slot.target.reset();
    slot.phase = Phase::failed;
    slot.up_since = -1;
    report(app, release, generation, NodeAppState::failed, detail, reason);
    slot.up_since = ports_.clock.now();  // crashed() below measures uptime from here
    crashed(app);
    return;
  }
  abandon_update(slot);
  if (started && slot.running) {
    slot.up_since = -1;  // the previous release is starting again: a rollback, not a crash loop
    slot.crash_restart = false;
  }
  slot.phase = Phase::failed;
  report(app, release, generation, NodeAppState::failed, detail, reason);
}

void NodeAgent::on_crash() {
  // The runtime dropped the transfers and timers with the power; forget them without calling it.
  queued_fetches_.clear();
  active_fetches_.clear();
  timers_.clear();
  report_timer_.clear();
  report_attempts_.clear();
  for (auto& [name, layer] : layers_)
    if (!layer.complete() && config_.resume == ResumePolicy::restart_from_zero) {
      bytes_wasted_ += layer.have_bytes;
      layer.have_bytes = 0;
    }
  for (auto& [name, slot] : apps_) {
    slot.phase_timer = 0;
    slot.restart_timer = 0;
    slot.crash_restart = false;
    slot.up_since = -1;
    slot.attempts.clear();
    // A release that was starting never committed: after boot the committed one runs (A1: always bootable).
    if (slot.phase != Phase::failed) slot.phase = Phase::idle;
  }
}

NodeAgentDisk NodeAgent::disk() const {
  NodeAgentDisk out;
  for (const auto& [name, slot] : apps_) {
    NodeAgentDisk::App& app = out.apps[name];
    app.running = slot.running;
    app.previous = slot.previous;
    app.target = slot.target;
    app.failed = slot.phase == Phase::failed;
    app.last_generation = slot.last_generation;
  }
  for (const auto& [digest, layer] : layers_) {
    // A partial layer that a power loss would discard is not on disk.
    const bool kept = layer.complete() || config_.resume == ResumePolicy::resume_range;
    out.layers[digest] = {layer.size_bytes, kept ? layer.have_bytes : 0};
  }
  return out;
}

void NodeAgent::restore(const NodeAgentDisk& disk) {
  apps_.clear();
  layers_.clear();
  bytes_stored_ = 0;
  for (const auto& [name, app] : disk.apps) {
    AppSlot& slot = apps_[name];
    slot.running = app.running;
    slot.previous = app.previous;
    slot.target = app.target;
    slot.phase = app.failed ? Phase::failed : Phase::idle;
    slot.last_generation = app.last_generation;
  }
  for (const auto& [digest, layer] : disk.layers) {
    layers_[digest] = StoredLayer{layer.size_bytes, std::min(layer.have_bytes, layer.size_bytes)};
    bytes_stored_ += layer.size_bytes;  // space is reserved for partial layers too, as when their pull started
  }
}

void NodeAgent::on_boot() {
  arm_poll(true);
  for (auto& [name, slot] : apps_) {
    if (slot.running) {
      ports_.runtime.start_container(*slot.running);
      ++container_starts_;
    }
  }
  // Continue the updates that were in progress: the desired state was persisted when it was accepted. An app
  // that is where it should be says so again: a report sent just before the power went may never have arrived.
  for (auto& [name, slot] : apps_) {
    if (slot.target && slot.phase == Phase::idle)
      begin_download(name);
    else if (!slot.target && slot.running && slot.phase == Phase::idle)
      report(name, *slot.running, slot.last_generation, NodeAppState::healthy);
  }
}

void NodeAgent::on_send_failed(const Message& message) {
  const auto* status = std::get_if<StatusReport>(&message);
  if (status == nullptr) return;
  auto last = last_report_.find(status->app);
  if (last == last_report_.end() || last->second.state != status->state || last->second.revision != status->revision ||
      last->second.generation != status->generation)
    return;  // a newer report replaced it: that one is what the orchestrator needs
  if (report_timer_.count(status->app) != 0) return;
  unsigned attempts = ++report_attempts_[status->app];
  double backoff = std::min(config_.retry_max_s, config_.retry_initial_s * std::pow(2.0, attempts - 1));
  backoff *= 0.8 + 0.4 * ports_.random.uniform01();
  report_timer_[status->app] = arm(backoff, {TimerPurpose::report, status->app, {}});
}

void NodeAgent::on_timer(TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;  // cancelled
  PendingTimer timer = std::move(it->second);
  timers_.erase(it);
  if (timer.purpose == TimerPurpose::poll) {
    Poll poll{config_.id, {}};
    for (const auto& [name, slot] : apps_) poll.generations[name] = slot.last_generation;
    ports_.channel.send_to_orchestrator(poll);
    arm_poll(false);
    return;
  }
  if (timer.purpose == TimerPurpose::report) {
    report_timer_.erase(timer.app);
    auto last = last_report_.find(timer.app);
    if (last != last_report_.end()) ports_.channel.send_to_orchestrator(last->second);
    return;
  }
  auto slot_it = apps_.find(timer.app);
  if (timer.purpose == TimerPurpose::restart) {
    if (slot_it == apps_.end() || !slot_it->second.running) return;
    slot_it->second.restart_timer = 0;
    slot_it->second.crash_restart = true;
    ++crash_restarts_;
    ++container_starts_;
    ports_.runtime.start_container(*slot_it->second.running);
    return;
  }
  if (slot_it == apps_.end() || !slot_it->second.target) return;
  switch (timer.purpose) {
    case TimerPurpose::jitter:
      begin_download(timer.app);
      break;
    case TimerPurpose::retry:
      if (layers_.at(timer.digest).complete()) {
        maybe_downloaded(timer.app);  // another app's pull of this shared layer finished meanwhile
      } else {
        enqueue_fetch(timer.app, timer.digest);
        pump_downloads();
      }
      break;
    case TimerPurpose::ready:
      if (config_.verification_window_s > 0)
        slot_it->second.phase_timer = arm(config_.verification_window_s, {TimerPurpose::verified, timer.app, {}});
      else
        commit(timer.app);
      break;
    case TimerPurpose::verified:
      commit(timer.app);
      break;
    case TimerPurpose::poll:
    case TimerPurpose::restart:  // handled above
      break;
    case TimerPurpose::report:  // handled above: a report outlives the update it was about
      break;
  }
}

void NodeAgent::report(const std::string& app, const Release& release, std::uint64_t generation, NodeAppState state,
                       std::string detail, FailureReason reason) {
  StatusReport status{config_.id, app, release.revision, generation, state, std::move(detail), reason};
  last_report_[app] = status;
  report_attempts_[app] = 0;
  if (auto pending = report_timer_.find(app); pending != report_timer_.end()) {
    ports_.timers.cancel_timer(pending->second);
    timers_.erase(pending->second);
    report_timer_.erase(pending);
  }
  ports_.channel.send_to_orchestrator(status);
}

TimerId NodeAgent::arm(double delay_s, PendingTimer timer) {
  TimerId id = ports_.timers.set_timer(delay_s);
  timers_.emplace(id, std::move(timer));
  return id;
}

}  // namespace fleetsim::agents
