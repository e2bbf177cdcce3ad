#include "state_sampler.hpp"

#include <algorithm>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace fleetsim::sim {

void StateSampler::run() {
  loop_.add_timer(0, [this] { sample(); });
  loop_.run();
}

// Counts per (app, version, state), written in that order. The few distinct pairs of an app are counted in a flat
// list (a map keyed by three copied strings per node and sample was a tenth of a 10,000-node day).
void StateSampler::sample() {
  const double now = simgrid::s4u::Engine::get_clock();
  struct Count {
    std::string_view version, state;
    std::size_t n;
  };
  std::vector<Count> counts;
  std::vector<const std::string*> apps;
  for (const auto& app : world_.scenario.apps) apps.push_back(&app.name);
  std::sort(apps.begin(), apps.end(), [](const std::string* a, const std::string* b) { return *a < *b; });
  for (const std::string* app : apps) {
    counts.clear();
    for (const SimNode* node : nodes_) {
      const auto vs = node->state_of(*app);  // a plain variable: clang 14 cannot capture structured bindings
      const std::string_view version = vs.first, state = vs.second;
      auto it = std::find_if(counts.begin(), counts.end(),
                             [&](const Count& c) { return c.version == version && c.state == state; });
      if (it == counts.end())
        counts.push_back({version, state, 1});
      else
        ++it->n;
    }
    std::sort(counts.begin(), counts.end(), [](const Count& a, const Count& b) {
      return std::tie(a.version, a.state) < std::tie(b.version, b.state);
    });
    for (const Count& c : counts)
      world_.states.push_back({now, *app, std::string(c.version), std::string(c.state), c.n});
  }
  sample_network(now);
  loop_.add_timer(world_.scenario.simulation.states_sample.seconds, [this] { sample(); });
}

void StateSampler::sample_at_end() { sample_network(simgrid::s4u::Engine::get_clock()); }

// Cumulative bytes per link, with what the pulls in flight have moved so far: the rate between two samples is then
// the link's throughput, not the bytes of the transfers that happened to end between them. Telemetry batches count
// when they arrive (a batch is small beside a layer). A capacity is recorded when it changes (a degrade, an outage).
void StateSampler::sample_network(double now) {
  World::NetworkSamples& n = world_.network;
  if (!n.at_s.empty() && n.at_s.back() >= now) return;  // one sample per instant (the run's end may have had one)
  const auto& sites = world_.platform.sites;
  const std::size_t sample = n.at_s.size();
  n.at_s.push_back(now);
  std::vector<double>& down = down_scratch_;
  down.assign(world_.site_down_bytes.begin(), world_.site_down_bytes.end());
  double egress = static_cast<double>(world_.registry_egress_bytes);
  for (const SimNode* node : nodes_) {
    const double arrived = node->pull_bytes_arrived_in_flight();
    egress += arrived;
    down[node->site_index()] += arrived;
  }
  for (std::size_t s = 0; s < sites.size(); ++s) {
    n.site_down.push_back(static_cast<float>(down[s]));
    n.site_up.push_back(static_cast<float>(world_.site_up_bytes[s]));
  }
  n.egress.push_back(egress);
  auto capacity = [](const simgrid::s4u::Link* link) { return link->is_on() ? link->get_bandwidth() : 0.0; };
  if (n.last_capacity.empty()) n.last_capacity.assign(1 + 2 * sites.size(), -1.0);
  auto note = [&](std::size_t link, double bytes_per_s) {
    if (bytes_per_s == n.last_capacity[link]) return;
    n.last_capacity[link] = bytes_per_s;
    n.capacity_changes.push_back({sample, link, bytes_per_s});
  };
  note(0, capacity(world_.platform.registry_egress_up));
  for (std::size_t s = 0; s < sites.size(); ++s) {
    note(1 + 2 * s, capacity(sites[s].uplink_down));
    note(2 + 2 * s, capacity(sites[s].uplink_up));
  }
}

}  // namespace fleetsim::sim
