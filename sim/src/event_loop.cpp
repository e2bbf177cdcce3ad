#include "event_loop.hpp"

#include <algorithm>

#include <simgrid/Exception.hpp>

namespace fleetsim::sim {

namespace sg4 = simgrid::s4u;

EventLoop::TimerId EventLoop::insert(double at_s, std::function<void()> callback) {
  TimerId id = next_timer_++;
  timers_.emplace(std::make_pair(at_s, id), std::move(callback));
  timer_at_.emplace(id, at_s);
  return id;
}

EventLoop::TimerId EventLoop::add_timer(double delay_s, std::function<void()> callback) {
  return insert(sg4::Engine::get_clock() + std::max(delay_s, 0.0), std::move(callback));
}

void EventLoop::cancel_timer(TimerId id) {
  auto it = timer_at_.find(id);
  if (it == timer_at_.end()) return;
  timers_.erase({it->second, id});
  timer_at_.erase(it);
}

EventLoop::TimerId EventLoop::post_at(double at_s, std::function<void()> callback) {
  at_s = std::max(at_s, sg4::Engine::get_clock());
  const TimerId id = insert(at_s, std::move(callback));
  if (at_s < wake_at_) ring();
  return id;
}

void EventLoop::ring() {
  // Only another actor can find this loop waiting: the loop's own actor is running when it adds work.
  if (waiting_ && !rung_) {
    rung_ = true;
    doorbell_->cancel();
  } else if (quiet_waiting_ && !quiet_rung_) {
    quiet_rung_ = true;
    quiet_->release();
  }
}

// With nothing to wait on but timers and deliveries, the loop sleeps on a semaphore: ring() releases it, a timer is
// its timeout. Neither raises an exception (the doorbell's cancel does, with a backtrace: most of a run's cost when
// every delivery paid it).
void EventLoop::wait_quietly() {
  if (!quiet_) quiet_ = sg4::Semaphore::create(0);
  quiet_waiting_ = true;
  if (timers_.empty())
    quiet_->acquire();
  else
    quiet_->acquire_timeout(std::max(0.0, wake_at_ - sg4::Engine::get_clock()));
  quiet_waiting_ = false;
  quiet_rung_ = false;  // a permit released as the timeout fired stays: the next wait returns at once, harmlessly
}

void EventLoop::stop() {
  stopping_ = true;
  ring();
}

void EventLoop::watch(const sg4::CommPtr& comm, CommCallback callback, std::function<bool()> path_up) {
  watch_activity(comm, std::move(callback), std::move(path_up));
}

void EventLoop::watch_activity(const sg4::ActivityPtr& comm, CommCallback callback, std::function<bool()> path_up) {
  activities_.push_back(comm);
  callbacks_.push_back(std::move(callback));
  path_up_.push_back(std::move(path_up));
  ring();
}

void EventLoop::unwatch(const sg4::CommPtr& comm) {
  for (std::size_t i = 1; i < activities_.size(); ++i) {
    if (activities_[i] == comm) {
      activities_.erase(activities_.begin() + static_cast<std::ptrdiff_t>(i));
      callbacks_.erase(callbacks_.begin() + static_cast<std::ptrdiff_t>(i));
      path_up_.erase(path_up_.begin() + static_cast<std::ptrdiff_t>(i));
      return;
    }
  }
}

void EventLoop::fire_due_timers() {
  // Callbacks due now run in (time, creation) order; a callback may add or cancel timers.
  while (!timers_.empty() && timers_.begin()->first.first <= sg4::Engine::get_clock()) {
    auto node = timers_.extract(timers_.begin());
    timer_at_.erase(node.key().second);
    node.mapped()();
  }
}

void EventLoop::run() {
  for (;;) {
    if (const auto& hook = wake_hook()) hook();
    fire_due_timers();
    if (stopping_) {
      // Leave nothing running behind: SimGrid must not wake an actor that has returned.
      for (std::size_t i = 1; i < activities_.size(); ++i) activities_[i]->cancel();
      if (doorbell_ && !rung_) doorbell_->cancel();
      activities_.resize(1);
      callbacks_.resize(1);
      path_up_.resize(1);
      return;
    }
    wake_at_ = timers_.empty() ? std::numeric_limits<double>::infinity() : timers_.begin()->first.first;
    if (activities_.size() == 1) {
      wait_quietly();
      continue;
    }
    if (!doorbell_ || rung_) {
      // Bound to 1 flop/s so that it takes no measurable share of the host's CPU.
      doorbell_ = sg4::this_actor::exec_init(1e300);
      doorbell_->set_bound(1.0)->start();
      activities_[0] = doorbell_;
      rung_ = false;
      // Starting the doorbell is a simcall: other actors ran meanwhile, and a stop() then found this loop neither
      // waiting nor able to be rung. Look again before waiting.
      if (stopping_) continue;
    }
    wake_at_ = timers_.empty() ? std::numeric_limits<double>::infinity() : timers_.begin()->first.first;
    double timeout = timers_.empty() ? -1.0 : std::max(0.0, wake_at_ - sg4::Engine::get_clock());
    ssize_t index = -1;
    bool ok = true;
    waiting_ = true;
    try {
      index = sg4::Activity::wait_any_for(activities_, timeout);
    } catch (const simgrid::CancelException&) {
      waiting_ = false;
      continue;  // the doorbell: a delivery was posted
    } catch (const simgrid::NetworkFailureException&) {
      ok = false;
    } catch (const simgrid::HostFailureException&) {
      ok = false;
    } catch (const simgrid::TimeoutException&) {
      ok = false;
    }
    waiting_ = false;
    if (!ok) {
      // Find the communication that failed: SimGrid raised its failure in this actor without saying which one,
      // and SimGrid 3.32's s4u API tells a failed communication from a finished one by neither state nor
      // remaining bytes on that path.
      for (std::size_t i = 1; i < activities_.size(); ++i) {
        if (activities_[i]->get_state() == sg4::Activity::State::FAILED) {  // an execution on a failed host
          index = static_cast<ssize_t>(i);
          break;
        }
        try {
          if (activities_[i]->test()) {
            // test() reports a failed communication as ended too: ask the path whether it is still up.
            index = static_cast<ssize_t>(i);
            ok = !path_up_[i] || path_up_[i]();
            break;
          }
        } catch (const simgrid::NetworkFailureException&) {
          index = static_cast<ssize_t>(i);
          break;
        } catch (const simgrid::HostFailureException&) {
          index = static_cast<ssize_t>(i);
          break;
        } catch (const simgrid::TimeoutException&) {
          index = static_cast<ssize_t>(i);
          break;
        }
      }
    }
    if (index <= 0) continue;  // a timer is due (or the doorbell, already handled)
    auto i = static_cast<std::size_t>(index);
    CommCallback callback = std::move(callbacks_[i]);
    activities_.erase(activities_.begin() + index);
    callbacks_.erase(callbacks_.begin() + index);
    path_up_.erase(path_up_.begin() + index);
    callback(ok);
  }
}

}  // namespace fleetsim::sim
