// The bare-SimGrid baseline (issue 11, part 3): the transfers of a fleetsim scenario on the same platform, done with
// plain S4U and nothing of fleetsim's (no agents, no orchestrator, no checks, no reports). One actor per node pulls,
// at each deploy or rollout's time, every layer of that release at once (Comm::sendto_async from the registry,
// SimGrid's LMM sharing them under the scenario's engine settings), then waits for them all. bench/baseline_run
// compares its wall time with fleetsim's on the same scenario: fleetsim's overhead over SimGrid, and the speed-up
// of fleetsim's solver over SimGrid's LMM.
//
//   build/bench/baseline SCENARIO.lua [--set PATH=VALUE]...
// prints: nodes, transfers, the last transfer's end (simulated s), wall seconds, peak RSS MiB.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <simgrid/s4u.hpp>

#include "engine_config.hpp"
#include "fleetsim/sim/scenario.hpp"
#include "platform.hpp"

namespace sg4 = simgrid::s4u;
using fleetsim::sim::Scenario;

namespace {

struct Pull {
  double at_s;
  std::vector<double> layers;  // bytes
};

std::vector<Pull> pulls_of(const Scenario& scenario) {
  std::vector<Pull> pulls;
  for (const auto& action : scenario.timeline) {
    for (const auto& app : scenario.apps) {
      if (app.name != action.app) continue;
      const auto* version = app.find(action.version);
      if (version == nullptr) continue;
      Pull p{action.at_s, {}};
      for (const auto& layer : version->layers) p.layers.push_back(static_cast<double>(layer.size.count));
      pulls.push_back(p);
    }
  }
  return pulls;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: baseline SCENARIO.lua [--set PATH=VALUE]...\n");
    return 2;
  }
  std::vector<std::string> overrides;
  for (int i = 2; i + 1 < argc; i += 2)
    if (std::string(argv[i]) == "--set") overrides.emplace_back(argv[i + 1]);
  const Scenario scenario = fleetsim::sim::load_scenario(argv[1], overrides);
  fleetsim::sim::RunOptions options;
  const auto cfg = fleetsim::sim::engine_config(scenario, options);
  std::vector<std::string> args = fleetsim::sim::engine_arguments(cfg, 0);
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  int cargc = static_cast<int>(cargs.size());
  sg4::Engine engine(&cargc, cargs.data());

  const auto wall_start = std::chrono::steady_clock::now();
  const fleetsim::sim::Platform platform = fleetsim::sim::build_platform(scenario);
  const std::vector<Pull> pulls = pulls_of(scenario);
  std::size_t transfers = 0;
  double last_end = 0;
  for (const auto& node : platform.nodes) {
    sg4::Host* registry = platform.registry;
    sg4::Host* host = node.host;
    transfers += [&] {
      std::size_t n = 0;
      for (const auto& p : pulls) n += p.layers.size();
      return n;
    }();
    sg4::Actor::create("pull", host, [registry, host, &pulls, &last_end] {
      for (const auto& p : pulls) {
        sg4::this_actor::sleep_until(p.at_s);
        std::vector<sg4::CommPtr> comms;
        for (double bytes : p.layers) comms.push_back(sg4::Comm::sendto_async(registry, host, bytes));
        for (auto& c : comms) c->wait();
      }
      last_end = std::max(last_end, sg4::Engine::get_clock());
    });
  }
  engine.run();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("baseline: %zu nodes, %zu transfers, last end %.3f s simulated, %.2f s wall, peak RSS %.1f MiB\n",
              platform.nodes.size(), transfers, last_end, wall, static_cast<double>(usage.ru_maxrss) / 1024.0);
  return 0;
}
