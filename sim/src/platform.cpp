#include "platform.hpp"

#include <algorithm>
#include <cmath>

#include <xbt/config.hpp>

#include "fleet_plan.hpp"

namespace fleetsim::sim {

namespace sg4 = simgrid::s4u;

double tcp_loss_cap_bytes_per_s(double mss_bytes, double rtt_s, double loss) {
  constexpr double b = 2;  // segments acknowledged per ACK: delayed ACKs (RFC 5681 §4.2, Linux's default)
  const double timeout_s = rtt_s + 0.2;  // Linux's RTO once the RTT is steady: SRTT + TCP_RTO_MIN (200 ms)
  const double fast_retransmit = rtt_s * std::sqrt(2 * b * loss / 3);
  const double timeouts =
      timeout_s * std::min(1.0, 3 * std::sqrt(3 * b * loss / 8)) * loss * (1 + 32 * loss * loss);
  return mss_bytes / (fast_retransmit + timeouts);
}

namespace {

using Dir = sg4::LinkInRoute::Direction;

// The payload rate of a link declared at `rate` with framing `wire`: under CM02 a SimGrid link's bandwidth is what
// transfers share, so it is set to the goodput; LV08 applies its own 0.97 for the same headers, and SMPI its
// factors, so under them it stays the declared rate.
double goodput(models::Rate rate, const WireSpec& wire, const Platform& p) {
  return rate.bytes_per_s * (p.wire_efficiency_applies ? wire.efficiency() : 1.0);
}

// Cloud: registry and orchestrator, each behind its own split-duplex link (egress is the UP direction).
void build_cloud(sg4::NetZone* root, const Scenario& scenario, Platform& p) {
  auto* cloud = sg4::create_star_zone("cloud");
  cloud->set_parent(root);  // before adding hosts and links: the zone takes its network model from the parent
  p.registry = cloud->create_host("registry", 1e10)->seal();
  p.orchestrator = cloud->create_host("orchestrator", 1e10)->seal();
  p.ingest = cloud->create_host("ingest", 1e10)->seal();
  auto* cloud_gw = cloud->create_router("cloud-gw");
  const CloudSpec& spec = scenario.cloud;
  auto* egress =
      cloud->create_split_duplex_link("registry-egress", goodput(spec.registry_egress, spec.registry_wire, p));
  egress->set_latency(scenario.cloud.registry_latency.seconds)->seal();
  auto* orch_nic =
      cloud->create_split_duplex_link("orchestrator-nic", goodput(spec.orchestrator_bandwidth, spec.orchestrator_wire, p))
          ->set_latency(scenario.cloud.orchestrator_latency.seconds)
          ->seal();
  // symmetrical = true: traffic towards the host uses the DOWN direction of the same link.
  cloud->add_route(p.registry->get_netpoint(), nullptr, nullptr, nullptr, {sg4::LinkInRoute(egress, Dir::UP)}, true);
  cloud->add_route(p.orchestrator->get_netpoint(), nullptr, nullptr, nullptr, {sg4::LinkInRoute(orch_nic, Dir::UP)},
                   true);
  // The telemetry ingest is a load-balanced service: it limits each upload to its bandwidth but never makes the
  // sites' uploads share it (FATPIPE), so thousands of sites' batches stay independent bandwidth problems.
  auto* ingest_nic = cloud->create_split_duplex_link("ingest-nic", goodput(spec.ingest_bandwidth, spec.orchestrator_wire, p))
                         ->set_sharing_policy(sg4::Link::SharingPolicy::FATPIPE)
                         ->set_latency(scenario.cloud.orchestrator_latency.seconds)
                         ->seal();
  cloud->add_route(p.ingest->get_netpoint(), nullptr, nullptr, nullptr, {sg4::LinkInRoute(ingest_nic, Dir::UP)}, true);
  p.registry_egress_up = egress->get_link_up();
  p.registry_egress_down = egress->get_link_down();
  cloud->seal();
  root->add_route(cloud->get_netpoint(), nullptr, cloud_gw, nullptr, {}, true);
}

// What every node of a site shares: whether its LAN port can bind, the uplink's latency with loss, and the payload
// rates of the LAN port and of the uplink's two directions.
struct SiteShape {
  bool lan_can_bind = false;
  double uplink_latency_s = 0;
  double lan_bytes_per_s = 0, down_bytes_per_s = 0, up_bytes_per_s = 0;
};

// Under packet loss: one endpoint per download slot, behind a link of the TCP throughput cap (docs/ENGINE.md), then
// the site's uplink.
void add_download_endpoints(sg4::NetZone* zone, const Scenario& scenario, const SiteTemplate& tpl,
                            const SiteShape& shape, sg4::SplitDuplexLink* uplink, PlatformNode& node) {
  // RTT of a pull: twice the route latency registry -> node, loss latency included.
  const double route_latency =
      scenario.cloud.registry_latency.seconds + shape.uplink_latency_s + tpl.lan_latency.seconds;
  node.tcp_cap_bytes_per_s =
      tcp_loss_cap_bytes_per_s(static_cast<double>(tpl.uplink_wire.mss.count), 2 * route_latency, tpl.uplink_loss);
  for (int slot = 0; slot < tpl.agent.max_concurrent_downloads; ++slot) {
    std::string endpoint = node.name + "/tcp" + std::to_string(slot + 1);
    auto* h = zone->create_host(endpoint, tpl.hardware.cpu_speed_flops)->seal();
    auto* cap =
        zone->create_split_duplex_link(endpoint, std::min(node.tcp_cap_bytes_per_s, shape.lan_bytes_per_s));
    cap->set_latency(shape.lan_can_bind ? tpl.lan_latency.seconds : 0.0)->seal();
    zone->add_route(h->get_netpoint(), nullptr, nullptr, nullptr,
                    {sg4::LinkInRoute(cap, Dir::UP), sg4::LinkInRoute(uplink, Dir::UP)}, true);
    node.download_endpoints.push_back(h);
  }
}

PlatformNode add_node(sg4::NetZone* zone, const Scenario& scenario, const SiteTemplate& tpl, const SiteShape& shape,
                      sg4::SplitDuplexLink* uplink, const std::string& site, std::size_t site_index, int k) {
  const std::string name = node_name(site, k);
  auto* host =
      zone->create_host(name, tpl.hardware.cpu_speed_flops)->set_core_count(tpl.hardware.cpu_cores)->seal();
  std::vector<sg4::LinkInRoute> route;
  if (shape.lan_can_bind) {
    auto* port = zone->create_split_duplex_link(name + "/lan", shape.lan_bytes_per_s)
                     ->set_latency(tpl.lan_latency.seconds)
                     ->seal();
    route.emplace_back(port, Dir::UP);
  }
  route.emplace_back(uplink, Dir::UP);
  zone->add_route(host->get_netpoint(), nullptr, nullptr, nullptr, route, true);
  PlatformNode node{name, site_index, &tpl, host, {}, 0};
  if (tpl.uplink_loss > 0) add_download_endpoints(zone, scenario, tpl, shape, uplink, node);
  if (tpl.inference && tpl.hardware.gpu)
    node.gpu =
        zone->create_host(name + "/gpu", tpl.hardware.gpu->throughput.per_s * tpl.hardware.gpu->count)->seal();
  return node;
}

// A site: its nodes, each behind its LAN port (where it can bind) and then the site's uplink, in the star zone that
// holds every site. (A zone per site made building the platform cost the square of its size: SimGrid 3.32 walks
// every host of the platform to seal a zone, and every zone to check a new host's name. 43 s of a 100,000-node run
// of 48 s.) A route between two nodes of one site would cross the uplink twice: no traffic takes one today.
void build_site(sg4::NetZone* zone, const Scenario& scenario, const SiteTemplate& tpl, int s, Platform& p) {
  const std::string site = site_name(tpl, s);
  std::size_t site_index = p.sites.size();
  SiteShape shape;
  shape.lan_bytes_per_s = goodput(tpl.lan_bandwidth, tpl.lan_wire, p);
  shape.down_bytes_per_s = goodput(tpl.uplink_down, tpl.uplink_wire, p);
  shape.up_bytes_per_s = goodput(tpl.uplink_up, tpl.uplink_wire, p);
  // All of a node's traffic today crosses the site uplink too, so a LAN port at least as fast as the uplink (both
  // directions) can never be the binding constraint: max-min shares are the same without it. Leaving it out removes
  // one constraint per flow from every re-solve; its latency moves onto the uplink so that route latencies (and
  // with them CM02's RTT weighting and TCP window cap) do not change. docs/ENGINE.md.
  shape.lan_can_bind =
      shape.lan_bytes_per_s < shape.down_bytes_per_s || shape.lan_bytes_per_s < shape.up_bytes_per_s;
  // Loss p costs a lost packet one more round trip of the uplink: on average p * 2 * latency per crossing.
  shape.uplink_latency_s = tpl.uplink_latency.seconds * (1 + 2 * tpl.uplink_loss);
  // The uplink is two links in SimGrid (UP: site -> cloud, DOWN: cloud -> site), so asymmetric lines work.
  auto* uplink = zone->create_split_duplex_link(site + "/uplink", shape.up_bytes_per_s);
  uplink->get_link_down()->set_bandwidth(shape.down_bytes_per_s);
  uplink->set_latency(shape.uplink_latency_s + (shape.lan_can_bind ? 0.0 : tpl.lan_latency.seconds))->seal();
  for (int k = 0; k < tpl.nodes; ++k)
    p.nodes.push_back(add_node(zone, scenario, tpl, shape, uplink, site, site_index, k));
  p.sites.push_back(PlatformSite{site, site_index, &tpl, uplink->get_link_down(), uplink->get_link_up(),
                                 p.wire_efficiency_applies ? tpl.uplink_wire.efficiency() : 1.0});
}

}  // namespace

Platform build_platform(const Scenario& scenario) {
  Platform p;
  p.wire_efficiency_applies = simgrid::config::get_value<std::string>("network/model") == "CM02";
  // The root is a star: every zone reaches every other through its own links, so routes are linear in size.
  auto* root = sg4::create_star_zone("fleet");
  build_cloud(root, scenario, p);
  p.sites.reserve(scenario.site_count());
  p.nodes.reserve(scenario.node_count());
  auto* sites = sg4::create_star_zone("sites");
  sites->set_parent(root);  // before adding hosts and links: the zone takes its network model from the parent
  auto* sites_gw = sites->create_router("sites-gw");
  for (const auto& tpl : scenario.sites)
    for (int s = 0; s < tpl.count; ++s) build_site(sites, scenario, tpl, s, p);
  sites->seal();
  root->add_route(sites->get_netpoint(), nullptr, sites_gw, nullptr, {}, true);
  root->seal();
  return p;
}

}  // namespace fleetsim::sim
