// The event loop of one actor: it waits on the actor's inbox, on the communications the actor started, and on
// its timers, and hands each completion to a callback. It is how the sans-IO agents are driven on SimGrid.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include <simgrid/s4u.hpp>

#include "fleetsim/agents/orchestrator.hpp"
#include "fleetsim/agents/protocol.hpp"

namespace fleetsim::sim {

// What travels in mailboxes: an agent message, a command for the orchestrator, or the end of the run.
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

  explicit EventLoop(simgrid::s4u::Mailbox* inbox) : inbox_(inbox) {}
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  TimerId add_timer(double delay_s, std::function<void()> callback);
  void cancel_timer(TimerId id);
  void watch(const simgrid::s4u::CommPtr& comm, CommCallback callback);
  void unwatch(const simgrid::s4u::CommPtr& comm);

  // Runs until the actor is killed at the end of the simulation.
  [[noreturn]] void run(const std::function<void(std::unique_ptr<Envelope>)>& on_envelope);

private:
  void fire_due_timers();
  void post_inbox_get();

  simgrid::s4u::Mailbox* inbox_;
  Envelope* inbox_payload_ = nullptr;
  std::vector<simgrid::s4u::CommPtr> comms_;  // comms_[0] is the pending inbox get
  std::vector<CommCallback> callbacks_;       // parallel to comms_
  std::map<std::pair<double, TimerId>, std::function<void()>> timers_;
  std::map<TimerId, double> timer_at_;
  TimerId next_timer_ = 1;
};

}  // namespace fleetsim::sim
