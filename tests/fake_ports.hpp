// A fake runtime for the agents: every port of ports.hpp implemented in memory, with no clock, network or randomness
// of its own. The test owns time (FakeClock, FakeTimers::advance_to), decides the fate of every transfer
// (FakeRegistry::complete / fail) and of every container (by calling the agent's on_container_event), and reads
// back what the agent did from the recorded calls. A shared Journal keeps the order of port calls across fakes,
// so that a test can assert "stopped only after downloaded".
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <ostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "fleetsim/agents/node_agent.hpp"
#include "fleetsim/agents/orchestrator.hpp"
#include "fleetsim/agents/ports.hpp"
#include "fleetsim/agents/protocol.hpp"

// GoogleTest prints these enums by name in failure messages (found by ADL, hence in the enums' namespace).
namespace fleetsim::agents {
inline void PrintTo(NodeAppState state, std::ostream* os) { *os << to_string(state); }
inline void PrintTo(NodeOutcome outcome, std::ostream* os) { *os << to_string(outcome); }
}  // namespace fleetsim::agents

namespace fleetsim::fakes {

using agents::Time;

// Every port call in the order it happened, as short readable lines ("start web@2", "fetch sha:a@400").
using Journal = std::vector<std::string>;

inline std::ptrdiff_t journal_index(const Journal& journal, const std::string& line) {
  auto it = std::find(journal.begin(), journal.end(), line);
  return it == journal.end() ? -1 : it - journal.begin();
}

class FakeClock final : public agents::Clock {
 public:
  Time now() const override { return now_; }
  void set(Time t) { now_ = t; }

 private:
  Time now_ = 0;
};

// Returns the scripted values in order, then `constant` for ever. Counts the draws.
class FakeRandom final : public agents::Random {
 public:
  explicit FakeRandom(double constant_value = 0.5) : constant(constant_value) {}
  double uniform01() override {
    ++draws;
    if (script.empty()) return constant;
    double value = script.front();
    script.pop_front();
    return value;
  }
  std::deque<double> script;
  double constant;
  unsigned draws = 0;
};

// Records every armed timer. Ids start at 1 (the agents use 0 as "no timer"). advance_to moves the clock and fires
// the due timers through `fire` (wired to the owner's on_timer) in (due time, id) order, each at its own time.
class FakeTimers final : public agents::Timers {
 public:
  struct Armed {
    agents::TimerId id = 0;
    double delay_s = 0;
    Time at = 0;
    bool cancelled = false;
    bool fired = false;
  };

  explicit FakeTimers(FakeClock& clock, Journal* journal = nullptr) : clock_(clock), journal_(journal) {}

  agents::TimerId set_timer(double delay_s) override {
    Armed armed{next_id_++, delay_s, clock_.now() + delay_s, false, false};
    all.push_back(armed);
    if (journal_) journal_->push_back("timer " + std::to_string(armed.id));
    return armed.id;
  }
  void cancel_timer(agents::TimerId id) override {
    for (auto& armed : all)
      if (armed.id == id) armed.cancelled = true;
    if (journal_) journal_->push_back("cancel timer " + std::to_string(id));
  }

  // Timers armed and neither cancelled nor fired, in arming order.
  std::vector<Armed> pending() const {
    std::vector<Armed> out;
    for (const auto& armed : all)
      if (!armed.cancelled && !armed.fired) out.push_back(armed);
    return out;
  }
  const Armed& last() const {
    if (all.empty()) throw std::logic_error("no timer was armed");
    return all.back();
  }

  void advance_to(Time until) {
    // An agent that re-arms a timer at the same instant forever (a zero-delay loop) would hang the test: fail it.
    std::size_t fired_at_this_instant = 0;
    Time instant = clock_.now();
    while (true) {
      Armed* due = nullptr;
      for (auto& armed : all) {
        if (armed.cancelled || armed.fired || armed.at > until) continue;
        if (due == nullptr || armed.at < due->at || (armed.at == due->at && armed.id < due->id)) due = &armed;
      }
      if (due == nullptr) break;
      due->fired = true;
      if (due->at != instant) {
        instant = due->at;
        fired_at_this_instant = 0;
      }
      if (++fired_at_this_instant > 10000)
        throw std::logic_error("over 10,000 timers fired at one instant: a timer loop that never lets time advance");
      agents::TimerId id = due->id;  // `all` may grow while firing
      if (due->at > clock_.now()) clock_.set(due->at);
      if (fire) fire(id);
    }
    if (until > clock_.now()) clock_.set(until);
  }
  void advance_by(double dt) { advance_to(clock_.now() + dt); }

