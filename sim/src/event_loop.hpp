// The event loop of one actor: it runs its timers and the deliveries other actors post to it, and the ends of the
// SimGrid activities it watches, each as a callback. It is how the sans-IO agents are driven on SimGrid. Deliveries
// (control messages) are timed callbacks, not SimGrid communications: see docs/ENGINE.md.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include <simgrid/s4u.hpp>

#include "fleetsim/agents/orchestrator.hpp"
#include "fleetsim/agents/protocol.hpp"
#include "task.hpp"

namespace fleetsim::sim {

// What actors hand each other: an agent message or a command for the orchestrator.
struct Envelope {
  enum class Kind : std::uint8_t { message, command, settled } kind = Kind::message;
  agents::Message message;
  agents::Command command;
  std::string operation_name;  // with a command
};

class EventLoop {
 public:
  using TimerId = std::uint64_t;
  // Completion callbacks get ok = false when the communication failed (a link or host went down).
  using CommCallback = std::function<void(bool ok)>;

  EventLoop() = default;
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Timers of the loop's own actor.
  TimerId add_timer(double delay_s, Task callback);
  // A lane holds the timers made with one fixed delay (> 0): made at non-decreasing times, they are due in the order
  // they were made, so a queue keeps them and only its first sits in the heap. Periodic timers that many sites
  // share (batch ticks, samples, acknowledgements) cost a queue push instead of a push on a heap of thousands.
  using Lane = std::uint32_t;
  Lane lane(double delay_s);
  TimerId add_timer_in(Lane lane, Task callback);
  void cancel_timer(TimerId id);
  // Called from any actor: runs callback in this loop's actor at simulated time at_s, after the callbacks
  // already due at that time. Wakes the loop if it sleeps past at_s. The id cancels it (cancel_timer) until it runs.
  TimerId post_at(double at_s, Task callback);
  // Calls callback in this loop's actor when comm ends (ok = false if it failed: a link or host went down). May be
  // called from another actor (a sender handing a message in flight to its receiver). A small actor of its own waits
  // on the activity (on the calling actor's host) and posts its end here: SimGrid answers a wait on one activity at
  // the cost of that activity, where a wait on many (Activity::wait_any_for) tests every one of them each time, which
  // made a site's loop of hundreds of transfers cost the square of their number.
  void watch(const simgrid::s4u::CommPtr& comm, CommCallback callback);
  // The same for any activity (an execution on a GPU host fails when that host goes down).
  void watch_activity(const simgrid::s4u::ActivityPtr& activity, CommCallback callback);
  // Forgets a watched activity: its callback never runs (the caller cancels it).
  void unwatch(const simgrid::s4u::ActivityPtr& activity);

  // Runs until stop() is called (from any actor); then cancels the activities it still watches and returns.
  void run();
  void stop();
  // Called in every loop each time it wakes (the run watches for interrupts there); empty: nothing.
  static void on_wake(std::function<void()> hook) { wake_hook() = std::move(hook); }

 private:
  static std::function<void()>& wake_hook() {
    static std::function<void()> hook;
    return hook;
  }
  TimerId insert(double at_s, Task callback);
  // Drops cancelled timers from the top of the heap; true if a live timer is left.
  bool prune();
  void ring();
  void fire_due_timers();
  void fire(TimerId id);
  void wait_quietly();
  void clear_alarm();

  // The activities watched: each has a waiter actor; `alive` turns false when it is unwatched or the loop stops.
  struct Watched {
    simgrid::s4u::ActivityPtr activity;
    std::shared_ptr<bool> alive;
    bool owned = false;  // an execution the loop's actor made
  };
  std::unordered_map<const simgrid::s4u::Activity*, Watched> watched_;
  std::size_t owned_running_ = 0;  // watched executions the loop's actor made
  void forget(const simgrid::s4u::Activity* activity);
  // Ends the waiters reported, run together in the order the activities were watched (as SimGrid's own wait on many
  // reported them), whatever order SimGrid woke the waiters in.
  struct Ended {
    std::uint64_t order;
    bool ok;
    simgrid::s4u::ActivityPtr activity;
    std::shared_ptr<bool> alive;
    CommCallback callback;
  };
  std::vector<Ended> ended_;
  bool ended_posted_ = false;
  std::uint64_t next_watch_ = 0;
  void run_ended();
  // The waiter actors, kept for the next activity once theirs ended.
  struct Waiter {
    simgrid::s4u::SemaphorePtr go;  // released when it is given an activity, or told to quit
    simgrid::s4u::ActivityPtr activity;
    std::shared_ptr<bool> alive;
    std::uint64_t order = 0;
    CommCallback callback;
    bool quit = false;
  };
  std::vector<std::unique_ptr<Waiter>> waiters_;
  std::vector<Waiter*> idle_;
  void wait_for_activities(Waiter& w);
  simgrid::s4u::Actor* sleeper_ = nullptr;  // the loop's actor, suspended while the loop waits (wait_quietly)
  simgrid::s4u::SemaphorePtr semaphore_;     // what it waits on instead while it owns a running execution
  simgrid::s4u::Semaphore* quiet_ = nullptr;  // the semaphore while the loop waits on it
  bool quiet_waiting_ = false;
  bool quiet_rung_ = false;
  simgrid::kernel::timer::Timer* alarm_ = nullptr;  // wakes the loop at its next timer (wait_quietly)
  bool stopping_ = false;
  double wake_at_ = std::numeric_limits<double>::infinity();
  // Timers: a binary heap of (time, id), earliest first, ties in creation order; the callbacks sit in slots reused
  // through a free list. An id is its creation number (high 32 bits) and its slot (low 32 bits): cancelling frees
  // the slot at once, and the heap entry, found stale when it reaches the top, is dropped. (Two ordered maps did
  // this before: two node allocations and two tree walks per timer, a tenth of a telemetry-heavy run.)
  struct HeapEntry {
    double at;
    TimerId id;
    Lane lane = 0;  // 0: none; else the lane (index + 1) whose first timer this is
  };
  struct LaneQueue {
    double delay;
    std::deque<HeapEntry> queue;
  };
  std::vector<LaneQueue> lanes_;
  void pop_top();  // removes the heap's top; a lane's next timer takes its place
  struct Slot {
    Task callback;
    TimerId id = 0;  // 0: free
  };
  std::vector<HeapEntry> heap_;
  std::vector<TimerId> due_now_;  // timers made for the current instant, in creation order (fire_due_timers)
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::uint64_t next_seq_ = 1;
};

}  // namespace fleetsim::sim
