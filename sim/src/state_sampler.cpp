#include "state_sampler.hpp"

#include <map>
#include <string>
#include <tuple>

namespace fleetsim::sim {

void StateSampler::run() {
  loop_.add_timer(0, [this] { sample(); });
  loop_.run();
}

void StateSampler::sample() {
  std::map<std::tuple<std::string, std::string, std::string>, std::size_t> counts;
  for (const auto& app : world_.scenario.apps)
    for (const SimNode* node : nodes_) {
      auto [version, state] = node->state_of(app.name);
      ++counts[{app.name, version, state}];
    }
  const double now = simgrid::s4u::Engine::get_clock();
  for (const auto& [key, n] : counts)
    world_.states.push_back({now, std::get<0>(key), std::get<1>(key), std::get<2>(key), n});
  loop_.add_timer(world_.scenario.simulation.states_sample.seconds, [this] { sample(); });
}

}  // namespace fleetsim::sim
