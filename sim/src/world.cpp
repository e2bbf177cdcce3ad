#include "world.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "bulk_network.hpp"
#include "fleetsim/models/units.hpp"
#include "site_bus.hpp"

namespace fleetsim::sim {

namespace sg4 = simgrid::s4u;

ControlPath control_path(const sg4::Host* from, const sg4::Host* to) {
  std::vector<sg4::Link*> links;
  double latency = 0;
  from->route_to(to, links, &latency);
  ControlPath path{latency, std::numeric_limits<double>::infinity()};
  for (const auto* link : links)
    path.bottleneck_bytes_per_s = std::min(path.bottleneck_bytes_per_s, link->get_bandwidth());
  return path;
}

// Control messages. "network": a SimGrid communication of the message's wire size between the two hosts, sharing the
// links with the pulls; the node's loop waits for it either way (a node has few messages in flight, the orchestrator
// may have thousands), and the receiver handles the message when it has arrived. "timed": a delivery after the
// path's latency plus size over its narrowest link (docs/ENGINE.md, "Control messages").
// A communication that fails (issue: faults) loses the message, as a dropped connection would.
// A message that cannot be delivered (its path is down, or the node is powered off) fails back to its sender, as a
// connection error would, and the sender's agent retries (Orchestrator/NodeAgent::on_send_failed).
void World::send_to_node(std::size_t node, const agents::Message& message) {
  auto envelope = std::make_shared<Envelope>(Envelope{Envelope::Kind::message, message, {}, {}});
  Receiver* target = nodes[node];
  Receiver* sender = orchestrator;
  auto deliver = [target, sender, node, envelope](bool ok) {
    if (ok && target->accepting()) {
      target->receive(*envelope);
    } else {
      sender->loop().post_at(sg4::Engine::get_clock(),
                             [sender, node, envelope] { sender->send_failed(node, envelope->message); });
    }
  };
  if (timed_control) {
    auto path_up = target->path_to_cloud_up();
    target->loop().post_at(sg4::Engine::get_clock() + to_node[node].delay(message),
                           [deliver, path_up] { deliver(!path_up || path_up()); });
    return;
  }
  // The node's actor issues the communication: SimGrid keeps a list of the activities each actor issued, and
  // removing a finished one from a list of thousands (the orchestrator's) costs a scan each time.
  sg4::Host* from = platform.orchestrator;
  sg4::Host* to = platform.nodes[node].host;
  target->loop().post_at(sg4::Engine::get_clock(), [this, target, deliver, envelope, from, to] {
    auto comm = sendto(from, to, agents::wire_size(envelope->message));
    target->loop().watch(comm, deliver);
  });
}

void World::send_to_orchestrator(std::size_t node, const agents::Message& message) {
  auto envelope = std::make_shared<Envelope>(Envelope{Envelope::Kind::message, message, {}, {}});
  Receiver* target = orchestrator;
  Receiver* sender = nodes[node];
  auto path_up = sender->path_to_cloud_up();
  auto fail_back = [sender, node, envelope] {
    sender->loop().post_at(sg4::Engine::get_clock(),
                           [sender, node, envelope] { sender->send_failed(node, envelope->message); });
  };
  if (timed_control) {
    target->loop().post_at(sg4::Engine::get_clock() + from_node[node].delay(message),
                           [target, envelope, path_up, fail_back] {
                             if ((!path_up || path_up()) && target->accepting())
                               target->receive(*envelope);
                             else
                               fail_back();
                           });
    return;
  }
  auto comm = sendto(platform.nodes[node].host, platform.orchestrator, agents::wire_size(message));
  sender->loop().watch(
      comm,
      [target, sender, node, envelope](bool ok) {
        if (ok && target->accepting())
          target->loop().post_at(sg4::Engine::get_clock(), [target, envelope] { target->receive(*envelope); });
        else
          sender->send_failed(node, envelope->message);  // runs in the node's own actor
      });
}

// SimGrid 3.32 keeps every detached comm (all of Comm::sendto_async's) in one std::list of maestro's, and each comm's
// end removes it with std::list::remove, a walk of the whole list: 10,000 pulls in flight make each end a walk of
// ~5,000 nodes. The walk is the same in fleetsim and in plain S4U (bench/baseline), but fleetsim's list nodes were
// spread over a heap full of agents' state, so each step was a cache miss: half of a 10,000-node rollout on
// SimGrid's sharing. Comms made 256 at a time, with nothing allocated in between, put their list nodes side by side;
// each is given its ends when it is used (BENCHMARKS.md, "Issue 11, fourth steps"). The spare ones are never started.
sg4::CommPtr World::sendto(sg4::Host* from, sg4::Host* to, std::uint64_t bytes) {
  constexpr std::size_t kBatch = 256;
  if (comm_pool.empty()) {
    comm_pool.reserve(kBatch);
    for (std::size_t i = 0; i < kBatch; ++i) comm_pool.push_back(sg4::Comm::sendto_init());
    std::reverse(comm_pool.begin(), comm_pool.end());  // taken from the back: in the order they were made
  }
  sg4::CommPtr comm = std::move(comm_pool.back());
  comm_pool.pop_back();
  comm->set_source(from)->set_destination(to)->set_payload_size(bytes)->start();
  return comm;
}

void World::stop_every_loop() {
  orchestrator->loop().stop();
  for (auto* node : nodes) node->loop().stop();
  for (auto* bus : buses)
    if (bus != nullptr) bus->loop().stop();
  if (states_loop != nullptr) states_loop->stop();
  if (bulk != nullptr) bulk->loop().stop();
}

void World::stop_early() {
  if (stopped_early_at) return;
  stopped_early_at = sg4::Engine::get_clock();
  if (last_sample) last_sample();
  if (close_faults) close_faults();
  stop_every_loop();
  if (timeline_actor && timeline_actor != sg4::Actor::self()) timeline_actor->kill();
}

std::vector<reports::NodeTimes>& World::times_of(const std::string& app, std::uint64_t generation) {
  auto& v = times[{app, generation}];
  if (v.empty()) v.resize(platform.nodes.size());
  return v;
}

reports::TelemetrySample& World::sample(std::size_t k, const std::string& scope) {
  if (telemetry_series.size() <= k) telemetry_series.resize(k + 1);
  auto& smp = telemetry_series[k][scope];
  smp.scope = scope;
  return smp;
}

void World::draw_progress(bool force) {
  if (!options.progress) return;
  auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw < std::chrono::milliseconds(100)) return;
  last_draw = now;
  progress_shown = std::max(progress_shown, progress_fraction ? std::clamp(progress_fraction(), 0.0, 1.0) : 0.0);
  const double elapsed_s = std::chrono::duration<double>(now - progress_start).count();
  std::string eta = "-";
  if (progress_shown >= 0.01 && progress_shown < 1)
    eta = models::format_duration(std::round(elapsed_s * (1 - progress_shown) / progress_shown));
  std::fprintf(stderr, "\r\033[K  simulated %s  %.1f%% done  ETA %s",
               models::format_duration(sg4::Engine::get_clock()).c_str(), 100.0 * progress_shown, eta.c_str());
  std::fflush(stderr);
}

}  // namespace fleetsim::sim
