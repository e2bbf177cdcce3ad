// Cost per event of the incremental sharing solver (sim/sharing) against the number of concurrent flows.
//
// A fleet-shaped tree: a registry egress over sites of 10 nodes, three pulls per node at once, sites of three kinds
// (DSL 20 Mbps / 15 ms, fiber 100 Mbps / 8 ms, LTE 10 Mbps / 55 ms), bounds from the path and TCP-gamma / RTT as
// SimGrid's CM02 sets them. Each iteration is one event (a completion or the end of a latency phase); every
// completed pull is replaced by a new one on a random node, so the number of flows stays where it started.
// Regimes: the egress binds every site (egress_bound), no site is limited by the egress (site_bound), or the
// egress sits in the middle of the sites' own levels so that sites keep crossing it (mixed); `ports` adds a LAN
// port under every node (three levels). `unrelated` measures a telemetry upload (its own small tree) while the
// pulls run: under SimGrid's Full update every such event re-solves every pull.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "fleetsim/sharing/solver.hpp"

namespace {

using fleetsim::sharing::FlowId;
using fleetsim::sharing::FlowSpec;
using fleetsim::sharing::LinkId;
using fleetsim::sharing::Solver;

constexpr double kMbps = 1e6 / 8;
constexpr double kGamma = 4194304.0;  // network/TCP-gamma

enum class Regime { egress_bound, site_bound, mixed };

struct SiteKind {
  double down, latency;
};
const SiteKind kKinds[] = {{20 * kMbps, 0.015}, {100 * kMbps, 0.008}, {10 * kMbps, 0.055}};

struct Fleet {
  Solver solver;
  std::vector<LinkId> leaf;         // per node: where its pulls end (LAN port or site uplink)
  std::vector<double> latency;      // per node: route latency
  std::vector<LinkId> upload_site;  // per site: the uplink's UP direction (a tree of its own)
  std::mt19937_64 rng{42};
  std::uint64_t events = 0;

  Fleet(std::size_t flows, Regime regime, bool ports) {
    const std::size_t nodes = (flows + 2) / 3;
    const std::size_t sites = (nodes + 9) / 10;
    // The sites' demand if each ran alone at its uplink's bandwidth: the egress against it sets the regime.
    double demand = 0;
    for (std::size_t s = 0; s < sites; ++s) demand += kKinds[s % 3].down;
    const double egress = regime == Regime::egress_bound ? demand * 0.2
                          : regime == Regime::site_bound ? demand * 2
                                                         : demand * 0.6;
    const LinkId root = solver.add_link(egress);
    for (std::size_t s = 0; s < sites; ++s) {
      const SiteKind& k = kKinds[s % 3];
      const LinkId uplink = solver.add_link(k.down, root);
      upload_site.push_back(solver.add_link(k.down / 4));
      for (std::size_t n = 0; n < 10 && leaf.size() < nodes; ++n) {
        leaf.push_back(ports ? solver.add_link(k.down * 0.3, uplink) : uplink);
        latency.push_back(0.002 + k.latency);
      }
    }
    for (std::size_t f = 0; f < flows; ++f) start(0, f / 3);
    run_latencies();
  }

  FlowId start(double now, std::size_t node) {
    std::uniform_real_distribution<double> mib(1, 50);
    const double lat = latency[node];
    return solver.start(now, FlowSpec{leaf[node], mib(rng) * 1048576.0, lat, kGamma / (2 * lat), lat});
  }

  void run_latencies() {  // setup: until every first pull has left its latency phase
    for (double t = solver.next_event_time(); t < 0.1; t = solver.next_event_time()) {
      solver.advance(t);
      solver.take_ended();
    }
  }

  // One event: advance to it; a completed pull is replaced on a random node.
  void step() {
    const double t = solver.next_event_time();
    solver.advance(t);
    for (const auto& e : solver.take_ended()) {
      (void)e;
      start(t, rng() % leaf.size());
    }
    ++events;
  }
};

void report(benchmark::State& state, const Fleet& fleet) {
  state.counters["flows"] = static_cast<double>(fleet.solver.flow_count());
  state.counters["class_changes/event"] =
      static_cast<double>(fleet.solver.stats().class_changes) / static_cast<double>(fleet.solver.stats().events);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_Event(benchmark::State& state, Regime regime, bool ports) {
  Fleet fleet(static_cast<std::size_t>(state.range(0)), regime, ports);
  for (int i = 0; i < 1000; ++i) fleet.step();  // warm up: a mix of ages and remaining sizes
  for (auto _ : state) fleet.step();
  report(state, fleet);
}

// A telemetry batch (start and completion on a site's own UP uplink) while the pulls run.
void BM_UnrelatedEvent(benchmark::State& state) {
  Fleet fleet(static_cast<std::size_t>(state.range(0)), Regime::mixed, false);
  double t = 0.1;
  std::size_t site = 0;
  for (auto _ : state) {
    const LinkId up = fleet.upload_site[site++ % fleet.upload_site.size()];
    const FlowId batch = fleet.solver.start(t, FlowSpec{up, 20000, 0.03, fleet.solver.bandwidth(up), 0});
    benchmark::DoNotOptimize(fleet.solver.next_event_time());
    fleet.solver.cancel(t, batch);
    t += 1e-9;
  }
  report(state, fleet);
}

void sizes(benchmark::internal::Benchmark* b) { b->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMicrosecond); }

BENCHMARK_CAPTURE(BM_Event, egress_bound, Regime::egress_bound, false)->Apply(sizes);
BENCHMARK_CAPTURE(BM_Event, site_bound, Regime::site_bound, false)->Apply(sizes);
BENCHMARK_CAPTURE(BM_Event, mixed, Regime::mixed, false)->Apply(sizes);
BENCHMARK_CAPTURE(BM_Event, mixed_ports, Regime::mixed, true)->Apply(sizes);
BENCHMARK(BM_UnrelatedEvent)->Apply(sizes);

}  // namespace