  std::function<void(agents::TimerId)> fire;
  std::vector<Armed> all;

 private:
  FakeClock& clock_;
  Journal* journal_;
  agents::TimerId next_id_ = 1;
};

class FakeNodeChannel final : public agents::NodeChannel {
 public:
  explicit FakeNodeChannel(Journal* journal = nullptr) : journal_(journal) {}
  void send_to_orchestrator(const agents::Message& message) override {
    sent.push_back(message);
    if (const auto* status = std::get_if<agents::StatusReport>(&message); status && journal_)
      journal_->push_back(std::string("report ") + agents::to_string(status->state) + " " + status->app + "@" +
                          std::to_string(status->revision));
  }
  // The status reports sent so far, in order.
  std::vector<agents::StatusReport> reports() const {
    std::vector<agents::StatusReport> out;
    for (const auto& message : sent)
      if (const auto* status = std::get_if<agents::StatusReport>(&message)) out.push_back(*status);
    return out;
  }
  std::vector<agents::Message> sent;

 private:
  Journal* journal_;
};

class FakeOrchestratorChannel final : public agents::OrchestratorChannel {
 public:
  void send_to_node(agents::NodeId node, const agents::Message& message) override { sent.emplace_back(node, message); }
  // The DesiredState messages sent to one node, in order.
  std::vector<agents::DesiredState> desired_for(agents::NodeId node) const {
    std::vector<agents::DesiredState> out;
    for (const auto& [to, message] : sent)
      if (const auto* desired = std::get_if<agents::DesiredState>(&message); desired && to == node)
        out.push_back(*desired);
    return out;
  }
  std::vector<agents::NodeId> recipients() const {
    std::vector<agents::NodeId> out;
    for (const auto& entry : sent) out.push_back(entry.first);
    return out;
  }
  std::vector<std::pair<agents::NodeId, agents::Message>> sent;
};

// Records every transfer. The test ends a transfer with complete() or fail(); the result is delivered through
// `deliver` (wired to the agent's on_fetch_done). A cancelled transfer is marked and never delivered by itself.
class FakeRegistry final : public agents::Registry {
 public:
  struct Fetch {
    agents::TransferId id = 0;
    agents::Layer layer;
    std::uint64_t offset = 0;
    bool cancelled = false;
    bool done = false;
  };

  explicit FakeRegistry(Journal* journal = nullptr) : journal_(journal) {}

  agents::TransferId start_fetch(const agents::Layer& layer, std::uint64_t offset) override {
    all.push_back(Fetch{next_id_++, layer, offset, false, false});
    if (journal_) journal_->push_back("fetch " + layer.digest + "@" + std::to_string(offset));
    return all.back().id;
  }
  void cancel_fetch(agents::TransferId id) override {
    find(id).cancelled = true;
    if (journal_) journal_->push_back("cancel fetch " + find(id).layer.digest);
  }
  void remove_layer(const std::string& digest) override {
    removed.push_back(digest);
    if (journal_) journal_->push_back("remove layer " + digest);
  }
  std::vector<std::string> removed;  // layers the agent garbage-collected, in order

  // Transfers started and neither cancelled nor ended, in start order.
  std::vector<Fetch> active() const {
    std::vector<Fetch> out;
    for (const auto& fetch : all)
      if (!fetch.cancelled && !fetch.done) out.push_back(fetch);
    return out;
  }
  std::vector<std::string> digests_started() const {
    std::vector<std::string> out;
    for (const auto& fetch : all) out.push_back(fetch.layer.digest);
    return out;
  }
  Fetch& find(agents::TransferId id) {
    for (auto& fetch : all)
      if (fetch.id == id) return fetch;
    throw std::logic_error("unknown transfer " + std::to_string(id));
  }
  // The newest transfer of a layer (throws if the layer was never fetched).
  Fetch& latest(const std::string& digest) {
    for (auto it = all.rbegin(); it != all.rend(); ++it)
      if (it->layer.digest == digest) return *it;
    throw std::logic_error("layer " + digest + " was never fetched");
  }

