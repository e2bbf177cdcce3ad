#include "event_loop.hpp"

#include <simgrid/Exception.hpp>

namespace fleetsim::sim {

namespace sg4 = simgrid::s4u;

EventLoop::TimerId EventLoop::add_timer(double delay_s, std::function<void()> callback) {
  TimerId id = next_timer_++;
  double at = sg4::Engine::get_clock() + (delay_s > 0 ? delay_s : 0);
  timers_.emplace(std::make_pair(at, id), std::move(callback));
  timer_at_.emplace(id, at);
  return id;
}

void EventLoop::cancel_timer(TimerId id) {
  auto it = timer_at_.find(id);
  if (it == timer_at_.end()) return;
  timers_.erase({it->second, id});
  timer_at_.erase(it);
}

void EventLoop::watch(const sg4::CommPtr& comm, CommCallback callback) {
  comms_.push_back(comm);
  callbacks_.push_back(std::move(callback));
}

void EventLoop::unwatch(const sg4::CommPtr& comm) {
  for (std::size_t i = 1; i < comms_.size(); ++i) {
    if (comms_[i] == comm) {
      comms_.erase(comms_.begin() + static_cast<std::ptrdiff_t>(i));
      callbacks_.erase(callbacks_.begin() + static_cast<std::ptrdiff_t>(i));
      return;
    }
  }
}

void EventLoop::post_inbox_get() {
  inbox_payload_ = nullptr;
  auto get = inbox_->get_async<Envelope>(&inbox_payload_);
  if (comms_.empty()) {
    comms_.push_back(get);
    callbacks_.emplace_back();
  } else {
    comms_[0] = get;
  }
}

void EventLoop::fire_due_timers() {
  // Timers due now fire in (time, creation) order; a callback may add or cancel timers.
  while (!timers_.empty() && timers_.begin()->first.first <= sg4::Engine::get_clock()) {
    auto node = timers_.extract(timers_.begin());
    timer_at_.erase(node.key().second);
    node.mapped()();
  }
}

void EventLoop::run(const std::function<void(std::unique_ptr<Envelope>)>& on_envelope) {
  post_inbox_get();
  for (;;) {
    fire_due_timers();
    double timeout = -1;
    if (!timers_.empty()) timeout = std::max(0.0, timers_.begin()->first.first - sg4::Engine::get_clock());
    ssize_t index = -1;
    bool ok = true;
    try {
      index = sg4::Comm::wait_any_for(comms_, timeout);
    } catch (const simgrid::NetworkFailureException&) {
      ok = false;
    } catch (const simgrid::TimeoutException&) {
      ok = false;
    }
    if (!ok) {
      // Find the communication that failed: SimGrid raised its failure in this actor.
      for (std::size_t i = 1; i < comms_.size(); ++i) {
        if (comms_[i]->get_state() == sg4::Activity::State::FAILED ||
            comms_[i]->get_state() == sg4::Activity::State::CANCELED) {
          index = static_cast<ssize_t>(i);
          break;
        }
      }
      if (index < 0) continue;
    }
    if (index < 0) continue;  // a timer is due
    if (index == 0) {
      std::unique_ptr<Envelope> envelope(inbox_payload_);
      post_inbox_get();
      if (envelope) on_envelope(std::move(envelope));
      continue;
    }
    auto i = static_cast<std::size_t>(index);
    CommCallback callback = std::move(callbacks_[i]);
    comms_.erase(comms_.begin() + index);
    callbacks_.erase(callbacks_.begin() + index);
    callback(ok);
  }
}

}  // namespace fleetsim::sim
