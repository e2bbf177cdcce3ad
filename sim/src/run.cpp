// run_scenario: builds the world of a scenario (platform, node and orchestrator actors, site buses, fault injector,
// state sampler, timeline), runs SimGrid until the timeline stops it, then gathers the results and has the run's
// history judged by the checks.
#include "fleetsim/sim/run.hpp"

#include <cstdio>
#include <memory>

#include <simgrid/s4u.hpp>
#include <xbt/config.hpp>

#include "bulk_network.hpp"
#include "engine_config.hpp"
#include "fleet_plan.hpp"
#include "fault_injector.hpp"
#include "fleetsim/checks/expectations.hpp"
#include "fleetsim/sim/interrupt.hpp"
#include "fleetsim/sim/test_hooks.hpp"
#include "logging.hpp"
#include "node_actor.hpp"
#include "orchestrator_actor.hpp"
#include "results.hpp"
#include "site_bus.hpp"
#include "state_sampler.hpp"
#include "timeline.hpp"

namespace fleetsim::sim {
namespace {

namespace sg4 = simgrid::s4u;

// The actors of a run, owned here; World holds plain pointers to them.
// One loop (`fleet`, one actor) runs every node's agents, every site's bus and the bulk network's driver: an instant
// at which many sites have something to do is one wake of one actor, not one per site (docs/ENGINE.md, "One loop
// for the fleet"). What they wait on in SimGrid (transfers under solver = "simgrid", messages under control_messages
// = "network", GPU executions) each has a waiter actor that posts its end to the loop (EventLoop::watch).
struct Actors {
  std::unique_ptr<SimOrchestrator> orchestrator;
  std::unique_ptr<EventLoop> fleet = std::make_unique<EventLoop>();
  std::vector<std::unique_ptr<SimNode>> nodes;
  std::vector<std::unique_ptr<SiteBus>> buses;
};

void build_world(World& world) {
  const std::size_t n = world.platform.nodes.size();
  world.node_bytes_pulled.assign(n, 0);
  world.node_bytes_wasted.assign(n, 0);
  world.site_uplink_bytes.assign(world.platform.sites.size(), 0);
  world.site_down_bytes.assign(world.platform.sites.size(), 0);
  world.site_up_bytes.assign(world.platform.sites.size(), 0);
  world.admin_inbox = sg4::Mailbox::by_name("admin");
  world.to_node.reserve(n);
  world.from_node.reserve(n);
  for (const auto& node : world.platform.nodes) {
    world.to_node.push_back(control_path(world.platform.orchestrator, node.host));
    world.from_node.push_back(control_path(node.host, world.platform.orchestrator));
  }
  world.timed_control = world.scenario.simulation.control_messages == "timed";
  world.site_nodes.resize(world.platform.sites.size());
  for (std::size_t i = 0; i < n; ++i) world.site_nodes[world.platform.nodes[i].site_index].push_back(i);
}

void make_actors(World& world, Actors& actors) {
  actors.orchestrator = std::make_unique<SimOrchestrator>(world, make_inventory(world.scenario));
  world.orchestrator = actors.orchestrator.get();
  const std::size_t n = world.platform.nodes.size();
  actors.nodes.reserve(n);
  world.nodes.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    actors.nodes.push_back(std::make_unique<SimNode>(world, i, *actors.fleet));
    world.nodes.push_back(actors.nodes.back().get());
  }
  world.buses.assign(world.platform.sites.size(), nullptr);
  for (const auto& site : world.platform.sites) world.bus_sites += site.site_template->bus ? 1 : 0;
  for (const auto& site : world.platform.sites) {
    if (!site.site_template->bus) continue;
    actors.buses.push_back(std::make_unique<SiteBus>(world, site.index, *actors.fleet));
    world.buses[site.index] = actors.buses.back().get();
  }
}

// An actor's body: an exception escaping it is a bug of fleetsim's; it stops the run, which then reports it.
template <typename Body>
std::function<void()> guarded(World& world, Body body) {
  return [&world, body] {
    try {
      body();
    } catch (const std::exception& e) {
      if (world.internal_error.empty())
        world.internal_error = std::string("in actor ") + sg4::Actor::self()->get_cname() + ": " + e.what();
      world.stop_early();
    }
  };
}

void start_actors(World& world, Actors& actors) {
  SimOrchestrator* orchestrator = actors.orchestrator.get();
  sg4::Actor::create("orchestrator", world.platform.orchestrator,
                     guarded(world, [orchestrator] { orchestrator->run(); }));
  // The fleet's actor starts every bus and every node, then runs their loop.
  std::vector<SiteBus*> buses;
  for (auto& bus : actors.buses) buses.push_back(bus.get());
  std::vector<SimNode*> nodes;
  for (auto& node : actors.nodes) nodes.push_back(node.get());
  EventLoop* loop = actors.fleet.get();
  sg4::Actor::create("fleet", world.platform.registry, guarded(world, [buses, nodes, loop] {
                       for (SiteBus* bus : buses) bus->start();
                       for (SimNode* node : nodes) node->start();
                       loop->run();
                     }));
}

// Ctrl-C and SIGTERM are noticed by whichever actor wakes next, which stops the run at that instant.
void watch_interrupts(World& world) {
  EventLoop::on_wake([&world] {
    if (!world.stopped_early_at && interrupt_requested()) world.stop_early();
    world.draw_progress();
  });
}

// Operations done (the running ones by their share of terminal targets), and simulated time out of the scenario's
// duration: whichever is further from the end.
void measure_progress(World& world, const SimOrchestrator& orchestrator) {
  world.progress_fraction = [&world, &orchestrator] {
    const auto& ops = orchestrator.orchestrator().operations();
    const double n = static_cast<double>(std::max(world.scenario.timeline.size(), ops.size()));
    double done = 0;
    for (const auto& op : ops)
      done += op.finished() || op.targets.empty()
                  ? 1.0
                  : static_cast<double>(op.terminal()) / static_cast<double>(op.targets.size());
    double fraction = n > 0 ? done / n : 1.0;
    const double duration = world.scenario.simulation.duration.seconds;
    if (duration > 0) fraction = std::min(fraction, sg4::Engine::get_clock() / duration);
    return fraction;
  };
}


// Who shares the bandwidth of bulk transfers (simulation.solver): fleetsim's solver, unless the scenario asks for
// SimGrid's or sets what the solver does not reproduce. Returns what report.json records under engine.
std::string choose_solver(World& world, Actors& actors, const std::map<std::string, std::string>& cfg,
                          std::unique_ptr<BulkNetwork>& bulk) {
  const SimulationSpec& sim = world.scenario.simulation;
  auto check = cfg.find("fleetsim/check-solver");
  const bool checked = check != cfg.end() && check->second == "yes";
  if (sim.solver == "simgrid" && checked)
    throw ScenarioError("--cfg fleetsim/check-solver:yes compares fleetsim's solver with SimGrid's, but " +
                        (sim.where.empty() ? world.scenario.file : sim.where) +
                        " sets simulation.solver = \"simgrid\": there is nothing to compare");
  if (sim.solver == "simgrid") return "simgrid";
  std::optional<std::string> why = BulkNetwork::unsupported(cfg);
  if (!why) {
    std::vector<sg4::Host*> uploaders;
    for (const auto& site : world.platform.sites)  // each bus uploads from its site's first node
      if (site.site_template->bus && !world.site_nodes[site.index].empty())
        uploaders.push_back(world.platform.nodes[world.site_nodes[site.index].front()].host);
    why = BulkNetwork::unsupported(world.platform, uploaders);
  }
  if (why) {
    if (sim.solver == "sharing")
      throw ScenarioError((sim.where.empty() ? world.scenario.file : sim.where) +
                          ": simulation: key 'solver': \"sharing\" does not reproduce " + *why +
                          "; use \"simgrid\" or \"auto\"");
    if (checked)
      throw ScenarioError("--cfg fleetsim/check-solver:yes compares fleetsim's solver with SimGrid's, but this run "
                          "uses SimGrid's alone: fleetsim's does not reproduce " + *why);
    logger("sim")->info("bulk transfers shared by SimGrid's solver: fleetsim's does not reproduce {}", *why);
    return "simgrid (" + *why + ")";
  }
  bulk = std::make_unique<BulkNetwork>(world.platform, world.scenario.simulation.precision_s,
                                       simgrid::config::get_value<double>("network/TCP-gamma"), *actors.fleet);
  world.bulk = bulk.get();
  if (checked) bulk->enable_check();
  return "sharing";
}

std::string describe(const std::map<std::string, std::string>& cfg) {
  std::string s;
  for (const auto& [k, v] : cfg) s += (s.empty() ? "" : " ") + k + ":" + v;
  return s;
}

}  // namespace

