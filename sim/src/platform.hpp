// Builds the SimGrid platform of a scenario: one host per node, each site a zone behind its uplink, and the cloud
// zone with the registry and the orchestrator. Construction is linear in the number of nodes.
#pragma once

#include <string>
#include <vector>

#include <simgrid/s4u.hpp>

#include "fleetsim/sim/scenario.hpp"

namespace fleetsim::sim {

struct PlatformNode {
  std::string name;  // "<site>/n<k>"
  std::size_t site_index = 0;
  const SiteTemplate* site_template = nullptr;
  simgrid::s4u::Host* host = nullptr;
};

struct PlatformSite {
  std::string name;  // "<template>-<i>"
  std::size_t index = 0;
  const SiteTemplate* site_template = nullptr;
  simgrid::s4u::Link* uplink_down = nullptr;
  simgrid::s4u::Link* uplink_up = nullptr;
};

struct Platform {
  simgrid::s4u::Host* registry = nullptr;
  simgrid::s4u::Host* orchestrator = nullptr;
  simgrid::s4u::Link* registry_egress_up = nullptr;  // registry -> everyone
  simgrid::s4u::Link* registry_egress_down = nullptr;
  std::vector<PlatformSite> sites;
  std::vector<PlatformNode> nodes;  // in site order, then node order
};

Platform build_platform(const Scenario& scenario);

}  // namespace fleetsim::sim
