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
  loop_.add_timer(world_.scenario.simulation.states_sample.seconds, [this] { sample(); });
}

}  // namespace fleetsim::sim
