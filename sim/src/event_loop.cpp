#include "event_loop.hpp"

#include <algorithm>
#include <stdexcept>

#include <simgrid/Exception.hpp>

namespace fleetsim::sim {

namespace sg4 = simgrid::s4u;

namespace {
constexpr std::uint64_t kSlotMask = 0xffffffffULL;

// The heap's order: std::push_heap keeps the greatest first, so "greater" puts the earliest (time, id) on top.
bool later(const EventLoop::TimerId a_id, double a_at, const EventLoop::TimerId b_id, double b_at) {
  return a_at > b_at || (a_at == b_at && a_id > b_id);
}
}  // namespace

EventLoop::TimerId EventLoop::insert(double at_s, std::function<void()> callback) {
  std::uint32_t slot = 0;
  if (free_slots_.empty()) {
    if (slots_.size() > kSlotMask) throw std::length_error("event loop: more than 2^32 pending timers");
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
  }
  const TimerId id = (next_seq_++ << 32) | slot;
  slots_[slot].callback = std::move(callback);
  slots_[slot].id = id;
  heap_.push_back({at_s, id});
  std::push_heap(heap_.begin(), heap_.end(),
                 [](const HeapEntry& a, const HeapEntry& b) { return later(a.id, a.at, b.id, b.at); });
  return id;
}

bool EventLoop::prune() {
  while (!heap_.empty()) {
    const HeapEntry& top = heap_.front();
    if (slots_[top.id & kSlotMask].id == top.id) return true;
    std::pop_heap(heap_.begin(), heap_.end(),
                  [](const HeapEntry& a, const HeapEntry& b) { return later(a.id, a.at, b.id, b.at); });
    heap_.pop_back();
  }
  return false;
}

EventLoop::TimerId EventLoop::add_timer(double delay_s, std::function<void()> callback) {
  return insert(sg4::Engine::get_clock() + std::max(delay_s, 0.0), std::move(callback));
}

void EventLoop::cancel_timer(TimerId id) {
  const std::uint64_t slot = id & kSlotMask;
  if (id == 0 || slot >= slots_.size() || slots_[slot].id != id) return;  // ran, cancelled, or never was
  slots_[slot].callback = nullptr;
  slots_[slot].id = 0;
  free_slots_.push_back(static_cast<std::uint32_t>(slot));
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
  if (!prune())
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
  const double now = sg4::Engine::get_clock();
  while (prune() && heap_.front().at <= now) {
    const TimerId id = heap_.front().id;
    std::pop_heap(heap_.begin(), heap_.end(),
                  [](const HeapEntry& a, const HeapEntry& b) { return later(a.id, a.at, b.id, b.at); });
    heap_.pop_back();
    Slot& slot = slots_[id & kSlotMask];
    std::function<void()> callback = std::move(slot.callback);
    slot.callback = nullptr;
    slot.id = 0;
    free_slots_.push_back(static_cast<std::uint32_t>(id & kSlotMask));
    callback();
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
    wake_at_ = prune() ? heap_.front().at : std::numeric_limits<double>::infinity();
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
    wake_at_ = prune() ? heap_.front().at : std::numeric_limits<double>::infinity();
    double timeout = heap_.empty() ? -1.0 : std::max(0.0, wake_at_ - sg4::Engine::get_clock());
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
