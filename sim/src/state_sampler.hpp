// Nodes in each state over time: every simulation.states_sample, counts nodes per (app, version, state) into the
// states time series (states.csv), and the bytes every link has carried so far (network.csv).
#pragma once

#include <vector>

#include "node_actor.hpp"
#include "world.hpp"

namespace fleetsim::sim {

class StateSampler {
 public:
  StateSampler(World& world, std::vector<SimNode*> nodes) : world_(world), nodes_(std::move(nodes)) {}
  EventLoop& loop() { return loop_; }
  void run();
  // The bytes each link carried by now, unless a sample was just taken: network.csv ends at the run's end.
  void sample_at_end();

 private:
  void sample();
  void sample_network(double now);
  World& world_;
  std::vector<SimNode*> nodes_;
  EventLoop loop_;
  std::vector<double> down_scratch_;  // sample_network's bytes per site, before they are stored as floats
};

}  // namespace fleetsim::sim
