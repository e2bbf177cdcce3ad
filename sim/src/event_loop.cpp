#include "event_loop.hpp"

#include <algorithm>
#include <cmath>
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

EventLoop::TimerId EventLoop::insert(double at_s, Task callback) {
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
  if (std::isnan(at_s)) return id;  // a lane's: add_timer(Lane) places it
  if (at_s <= sg4::Engine::get_clock()) {
    // Due now: after every timer due now that exists already (all made earlier, so in the heap, or before it in this
    // queue), which is where the heap's (time, creation) order puts it, without the heap's cost.
    due_now_.push_back(id);
    return id;
  }
  heap_.push_back({at_s, id});
  std::push_heap(heap_.begin(), heap_.end(), Later{});
  return id;
}

void EventLoop::pop_top() {
  const Lane lane = heap_.front().lane;
  std::pop_heap(heap_.begin(), heap_.end(), Later{});
  heap_.pop_back();
  if (lane == 0) return;
  auto& queue = lanes_[lane - 1].queue;
  queue.pop_front();
  if (queue.empty()) return;
  heap_.push_back(queue.front());
  std::push_heap(heap_.begin(), heap_.end(), Later{});
}

bool EventLoop::prune() {
  while (!heap_.empty()) {
    const HeapEntry& top = heap_.front();
    if (slots_[top.id & kSlotMask].id == top.id) return true;
    pop_top();
  }
  return false;
}

EventLoop::Lane EventLoop::lane(double delay_s) {
  if (!(delay_s > 0)) throw std::invalid_argument("event loop: a lane's delay must be positive");
  for (std::size_t i = 0; i < lanes_.size(); ++i)
    if (lanes_[i].delay == delay_s) return static_cast<Lane>(i + 1);
  lanes_.push_back({delay_s, {}});
  return static_cast<Lane>(lanes_.size());
}

EventLoop::TimerId EventLoop::add_timer_in(Lane lane, Task callback) {
  LaneQueue& l = lanes_.at(lane - 1);
  const double at_s = sg4::Engine::get_clock() + l.delay;
  // A slot as insert() takes one, but the timer goes to the lane's queue.
  const TimerId id = insert(std::numeric_limits<double>::quiet_NaN(), std::move(callback));
  l.queue.push_back({at_s, id, lane});
  if (l.queue.size() == 1) {
    heap_.push_back(l.queue.front());
    std::push_heap(heap_.begin(), heap_.end(), Later{});
  }
  return id;
}

EventLoop::TimerId EventLoop::add_timer(double delay_s, Task callback) {
  return insert(sg4::Engine::get_clock() + std::max(delay_s, 0.0), std::move(callback));
}

void EventLoop::cancel_timer(TimerId id) {
  const std::uint64_t slot = id & kSlotMask;
  if (id == 0 || slot >= slots_.size() || slots_[slot].id != id) return;  // ran, cancelled, or never was
  slots_[slot].callback = nullptr;
  slots_[slot].id = 0;
  free_slots_.push_back(static_cast<std::uint32_t>(slot));
}

EventLoop::TimerId EventLoop::post_at(double at_s, Task callback) {
  at_s = std::max(at_s, sg4::Engine::get_clock());
  const TimerId id = insert(at_s, std::move(callback));
  if (at_s < wake_at_) ring();
  return id;
}

void EventLoop::ring() {
  // Only another actor can find this loop waiting: the loop's own actor is running when it adds work.
  if (quiet_waiting_ && !quiet_rung_) {
    quiet_rung_ = true;
    if (quiet_)
      quiet_->release();
    else
      sleeper_->resume();
  }
}

// The loop sleeps by suspending its actor: ring() resumes it, and so does an alarm at the next timer's date, a
// SimGrid kernel timer run by maestro. Resuming costs maestro a push on its list of actors to run. (A semaphore did
// this before: an acquisition activity made, registered, finished and freed per wait, a tenth of a telemetry-heavy
// run. An acquire with a timeout before that put a sleep action into the CPU model at every wait, which the engine
// then updated, solved and ended. A cancelled execution as a doorbell before that: its exception, with a backtrace,
// was most of a run's cost when every delivery paid it.) The order is safe: a ring from another actor in the same
// scheduling round is a simcall, which maestro answers after this actor's suspension, in the order they ran.
// SimGrid suspends an actor's executions with it, so while the loop's actor has one running (a GPU's), the loop
// waits on a semaphore instead.
void EventLoop::wait_quietly() {
  quiet_ = owned_running_ > 0 ? semaphore_.get() : nullptr;  // before a ring can come
  quiet_waiting_ = true;
  if (prune()) {
    alarm_ = simgrid::kernel::timer::Timer::set(wake_at_, [this] {
      alarm_ = nullptr;
      ring();
    });
  }
  if (quiet_ != nullptr) {
    quiet_->acquire();
    quiet_ = nullptr;
  } else {
    sg4::this_actor::suspend();
  }
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
  // An execution belongs to the actor that made it, and SimGrid suspends an actor's executions with the actor: while
  // the loop's actor has one running, the loop sleeps on a semaphore instead (wait_quietly).
  const bool owned = dynamic_cast<const sg4::Exec*>(activity.get()) != nullptr && sg4::Actor::self() == sleeper_;
  watched_[activity.get()] = Watched{activity, alive, owned};
  owned_running_ += owned ? 1 : 0;
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
    forget(e.activity.get());
    e.callback(e.ok);
  }
}

void EventLoop::unwatch(const sg4::ActivityPtr& activity) {
  auto it = watched_.find(activity.get());
  if (it == watched_.end()) return;
  *it->second.alive = false;
  forget(activity.get());
}

void EventLoop::forget(const sg4::Activity* activity) {
  auto it = watched_.find(activity);
  if (it == watched_.end()) return;
  owned_running_ -= it->second.owned ? 1 : 0;
  watched_.erase(it);
}

void EventLoop::fire(TimerId id) {
  Slot& slot = slots_[id & kSlotMask];
  Task callback = std::move(slot.callback);
  slot.id = 0;
  free_slots_.push_back(static_cast<std::uint32_t>(id & kSlotMask));
  callback();
}

void EventLoop::fire_due_timers() {
  // Callbacks due now run in (time, creation) order; a callback may add or cancel timers. The heap's due timers
  // were all made before this instant's, which wait in due_now_ in creation order; a callback adds to due_now_ only.
  const double now = sg4::Engine::get_clock();
  while (prune() && heap_.front().at <= now) {
    const TimerId id = heap_.front().id;
    pop_top();
    fire(id);
  }
  // By index: a callback may append (and so reallocate) while it runs.
  for (std::size_t i = 0; i < due_now_.size(); ++i) {
    const TimerId id = due_now_[i];
    if (slots_[id & kSlotMask].id == id) fire(id);  // else cancelled
  }
  due_now_.clear();
}

void EventLoop::run() {
  sleeper_ = sg4::Actor::self();
  // Created here, not before waiting: creating is a simcall, during which other actors run and may stop or post to
  // this loop, which then must not go to sleep unrung.
  if (!semaphore_) semaphore_ = sg4::Semaphore::create(0);
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
      owned_running_ = 0;
      for (Waiter* w : idle_) {
        w->quit = true;
        w->go->release();
      }
      idle_.clear();
      clear_alarm();  // a pending alarm would keep the engine's clock going after the run
      return;
    }
    // due_now_ is empty here: fire_due_timers ran it dry, and nothing ran since
    wake_at_ = prune() ? heap_.front().at : std::numeric_limits<double>::infinity();
    wait_quietly();
  }
}

}  // namespace fleetsim::sim