  // Delivers success: every remaining byte [offset, size) arrived.
  void complete(agents::TransferId id) {
    Fetch& fetch = find(id);
    end(fetch, agents::FetchResult{true, fetch.layer.size_bytes - fetch.offset, {}, {}});
  }
  void complete(const std::string& digest) { complete(latest(digest).id); }
  // Delivers a failure after `bytes_received` bytes of this transfer arrived.
  void fail(agents::TransferId id, std::uint64_t bytes_received, std::string error = "connection reset") {
    end(find(id), agents::FetchResult{false, bytes_received, std::move(error), {}});
  }
  void fail(const std::string& digest, std::uint64_t bytes_received, std::string error = "connection reset") {
    fail(latest(digest).id, bytes_received, std::move(error));
  }
  // Delivers any result, as a runtime with a real store would (stored_bytes set).
  void finish(agents::TransferId id, const agents::FetchResult& result) { end(find(id), result); }
  // Delivers a result for a transfer the agent cancelled (a late callback racing the cancellation).
  void deliver_late(agents::TransferId id, const agents::FetchResult& result) {
    if (deliver) deliver(id, result);
  }

  std::function<void(agents::TransferId, const agents::FetchResult&)> deliver;
  std::vector<Fetch> all;

 private:
  void end(Fetch& fetch, const agents::FetchResult& result) {
    if (fetch.cancelled || fetch.done)
      throw std::logic_error("transfer " + std::to_string(fetch.id) + " is not active");
    fetch.done = true;
    agents::TransferId id = fetch.id;  // `all` may grow during delivery
    if (journal_) journal_->push_back(std::string(result.ok ? "fetched " : "fetch failed ") + fetch.layer.digest);
    if (deliver) deliver(id, result);
  }

  Journal* journal_;
  agents::TransferId next_id_ = 1;
};

// Records start/stop. The test emits started/exited by calling the agent's on_container_event.
class FakeContainerRuntime final : public agents::ContainerRuntime {
 public:
  explicit FakeContainerRuntime(Journal* journal = nullptr) : journal_(journal) {}
  void start_container(const agents::Release& release) override {
    starts.push_back(release);
    if (journal_) journal_->push_back("start " + release.app + "@" + std::to_string(release.revision));
  }
  void stop_container(const std::string& app) override {
    stops.push_back(app);
    if (journal_) journal_->push_back("stop " + app);
  }
  std::vector<agents::Release> starts;
  std::vector<std::string> stops;

 private:
  Journal* journal_;
};

// Everything one node agent needs, wired to it by attach().
struct FakeNodeWorld {
  Journal journal;
  FakeClock clock;
  FakeRandom random;
  FakeTimers timers{clock, &journal};
  FakeNodeChannel channel{&journal};
  FakeRegistry registry{&journal};
  FakeContainerRuntime runtime{&journal};

  agents::NodeAgentPorts ports() { return agents::NodeAgentPorts{clock, random, timers, channel, registry, runtime}; }
  void attach(agents::NodeAgent& agent) {
    timers.fire = [&agent](agents::TimerId id) { agent.on_timer(id); };
    registry.deliver = [&agent](agents::TransferId id, const agents::FetchResult& result) {
      agent.on_fetch_done(id, result);
    };
  }
};

// Everything an orchestrator needs, wired to it by attach().
struct FakeOrchestratorWorld {
  FakeClock clock;
  FakeTimers timers{clock};
  FakeOrchestratorChannel channel;

  agents::OrchestratorPorts ports() { return agents::OrchestratorPorts{clock, timers, channel}; }
  void attach(agents::Orchestrator& orchestrator) {
    timers.fire = [&orchestrator](agents::TimerId id) { orchestrator.on_timer(id); };
  }
};

}  // namespace fleetsim::fakes
