// The prototype solver (sim/sharing) against SimGrid 3.32 itself (CM02, network/optim:Full, crosstraffic:0) on a
// random fleet: a registry egress, sites behind their uplinks, some nodes behind a LAN port; pulls starting at random
// times, uplinks degraded (x0.25 or x4) and, for every third seed, turned off and on. Prints the largest relative
// difference of any transfer's duration and of the remaining bytes of the transfers that failed. Not built by CMake
// (it needs SimGrid and is a one-off experiment until the runtime's differential test, docs/SOLVER.md):
//   cmake --build build --target fleetsim_sharing
//   g++ -std=c++17 -O2 -Isim/sharing/include tests/tools/sharing_vs_simgrid.cpp
//       build/sim/sharing/libfleetsim_sharing.a -lsimgrid -o /tmp/sharing_vs_simgrid   (one command line)
//   /tmp/sharing_vs_simgrid SEED [SITES=8] [NODES_PER_SITE=5] [TRANSFERS=100]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <vector>

#include <simgrid/Exception.hpp>
#include <simgrid/s4u.hpp>

#include "fleetsim/sharing/solver.hpp"

namespace sg4 = simgrid::s4u;
namespace sh = fleetsim::sharing;

struct Site {
  double bw, lat;
};
struct Node {
  int site;
  bool lan;
  double lan_bw, lan_lat;
};
struct Xfer {
  int node;
  double start, bytes;
};
struct Degrade {
  double at;
  int site;
  double factor;
};
struct Outage {
  double at, until;
  int site;
};
struct Result {
  double time = -1;
  bool failed = false;
  double remaining = 0;
};

struct Instance {
  double egress, egress_lat;
  std::vector<Site> sites;
  std::vector<Node> nodes;
  std::vector<Xfer> xfers;
  std::vector<Degrade> degrades;
  std::vector<Outage> outages;
};

Instance make(unsigned seed, int n_sites, int per_site, int n_xfers) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  auto logu = [&](double lo, double hi) { return std::exp(std::log(lo) + u(rng) * (std::log(hi) - std::log(lo))); };
  Instance in;
  in.egress = logu(1e6, 1e8);
  in.egress_lat = 0.001 + 0.004 * u(rng);
  const double lats[] = {0.008, 0.015, 0.055};
  for (int s = 0; s < n_sites; ++s) {
    in.sites.push_back({logu(1e5, 2e7), lats[rng() % 3] * (seed % 2 ? 1.0 : (0.5 + u(rng)))});
    for (int k = 0; k < per_site; ++k) {
      const bool lan = u(rng) < 0.4;
      in.nodes.push_back({s, lan, logu(5e4, 1e7), 0.0001 + 0.001 * u(rng)});
    }
  }
  for (int x = 0; x < n_xfers; ++x)
    in.xfers.push_back({static_cast<int>(rng() % in.nodes.size()), 100 * u(rng), logu(1e4, 5e7)});
  for (int d = 0; d < n_sites / 2; ++d)
    in.degrades.push_back({100 * u(rng), static_cast<int>(rng() % n_sites), u(rng) < 0.5 ? 0.25 : 4.0});
  if (seed % 3 == 0)
    for (int o = 0; o < std::max(1, n_sites / 4); ++o) {
      const double at = 100 * u(rng);
      in.outages.push_back({at, at + 20 * u(rng), static_cast<int>(rng() % n_sites)});
    }
  return in;
}

double route_latency(const Instance& in, const Node& n) {
  return in.egress_lat + in.sites[n.site].lat + (n.lan ? n.lan_lat : 0);
}

