#include "event_loop.hpp"

#include <algorithm>
#include <stdexcept>

#include <simgrid/Exception.hpp>
#include <simgrid/kernel/Timer.hpp>

namespace fleetsim::sim {

namespace sg4 = simgrid::s4u;

namespace {
constexpr std::uint64_t kSlotMask = 0xffffffffULL;

// The heap's order: std::push_heap keeps the greatest first, so "later" puts the earliest (time, id) on top.
struct Later {
  template <typename Entry>
  bool operator()(const Entry& a, const Entry& b) const {
    return a.at > b.at || (a.at == b.at && a.id > b.id);
  }
};
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
  std::push_heap(heap_.begin(), heap_.end(), Later{});
  return id;
}

bool EventLoop::prune() {
  while (!heap_.empty()) {
    const HeapEntry& top = heap_.front();
    if (slots_[top.id & kSlotMask].id == top.id) return true;
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
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
  if (quiet_waiting_ && !quiet_rung_) {
    quiet_rung_ = true;
    quiet_->release();
  }
}

// The loop sleeps on a semaphore: ring() releases it, and so does an alarm at the next timer's date, a SimGrid kernel
// timer run by maestro. (An acquire with a timeout did this before: it puts a sleep action into the CPU model at
// every wait, which the engine then updates, solves and ends: a third of SimGrid's cost per step of a telemetry-heavy
// run. A cancelled execution as a doorbell did it before that: its exception, with a backtrace, was most of a run's
// cost when every delivery paid it.)
void EventLoop::wait_quietly() {
  quiet_waiting_ = true;
  if (prune()) {
    alarm_ = simgrid::kernel::timer::Timer::set(wake_at_, [this] {
      alarm_ = nullptr;
      ring();
    });
  }
  quiet_->acquire();
  quiet_waiting_ = false;
  quiet_rung_ = false;
  clear_alarm();
}

// Kernel timers live in maestro's heap; the actors and maestro run one at a time (fleetsim never sets
// contexts/nthreads), so the loop's actor may take its alarm back directly.
void EventLoop::clear_alarm() {
  if (alarm_ == nullptr) return;
  alarm_->remove();
  alarm_ = nullptr;
}

void EventLoop::stop() {
  stopping_ = true;
  ring();
}

void EventLoop::watch(const sg4::CommPtr& comm, CommCallback callback) { watch_activity(comm, std::move(callback)); }

void EventLoop::watch_activity(const sg4::ActivityPtr& activity, CommCallback callback) {
  auto alive = std::make_shared<bool>(true);
  watched_[activity.get()] = Watched{activity, alive};
  // An idle waiter takes it, or a new one: waiters are kept, since creating and destroying an actor per activity
  // (its context and its stack, 64 KiB: contexts/stack-size in engine_config.cpp) was 40 % of a 10,000-node rollout
  // on SimGrid's solver, and 44 s instead of 0.5 s for scenarios/gpu_inference.lua (one execution per GPU tick).
  Waiter* w = nullptr;
  if (idle_.empty()) {
    w = waiters_.emplace_back(std::make_unique<Waiter>()).get();
    w->go = sg4::Semaphore::create(0);
    sg4::Actor::create("wait", sg4::this_actor::get_host(), [this, w] { wait_for_activities(*w); });
  } else {
    w = idle_.back();
    idle_.pop_back();
  }
  w->activity = activity;
  w->alive = std::move(alive);
  w->order = next_watch_++;
  w->callback = std::move(callback);
  w->go->release();
}

// A waiter's body: waits on the activity it is given, hands its end to the loop, and waits to be given another.
void EventLoop::wait_for_activities(Waiter& w) {
  for (;;) {
    w.go->acquire();
    if (w.quit) return;
    bool ok = true;
    bool cancelled = false;
    try {
      w.activity->wait();
    } catch (const simgrid::CancelException&) {
      cancelled = true;  // unwatched and cancelled, or the loop stopped: nobody waits for it
    } catch (const simgrid::NetworkFailureException&) {
      ok = false;
    } catch (const simgrid::HostFailureException&) {
      ok = false;
    } catch (const simgrid::TimeoutException&) {
      ok = false;
    }
    if (!cancelled && *w.alive) {
      ended_.push_back({w.order, ok, std::move(w.activity), std::move(w.alive), std::move(w.callback)});
      if (!ended_posted_) {
        ended_posted_ = true;
        post_at(sg4::Engine::get_clock(), [this] { run_ended(); });
      }
    }
    w.activity = nullptr;
    w.alive = nullptr;
    w.callback = nullptr;
    if (stopping_) return;
    idle_.push_back(&w);
  }
}

void EventLoop::run_ended() {
  ended_posted_ = false;
  std::vector<Ended> ended = std::move(ended_);
  ended_.clear();
  std::sort(ended.begin(), ended.end(), [](const Ended& a, const Ended& b) { return a.order < b.order; });
  for (Ended& e : ended) {
    if (!*e.alive) continue;  // unwatched by a callback before it
    *e.alive = false;
    watched_.erase(e.activity.get());
    e.callback(e.ok);
  }
}

void EventLoop::unwatch(const sg4::ActivityPtr& activity) {
  auto it = watched_.find(activity.get());
  if (it == watched_.end()) return;
  *it->second.alive = false;
  watched_.erase(it);
}

void EventLoop::fire_due_timers() {
  // Callbacks due now run in (time, creation) order; a callback may add or cancel timers.
  const double now = sg4::Engine::get_clock();
  while (prune() && heap_.front().at <= now) {
    const TimerId id = heap_.front().id;
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
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
  // Created here, not before waiting: creating is a simcall, during which other actors run and may stop or post to
  // this loop, which then must not go to sleep unrung.
  if (!quiet_) quiet_ = sg4::Semaphore::create(0);
  for (;;) {
    if (const auto& hook = wake_hook()) hook();
    fire_due_timers();
    if (stopping_) {
      // Leave nothing running behind: the waiters end, the busy ones when their activities are cancelled (without
      // calling back), the idle ones told to quit.
      for (auto& [activity, w] : watched_) {
        *w.alive = false;
        w.activity->cancel();
      }
      watched_.clear();
      for (Waiter* w : idle_) {
        w->quit = true;
        w->go->release();
      }
      idle_.clear();
      clear_alarm();  // a pending alarm would keep the engine's clock going after the run
      return;
    }
    wake_at_ = prune() ? heap_.front().at : std::numeric_limits<double>::infinity();
    wait_quietly();
  }
}

}  // namespace fleetsim::sim
