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
  // With packet loss on the uplink: one endpoint per download slot, each behind a link of the TCP throughput
  // cap, so that every transfer is capped on its own (docs/ENGINE.md, "Packet loss").
  std::vector<simgrid::s4u::Host*> download_endpoints;
  double tcp_cap_bytes_per_s = 0;  // 0: no loss
  // With GPU inference: a host standing for the node's GPUs, its speed their combined frames per second (one flop
  // is one frame). It has no links: nothing but executions runs on it.
  simgrid::s4u::Host* gpu = nullptr;
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
  simgrid::s4u::Host* ingest = nullptr;              // the cloud endpoint of the sites' telemetry buses
  simgrid::s4u::Link* registry_egress_up = nullptr;  // registry -> everyone
  simgrid::s4u::Link* registry_egress_down = nullptr;
  std::vector<PlatformSite> sites;
  std::vector<PlatformNode> nodes;  // in site order, then node order
};

Platform build_platform(const Scenario& scenario);

// Mathis et al. (1997): a TCP transfer under periodic loss p reaches at most sqrt(3/2) * MSS / (RTT * sqrt(p)).
double mathis_cap_bytes_per_s(double mss_bytes, double rtt_s, double loss);

}  // namespace fleetsim::sim
