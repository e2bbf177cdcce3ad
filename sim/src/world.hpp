// What the actors of a run share: the scenario, the platform, the control channel between the orchestrator and the
// nodes, the measurements, and the checks the run's records go to. One World per run.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <simgrid/s4u.hpp>

#include "event_loop.hpp"
#include "fleetsim/agents/protocol.hpp"
#include "fleetsim/agents/telemetry.hpp"
#include "fleetsim/checks/invariants.hpp"
#include "fleetsim/reports/run_result.hpp"
#include "fleetsim/sim/run.hpp"
#include "platform.hpp"

namespace fleetsim::sim {

// A control message's path between the orchestrator and a node, read once from the platform's routes.
struct ControlPath {
  double latency_s = 0;
  double bottleneck_bytes_per_s = 0;
  // Control messages are delivered after the route latency plus their size over the path's narrowest link;
  // they do not take part in bandwidth sharing (docs/ENGINE.md, "Control messages").
  double delay(const agents::Message& message) const {
    return latency_s + static_cast<double>(agents::wire_size(message)) / bottleneck_bytes_per_s;
  }
};

ControlPath control_path(const simgrid::s4u::Host* from, const simgrid::s4u::Host* to);

// Where a posted envelope is handled (the node or the orchestrator actor).
class Receiver {
 public:
  virtual ~Receiver() = default;
  virtual void receive(const Envelope& envelope) = 0;
  virtual EventLoop& loop() = 0;
  // Whether the links between this receiver and the cloud that faults can turn off are up (empty: always).
  virtual std::function<bool()> path_to_cloud_up() const { return {}; }
  // Called just before a fault turns the receiver's uplink off, so that transfers about to fail can record how
  // far they got (SimGrid 3.32 reports a failed transfer's remaining bytes as 0).
  virtual void before_uplink_down() {}
  // Node crash and reboot (fault.node_crash), disk filled by something else (fault.disk_full); nodes only.
  virtual void crash() {}
  virtual void boot() {}
  virtual void fill_disk(std::uint64_t /*free_bytes*/) {}
  virtual void free_disk() {}
  // Whether messages can be handed to this receiver now (a powered-off node refuses them).
  virtual bool accepting() const { return true; }
  // A message this receiver sent (to `node`, or from it) could not be delivered.
  virtual void send_failed(std::size_t node, const agents::Message& message) = 0;
};

class SiteBus;
class BulkNetwork;

struct World {
  World(const Scenario& s, const RunOptions& o) : scenario(s), options(o) {}

  const Scenario& scenario;
  const RunOptions& options;
  Platform platform;
  std::vector<std::vector<std::size_t>> site_nodes;  // node indices per site

  // ---- actors ----
  std::vector<Receiver*> nodes;
  Receiver* orchestrator = nullptr;
  std::vector<SiteBus*> buses;  // per site index; null without a bus
  std::size_t bus_sites = 0;    // sites with a telemetry bus
  EventLoop* states_loop = nullptr;
  // Bulk transfers on fleetsim's own sharing solver (simulation.solver, docs/SOLVER.md); null: SimGrid's LMM.
  BulkNetwork* bulk = nullptr;
  simgrid::s4u::Mailbox* admin_inbox = nullptr;
  std::function<void()> close_faults;  // ends every open fault window and stops the injector
  std::function<void()> last_sample;
  // A host-to-host transfer on SimGrid's sharing, started (Comm::sendto_async's), from comms made in batches so that
  // SimGrid's list of them stays compact in memory (world.cpp).
  simgrid::s4u::CommPtr sendto(simgrid::s4u::Host* from, simgrid::s4u::Host* to, std::uint64_t bytes);
  std::vector<simgrid::s4u::CommPtr> comm_pool;   // the bytes over time at the run's end (StateSampler), before loops stop
  // Stops the loop of every actor (orchestrator, nodes, buses, sampler) so that the simulation ends.
  void stop_every_loop();

