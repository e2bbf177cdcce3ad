// The event loop of one actor: it waits on the communications the actor started, on its timers, and on
// deliveries other actors post to it, and hands each to a callback. It is how the sans-IO agents are driven on
// SimGrid. Deliveries (control messages) are timed callbacks, not SimGrid communications: see docs/ENGINE.md.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <utility>
#include <vector>

#include <simgrid/s4u.hpp>

#include "fleetsim/agents/orchestrator.hpp"
#include "fleetsim/agents/protocol.hpp"

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

  EventLoop() : activities_(1), callbacks_(1), path_up_(1) {}
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Timers of the loop's own actor.
  TimerId add_timer(double delay_s, std::function<void()> callback);
  void cancel_timer(TimerId id);
  // Called from any actor: runs callback in this loop's actor at simulated time at_s, after the callbacks
  // already due at that time. Wakes the loop if it sleeps past at_s. The id cancels it (cancel_timer) until it runs.
  TimerId post_at(double at_s, std::function<void()> callback);
  // Waits for comm too and calls callback when it ends. May be called from another actor (a sender handing a
  // message in flight to its receiver): the loop then wakes to wait on it. path_up tells, when SimGrid reports a
  // network failure, whether this communication's path is still up (the failed one's is not).
  void watch(const simgrid::s4u::CommPtr& comm, CommCallback callback, std::function<bool()> path_up = {});
  // The same for any activity (an execution on a GPU host: up tells whether that host is still on).
  void watch_activity(const simgrid::s4u::ActivityPtr& activity, CommCallback callback, std::function<bool()> up = {});
  void unwatch(const simgrid::s4u::CommPtr& comm);

  // Runs until stop() is called (from any actor); then cancels what it still waits on and returns.
  void run();
  void stop();
  // Called in every loop each time it wakes (the run watches for interrupts there); empty: nothing.
  static void on_wake(std::function<void()> hook) { wake_hook() = std::move(hook); }

 private:
  static std::function<void()>& wake_hook() {
    static std::function<void()> hook;
    return hook;
  }
  TimerId insert(double at_s, std::function<void()> callback);
  // Drops cancelled timers from the top of the heap; true if a live timer is left.
  bool prune();
  void ring();
  void fire_due_timers();
  void wait_quietly();

  // activities_[0] is the doorbell: an execution that never ends on its own, cancelled by post_at to wake the
  // actor. It costs nothing in the network's bandwidth-sharing system.
  std::vector<simgrid::s4u::ActivityPtr> activities_;
  std::vector<CommCallback> callbacks_;         // parallel to activities_
  std::vector<std::function<bool()>> path_up_;  // parallel to activities_
  simgrid::s4u::ExecPtr doorbell_;
  simgrid::s4u::SemaphorePtr quiet_;  // what the loop sleeps on when it watches no activity (wait_quietly)
  bool quiet_waiting_ = false;
  bool quiet_rung_ = false;
  bool waiting_ = false;
  bool rung_ = false;
  bool stopping_ = false;
  double wake_at_ = std::numeric_limits<double>::infinity();
  // Timers: a binary heap of (time, id), earliest first, ties in creation order; the callbacks sit in slots reused
  // through a free list. An id is its creation number (high 32 bits) and its slot (low 32 bits): cancelling frees
  // the slot at once, and the heap entry, found stale when it reaches the top, is dropped. (Two ordered maps did
  // this before: two node allocations and two tree walks per timer, a tenth of a telemetry-heavy run.)
  struct HeapEntry {
    double at;
    TimerId id;
  };
  struct Slot {
    std::function<void()> callback;
    TimerId id = 0;  // 0: free
  };
  std::vector<HeapEntry> heap_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::uint64_t next_seq_ = 1;
};

}  // namespace fleetsim::sim
