// Bulk transfers (image layers, telemetry batches) on fleetsim's own sharing solver (sim/sharing, docs/SOLVER.md)
// instead of SimGrid's LMM. SimGrid keeps the clock, the actors, the links' state and the routes; this class reads
// each route once, mirrors the links the bulk transfers cross into the solver, and runs one actor whose only timer is
// the solver's next event. A transfer's end comes back to its owner's event loop as a callback, at the simulated
// time it ends, with the bytes it still had to move (so a failed pull knows what arrived without a snapshot).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <simgrid/s4u.hpp>

#include "event_loop.hpp"
#include "fleetsim/sharing/solver.hpp"
#include "platform.hpp"
#include "solver_check.hpp"

namespace fleetsim::sim {

class BulkNetwork {
 public:
  using Handle = std::uint64_t;  // never reused within a run (the solver's flow ids are); ordered by start
  // ok = false: a link of the path went down; remaining = bytes still to move (0 when ok).
  using Done = InlineFunction<void(bool ok, double remaining)>;

  // Why this run's settings fall outside what the solver reproduces (nullopt: they do not). `cfg` is the engine
  // configuration SimGrid gets (engine_config.cpp).
  static std::optional<std::string> unsupported(const std::map<std::string, std::string>& cfg);
  // The same for the platform: the FATPIPE ingest must act as a bound on every upload (docs/SOLVER.md §3.4).
  static std::optional<std::string> unsupported(const Platform& platform, const std::vector<simgrid::s4u::Host*>& uploaders);

  // The driver's timers run in `loop` (its own actor's, or the loop the sites share: see run.cpp).
  BulkNetwork(const Platform& platform, double time_precision_s, double tcp_gamma_bytes, EventLoop& loop);
  BulkNetwork(const BulkNetwork&) = delete;
  BulkNetwork& operator=(const BulkNetwork&) = delete;

  // Starts moving `bytes` from src to dst now; `done` runs later in `owner`'s actor (never within this call). One
  // end of the route is the cloud (registry or ingest). `private_leaf`: the route's last link carries only this
  // transfer (a download slot's loss cap), so it acts as a bound.
  Handle start(simgrid::s4u::Host* src, simgrid::s4u::Host* dst, double bytes, EventLoop& owner, Done done,
               bool private_leaf = false);
  // Stops a transfer without calling its `done`; returns the bytes it still had to move (those of its end if it
  // ended and its `done` has not run yet).
  double cancel(Handle handle);
  // The bytes a transfer still has to move now (0 once it ended and was handed over, or was cancelled). Reads the
  // solver without advancing it: nothing of a run changes by asking.
  double remaining(Handle handle);
  // After SimGrid's state or bandwidth of `link` changed (a fault): the transfers crossing it follow.
  void link_changed(const simgrid::s4u::Link* link);

  EventLoop& loop() { return loop_; }
  const sharing::Stats& stats() const { return solver_.stats(); }
  // `--cfg fleetsim/check-solver:yes`: every transfer from now on also runs on SimGrid's LMM, and the two are
  // compared (solver_check.hpp). Null when off.
  void enable_check() { check_ = std::make_unique<SolverCheck>(loop_, time_precision_); }
  SolverCheck* check() { return check_.get(); }

 private:
  struct Route {
    sharing::LinkId leaf = sharing::kNone;
    double latency = 0;
    double bound = sharing::kInfinity;  // TCP window, FATPIPE and private links
  };
  struct Transfer {
    sharing::FlowId flow = sharing::kNone;  // kNone once ended
    EventLoop* owner = nullptr;
    Done done;
    bool ended = false;
    double remaining = 0;  // at its end
  };

  const Route& route(simgrid::s4u::Host* src, simgrid::s4u::Host* dst, bool private_leaf);
  sharing::LinkId link_id(const simgrid::s4u::Link* link, sharing::LinkId parent);
  int rank(const simgrid::s4u::Link* link) const;
  double now();
  void hand_over_ended();
  void reschedule();
  void on_timer();

  const Platform& platform_;
  double time_precision_;
  double tcp_gamma_;
  sharing::Solver solver_;
  EventLoop& loop_;
  double last_now_ = 0;
  struct PairHash {
    std::size_t operator()(const std::pair<const simgrid::s4u::Host*, const simgrid::s4u::Host*>& p) const {
      return std::hash<const void*>()(p.first) * 31 + std::hash<const void*>()(p.second);
    }
  };
  std::unordered_map<std::pair<const simgrid::s4u::Host*, const simgrid::s4u::Host*>, Route, PairHash> routes_;
  std::unordered_map<const simgrid::s4u::Link*, sharing::LinkId> links_;
  std::unordered_set<const simgrid::s4u::Link*> site_links_;  // site uplinks (both directions)
  // The transfers, in slots reused through a free list: a handle is its start number (high 32 bits) and its slot.
  struct Slot {
    Handle handle = 0;  // 0: free
    Transfer transfer;
  };
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  Transfer* find(Handle handle);  // nullptr: ended and handed over, or cancelled
  void erase(Handle handle);
  std::vector<sharing::Ended> taken_;                               // hand_over_ended's buffers
  std::vector<std::pair<sharing::Ended, Handle>> ended_scratch_;
  std::vector<Handle> handle_of_flow_;  // by FlowId: the running transfer that has it
  Handle next_handle_ = 1;
  EventLoop::TimerId timer_ = 0;
  double scheduled_ = std::numeric_limits<double>::infinity();
  std::unique_ptr<SolverCheck> check_;
};

}  // namespace fleetsim::sim
