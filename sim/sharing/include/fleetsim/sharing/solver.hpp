#pragma once
// fleetsim::sharing: an exact, incremental weighted max-min sharing solver for tree-shaped link sets
// (registry egress -> site uplink -> node port), with per-flow bounds, a latency phase, bandwidth changes and links
// that fail. It reproduces the bandwidth sharing of SimGrid 3.32's CM02 model (lmm::MaxMin, network/optim:Full)
// for the flows it is given; docs/SOLVER.md states the semantics, the algorithm and its limits.
// It depends on nothing (no SimGrid): time is whatever the caller says it is, and only moves forwards.

#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

namespace fleetsim::sharing {

using LinkId = std::uint32_t;
using FlowId = std::uint32_t;
inline constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
inline constexpr double kInfinity = std::numeric_limits<double>::infinity();

// A flow's path is its leaf link and every ancestor of it up to a root (a tree: a flow through a link crosses the
// link's parent too). Different directions of a split-duplex link are different links, usually in different trees.
struct FlowSpec {
  LinkId leaf = kNone;
  double bytes = 0;
  // SimGrid's sharing penalty: the flow's rate is level / weight on the link that bottlenecks it. CM02: the route
  // latency, or 1 for a zero-latency route (NetworkCm02Model::communicate, comm_action_set_variable).
  double weight = 1;
  // The flow's own rate limit (bytes/s), e.g. TCP-gamma / (2 * latency) or a single-flow link (a FATPIPE link, a
  // per-slot loss cap). With Options::bound_by_path_at_start it is also limited by its links' bandwidths at start.
  double bound = kInfinity;
  // Seconds during which the flow exists (and fails with its path) but takes no bandwidth (CM02's latency phase).
  double latency = 0;
};

// A flow that finished or failed; `remaining` is what it still had to move (0 for a completion).
struct Ended {
  FlowId flow = kNone;
  double time = 0;
  bool failed = false;
  double remaining = 0;
};

enum class FlowState : std::uint8_t { pending, uncapped, capped, ended, free };

struct Options {
  // SimGrid: comm_action_set_bounds bounds every flow by the smallest bandwidth of its route when it starts, and
  // never updates that bound when a link's bandwidth changes later.
  bool bound_by_path_at_start = true;
  // SimGrid's surf/precision (seconds): a latency phase ending within this of an event ends at that event.
  double time_precision = 1e-9;
};

// Counters of what the solver did (for benchmarks and the complexity claims in docs/SOLVER.md).
struct Stats {
  std::uint64_t events = 0;         // activations, completions, cancellations, failures, bandwidth changes
  std::uint64_t class_changes = 0;  // flows capped/uncapped, links saturated/released
  std::uint64_t scans = 0;          // level computations
  // Levels set where SimGrid's maxmin/precision would drop the link early and over-allocate it: the flows
  // bottlenecked there carry less than 1e-5 of its bandwidth (docs/SOLVER.md, "maxmin/precision").
  std::uint64_t precision_hazards = 0;
};

class Solver {
 public:
  explicit Solver(Options options = {});
  ~Solver();
  Solver(const Solver&) = delete;
  Solver& operator=(const Solver&) = delete;

  // Links are added before flows use them; `parent` must already exist.
  LinkId add_link(double bandwidth, LinkId parent = kNone);
  LinkId parent(LinkId link) const;
  double bandwidth(LinkId link) const;
  bool is_on(LinkId link) const;

  // Every call takes the current time, which never decreases; events due before it are processed first.
  // A flow whose path has a link off fails at once (reported by take_ended, remaining = bytes).
  FlowId start(double now, const FlowSpec& spec);
  // Removes a flow (pending or running) without reporting it; returns the bytes it still had to move.
  double cancel(double now, FlowId flow);
  void set_bandwidth(double now, LinkId link, double bandwidth);
  // Every flow whose path crosses the link (running or in its latency phase) fails now.
  void turn_off(double now, LinkId link);
  void turn_on(double now, LinkId link);

  // The time of the next activation or completion (kInfinity if none).
  double next_event_time() const;
  // Processes every activation and completion due at or before `now`, in time order.
  void advance(double now);
  // Completions and failures since the last call, in the order they happened. Their ids are reused afterwards.
  std::vector<Ended> take_ended();
  void take_ended(std::vector<Ended>& out);  // the same into `out` (cleared first), keeping both buffers' capacity

  FlowState state(FlowId flow) const;
  double remaining(double now, FlowId flow) const;  // bytes still to move at `now` (after advance(now))
  double rate(FlowId flow) const;                   // bytes/s now (0 in the latency phase)
  double effective_bound(FlowId flow) const;        // the bound in force (spec.bound, maybe limited by the path)
  std::size_t flow_count() const;                   // flows pending or running
  const Stats& stats() const;

  // Self-check of the internal invariants (aggregates, classifications, levels); throws std::logic_error.
  void check_invariants(double now) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fleetsim::sharing
