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
  double uplink_efficiency = 1;  // payload / wire bytes: the links' bandwidths are the template's rates times this
};

struct Platform {
  simgrid::s4u::Host* registry = nullptr;
  simgrid::s4u::Host* orchestrator = nullptr;
  simgrid::s4u::Host* ingest = nullptr;              // the cloud endpoint of the sites' telemetry buses
  simgrid::s4u::Link* registry_egress_up = nullptr;  // registry -> everyone
  simgrid::s4u::Link* registry_egress_down = nullptr;
  std::vector<PlatformSite> sites;
  std::vector<PlatformNode> nodes;  // in site order, then node order
  bool wire_efficiency_applies = false;  // network/model CM02: link bandwidths are payload rates (WireSpec)
};

Platform build_platform(const Scenario& scenario);

// Padhye, Firoiu, Towsley and Kurose (1998), "PFTK": the throughput of a TCP transfer under random loss p, counting
// the fast retransmits' window halvings and the timeouts, MSS / (RTT sqrt(2bp/3) + T0 min(1, 3 sqrt(3bp/8)) p
// (1 + 32 p^2)), with b = 2 (delayed ACKs) and T0 = RTT + 200 ms (Linux's RTO). The receive window's bound is
// SimGrid's (network/TCP-gamma), not repeated here. docs/ENGINE.md, "Packet loss".
double tcp_loss_cap_bytes_per_s(double mss_bytes, double rtt_s, double loss);

}  // namespace fleetsim::sim