reports::RunResult run_scenario(const Scenario& scenario, const RunOptions& options) {
  auto cfg = engine_config(scenario, options);
  std::vector<std::string> args = engine_arguments(cfg, options.verbosity);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  int argc = static_cast<int>(argv.size());
  sg4::Engine engine(&argc, argv.data());
  install_interrupt_handlers();  // at once: SimGrid's own handler, installed by the engine, would exit(1)

  World world(scenario, options);
  world.platform = build_platform(scenario);
  build_world(world);
  Actors actors;
  std::unique_ptr<BulkNetwork> bulk;
  cfg["fleetsim/solver"] = choose_solver(world, actors, cfg, bulk);
  make_actors(world, actors);
  world.checks = std::make_unique<checks::InvariantChecks>(fleet_layout(world));
  world.checks->on_violation(
      [](const reports::InvariantViolation& v) { logger("invariants")->error("{}: {}", v.invariant, v.detail); });
  start_actors(world, actors);
  measure_progress(world, *actors.orchestrator);
  watch_interrupts(world);

  std::vector<SimNode*> node_ptrs;
  for (auto& node : actors.nodes) node_ptrs.push_back(node.get());
  StateSampler sampler(world, node_ptrs);
  if (!scenario.apps.empty()) {
    world.states_loop = &sampler.loop();
    world.last_sample = [&sampler] { sampler.sample_at_end(); };
    sg4::Actor::create("states", world.platform.orchestrator, guarded(world, [&sampler] { sampler.run(); }));
  }
  bool hit_max_time = false;
  FaultInjector faults(world, resolve_faults(scenario, options.seed));
  if (faults.has_work()) {
    world.close_faults = [&faults] { faults.stop_and_close(); };
    sg4::Actor::create("faults", world.platform.orchestrator, guarded(world, [&faults] { faults.run(); }));
  }
  world.timeline_actor =
      sg4::Actor::create("timeline", world.platform.orchestrator,
                         guarded(world, [&world, &hit_max_time] { run_timeline(world, hit_max_time); }));

  logger("sim")->info("seed {}; {} sites, {} nodes; engine {}", options.seed, world.platform.sites.size(),
                      world.platform.nodes.size(), describe(cfg));
  engine.run();
  EventLoop::on_wake({});
  if (!world.internal_error.empty()) throw InternalError(world.internal_error);
  if (options.progress) {
    world.draw_progress(true);
    std::fprintf(stderr, "\r\033[K");
  }

  const RunActors view{*actors.orchestrator, actors.nodes, actors.buses, faults};
  reports::RunResult r = collect_results(world, view, cfg, hit_max_time);
  checks::RunEnd end = run_end(world, view, hit_max_time);
  test_hooks::before_finish(*world.checks, end);
  world.checks->finish(end);
  r.violations = world.checks->violations();
  for (const auto& [name, meaning] : checks::InvariantChecks::catalogue()) r.invariants_checked.push_back(name);
  if (SolverCheck* check = bulk ? bulk->check() : nullptr) {
    // Judged after the run: a difference fails it as an invariant does (exit code 1, junit.xml, the summary).
    for (auto& v : check->finish(r.end_time_s)) r.violations.push_back(std::move(v));
    r.solver->check = reports::RunResult::SolverWork::Check{check->compared(), check->differences(),
                                                            check->largest_relative_difference()};
    r.invariants_checked.push_back(SolverCheck::kInvariant);
  }
  judge_expectations(scenario, r);
  return r;
}

}  // namespace fleetsim::sim