  // ---- stopping early: Ctrl-C or SIGTERM, or an internal error in an actor ----
  simgrid::s4u::ActorPtr timeline_actor;
  std::optional<double> stopped_early_at;  // simulated time of the stop
  std::string internal_error;              // what went wrong inside an actor (a bug: exit 3)
  // Ends every fault window and every loop now and stops the timeline: the simulation ends at this instant.
  void stop_early();

  // ---- control messages (world.cpp) ----
  std::vector<ControlPath> to_node;    // orchestrator -> node
  std::vector<ControlPath> from_node;  // node -> orchestrator
  bool timed_control = false;
  void send_to_node(std::size_t node, const agents::Message& message);
  void send_to_orchestrator(std::size_t node, const agents::Message& message);

  // ---- the run's records go to its checks ----
  std::unique_ptr<checks::InvariantChecks> checks;
  void record(const checks::Record& r) { checks->observe(r); }
  void record(const checks::TelemetryProduced& r) { checks->observe(r); }
  void record(const checks::BatchSent& r) { checks->observe(r); }
  void record(const checks::BatchArrived& r) { checks->observe(r); }
  void record(const checks::BatchAcknowledged& r) { checks->observe(r); }

  // ---- measurements ----
  // Per (app, generation), per node. Keyed by generation, not revision: a rollback returns to an older revision
  // under a new generation.
  std::map<std::pair<std::string, std::uint64_t>, std::vector<reports::NodeTimes>> times;
  std::vector<reports::NodeTimes>& times_of(const std::string& app, std::uint64_t generation);
  std::vector<std::uint64_t> node_bytes_pulled;
  std::vector<std::uint64_t> node_bytes_wasted;
  std::vector<std::uint64_t> site_uplink_bytes;  // both directions: site_down_bytes + site_up_bytes
  std::vector<std::uint64_t> site_down_bytes, site_up_bytes;
  std::uint64_t registry_egress_bytes = 0;
  std::uint64_t control_bytes = 0;
  std::uint64_t crash_reports = 0;  // "unhealthy" reports: a committed release's process exited
  std::vector<reports::Event> events;
  // Node time per (app, version): how long nodes ran (or were starting) each version, from exact state changes.
  std::map<std::pair<std::string, std::string>, double> node_time;
  std::vector<reports::StateSample> states;
  // Bytes over time (StateSampler, every simulation.states_sample): cumulative bytes on the registry egress and on
  // each site uplink's two directions, pulls in flight counted by what has arrived so far, and each link's capacity
  // (0 while it is down) whenever it changed.
  struct NetworkSamples {
    std::vector<double> at_s;
    std::vector<double> egress;               // per sample
    std::vector<float> site_down, site_up;    // per sample, then per site (4 bytes each: 46 MB for 2,000 sites' day)
    struct Capacity {
      std::size_t sample;
      std::size_t link;  // 0: the egress; 1 + 2s: site s down; 2 + 2s: site s up
      double bytes_per_s;
    };
    std::vector<Capacity> capacity_changes;
    std::vector<double> last_capacity;
  } network;

  // ---- telemetry: the cloud's receiver, the time series by sample ----
  agents::telemetry::CloudReceiver cloud;
  std::vector<std::map<std::string, reports::TelemetrySample>> telemetry_series;
  reports::TelemetrySample& sample(std::size_t k, const std::string& scope);

  // ---- progress line (terminal only); wall clock is used for redraw throttling, never in results ----
  // The share of the run done, in [0, 1], never going backwards: operations finished (and the terminal share of those
  // running) out of every operation, and simulated time out of simulation.duration when the scenario sets one.
  std::chrono::steady_clock::time_point last_draw{};
  std::chrono::steady_clock::time_point progress_start = std::chrono::steady_clock::now();
  std::function<double()> progress_fraction;
  double progress_shown = 0;
  void draw_progress(bool force = false);
};

}  // namespace fleetsim::sim