std::vector<Result> run_simgrid(const Instance& in, int argc, char** argv) {
  std::vector<Result> res(in.xfers.size());
  sg4::Engine e(&argc, argv);
  e.set_config("network/model:CM02");
  e.set_config("network/optim:Full");
  e.set_config("network/crosstraffic:0");
  auto* zone = sg4::create_full_zone("world");
  auto* registry = zone->create_host("registry", 1e9)->seal();
  auto* egress = zone->create_link("egress", in.egress)->set_latency(in.egress_lat)->seal();
  std::vector<sg4::Link*> uplinks;
  for (std::size_t s = 0; s < in.sites.size(); ++s)
    uplinks.push_back(
        zone->create_link("up" + std::to_string(s), in.sites[s].bw)->set_latency(in.sites[s].lat)->seal());
  std::vector<sg4::Host*> hosts;
  for (std::size_t i = 0; i < in.nodes.size(); ++i) {
    const Node& n = in.nodes[i];
    auto* h = zone->create_host("n" + std::to_string(i), 1e9)->seal();
    std::vector<sg4::LinkInRoute> route{sg4::LinkInRoute(egress), sg4::LinkInRoute(uplinks[n.site])};
    if (n.lan)
      route.emplace_back(zone->create_link("lan" + std::to_string(i), n.lan_bw)->set_latency(n.lan_lat)->seal());
    zone->add_route(registry->get_netpoint(), h->get_netpoint(), nullptr, nullptr, route, false);
    hosts.push_back(h);
  }
  zone->seal();
  auto comms = std::make_shared<std::map<int, sg4::CommPtr>>();
  auto snap = std::make_shared<std::map<int, double>>();
  for (std::size_t x = 0; x < in.xfers.size(); ++x) {
    const Xfer xf = in.xfers[x];
    sg4::Actor::create("x" + std::to_string(x), hosts[xf.node], [&res, x, xf, registry, &hosts, comms, snap]() {
      sg4::this_actor::sleep_until(xf.start);
      auto c = sg4::Comm::sendto_async(registry, hosts[xf.node], static_cast<uint64_t>(xf.bytes));
      (*comms)[static_cast<int>(x)] = c;
      try {
        c->wait();
        res[x].time = sg4::Engine::get_clock();
      } catch (const simgrid::NetworkFailureException&) {
        res[x].time = sg4::Engine::get_clock();
        res[x].failed = true;
        res[x].remaining = snap->count(static_cast<int>(x)) ? snap->at(static_cast<int>(x)) : std::floor(xf.bytes);
      }
      comms->erase(static_cast<int>(x));
    });
  }
  for (const Degrade& d : in.degrades)
    sg4::Actor::create("deg", registry, [d, &uplinks]() {
      sg4::this_actor::sleep_until(d.at);
      uplinks[d.site]->set_bandwidth(uplinks[d.site]->get_bandwidth() * d.factor);
    });
  for (const Outage& o : in.outages)
    sg4::Actor::create("out", registry, [o, &uplinks, &in, comms, snap]() {
      sg4::this_actor::sleep_until(o.at);
      if (uplinks[o.site]->is_on()) {
        for (auto& [x, c] : *comms)
          if (in.nodes[in.xfers[x].node].site == o.site) (*snap)[x] = c->get_remaining();
        uplinks[o.site]->turn_off();
      }
      sg4::this_actor::sleep_until(o.until);
      uplinks[o.site]->turn_on();
    });
  e.run();
  return res;
}

std::vector<Result> run_solver(const Instance& in) {
  std::vector<Result> res(in.xfers.size());
  sh::Solver s;
  const sh::LinkId egress = s.add_link(in.egress);
  std::vector<sh::LinkId> up, leaf;
  for (const Site& site : in.sites) up.push_back(s.add_link(site.bw, egress));
  for (const Node& n : in.nodes) leaf.push_back(n.lan ? s.add_link(n.lan_bw, up[n.site]) : up[n.site]);
  // The script, in time order (starts, degrades, outage starts and ends).
  struct Ev {
    double t;
    int kind;
    int i;
  };
  std::vector<Ev> evs;
  for (std::size_t i = 0; i < in.xfers.size(); ++i) evs.push_back({in.xfers[i].start, 0, static_cast<int>(i)});
  for (std::size_t i = 0; i < in.degrades.size(); ++i) evs.push_back({in.degrades[i].at, 1, static_cast<int>(i)});
  for (std::size_t i = 0; i < in.outages.size(); ++i) {
    evs.push_back({in.outages[i].at, 2, static_cast<int>(i)});
    evs.push_back({in.outages[i].until, 3, static_cast<int>(i)});
  }
  std::stable_sort(evs.begin(), evs.end(), [](const Ev& a, const Ev& b) { return a.t < b.t; });
  std::map<sh::FlowId, int> of;
  std::vector<int> down(in.sites.size(), 0);
  auto collect = [&] {
    for (const auto& e : s.take_ended()) {
      res[of.at(e.flow)] = {e.time, e.failed, e.remaining};
      of.erase(e.flow);
    }
  };
  auto run_to = [&](double t) {
    for (double n = s.next_event_time(); n <= t; n = s.next_event_time()) {
      s.advance(n);
      collect();
    }
    s.advance(t);
    collect();
  };
  for (const Ev& ev : evs) {
    run_to(ev.t);
    if (ev.kind == 0) {
      const Xfer& x = in.xfers[ev.i];
      const double lat = route_latency(in, in.nodes[x.node]);
      const sh::FlowId f =
          s.start(ev.t, sh::FlowSpec{leaf[x.node], std::floor(x.bytes), lat, 4194304.0 / (2 * lat), lat});
      of[f] = ev.i;
      collect();
    } else if (ev.kind == 1) {
      const Degrade& d = in.degrades[ev.i];
      s.set_bandwidth(ev.t, up[d.site], s.bandwidth(up[d.site]) * d.factor);
    } else if (ev.kind == 2) {
      s.turn_off(ev.t, up[in.outages[ev.i].site]);
      collect();
    } else {
      s.turn_on(ev.t, up[in.outages[ev.i].site]);
    }
  }
  run_to(1e15);
  return res;
}

int main(int argc, char** argv) {
  const unsigned seed = argc > 1 ? static_cast<unsigned>(std::atoi(argv[1])) : 1;
  const int sites = argc > 2 ? std::atoi(argv[2]) : 8;
  const int per = argc > 3 ? std::atoi(argv[3]) : 5;
  const int xfers = argc > 4 ? std::atoi(argv[4]) : 100;
  const Instance in = make(seed, sites, per, xfers);
  int sg_argc = 2;
  char a0[] = "sgdiff";
  char a1[] = "--log=root.thresh:critical";
  char* sg_argv[] = {a0, a1, nullptr};
  const auto t0 = std::chrono::steady_clock::now();
  const auto sg = run_simgrid(in, sg_argc, sg_argv);
  const auto t1 = std::chrono::steady_clock::now();
  const auto so = run_solver(in);
  const auto t2 = std::chrono::steady_clock::now();
  std::printf("wall: simgrid %.3f s, solver %.3f s\n", std::chrono::duration<double>(t1 - t0).count(),
              std::chrono::duration<double>(t2 - t1).count());
  double worst = 0, worst_rem = 0;
  int mismatch = 0, failed = 0;
  for (std::size_t x = 0; x < sg.size(); ++x) {
    if (sg[x].failed != so[x].failed) ++mismatch;
    failed += sg[x].failed;
    const double rel = std::fabs(sg[x].time - so[x].time) / std::max(1e-9, sg[x].time - in.xfers[x].start);
    worst = std::max(worst, rel);
    if (sg[x].failed && so[x].failed && std::getenv("SGDIFF_V"))
      std::printf("  failed xfer %zu: start %.9g size %.9g remaining simgrid %.9g solver %.9g at %.9g\n", x,
                  in.xfers[x].start, in.xfers[x].bytes, sg[x].remaining, so[x].remaining, sg[x].time);
    if (sg[x].failed && so[x].failed)
      worst_rem = std::max(worst_rem, std::fabs(sg[x].remaining - so[x].remaining) / in.xfers[x].bytes);
    if (rel > 1e-6 || sg[x].failed != so[x].failed)
      std::printf("  xfer %zu node %d: simgrid %.12g%s solver %.12g%s\n", x, in.xfers[x].node, sg[x].time,
                  sg[x].failed ? " FAILED" : "", so[x].time, so[x].failed ? " FAILED" : "");
  }
  std::printf(
      "seed %u: %zu transfers (%d failed), worst relative difference of duration %.3g, failed-flag "
      "mismatches %d, worst remaining difference %.3g of size\n",
      seed, sg.size(), failed, worst, mismatch, worst_rem);
  return worst > 1e-6 || mismatch ? 1 : 0;
}
