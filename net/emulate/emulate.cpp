#include "emulate.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <optional>
#include <memory>
#include <set>
#include <stdexcept>
#include <variant>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "fleet_plan.hpp"
#include "fleetsim/checks/invariants.hpp"
#include "fleetsim/models/rng.hpp"
#include "fleetsim/net/agent_host.hpp"
#include "fleetsim/net/http_registry.hpp"
#include "fleetsim/net/orchestrator_host.hpp"
#include "fleetsim/net/registry_process.hpp"
#include "fleetsim/sim/interrupt.hpp"
#include "results.hpp"
#include "site_network.hpp"
#include "timeline.hpp"

namespace fleetsim::emulate {

namespace asio = boost::asio;
using sim::Scenario;
using sim::ScenarioError;

namespace {

constexpr std::size_t kMaxNodes = 1000;  // one process, one io_context: issue 14's bound for an emulated fleet
constexpr const char* kRepository = "fleetsim/emulated";

// What every emulated release runs: it starts for FLEETSIM_START_S, crashes there if FLEETSIM_CRASH is 1, else
// becomes ready (its ready file) and runs until stopped, or exits FLEETSIM_FAIL_AFTER_S later.
constexpr const char* kReleaseScript =
    "sleep \"$FLEETSIM_START_S\" || exit 1\n"
    "if [ \"$FLEETSIM_CRASH\" = 1 ]; then exit 1; fi\n"
    ": > \"$FLEETSIM_READY_FILE\"\n"
    "if [ \"$FLEETSIM_FAIL_AFTER_S\" != 0 ]; then sleep \"$FLEETSIM_FAIL_AFTER_S\"; exit 1; fi\n"
    "exec sleep infinity\n";

[[noreturn]] void not_emulated(const std::string& where, const std::string& what) {
  throw ScenarioError(where + ": " + what +
                      " is not emulated yet (fleetsim emulate runs rollouts of releases over shaped uplinks; "
                      "docs/EMULATE.md lists what it runs); run it with fleetsim run");
}

// Everything the emulated fleet cannot do yet is refused before anything starts, naming where it was declared.
void check_supported(const Scenario& s) {
  if (s.node_count() > kMaxNodes)
    throw ScenarioError(s.file + ": the fleet has " + std::to_string(s.node_count()) +
                        " nodes; fleetsim emulate hosts at most " + std::to_string(kMaxNodes) +
                        " (one process of node agents): use --set site.<name>.count=... to shrink it");
  for (const auto& f : s.faults)
    if (f.kind != "partition" && f.kind != "node_crash" && f.kind != "orchestrator_restart" && f.kind != "degrade" &&
        f.kind != "registry_outage")
      not_emulated(f.where, "fault." + f.kind + " '" + f.name + "'");
  for (const auto& tpl : s.sites) {
    if (tpl.uplink_loss > 0) not_emulated(tpl.where, "site '" + tpl.name + "': key 'uplink.loss' (packet loss)");
    if (!tpl.sensors.empty() || tpl.inference || tpl.bus)
      not_emulated(tpl.where, "site '" + tpl.name + "': telemetry (sensors, inference and the site bus)");
    if (tpl.outages.mtbf.seconds > 0) not_emulated(tpl.where, "site '" + tpl.name + "': key 'outages'");
  }
}

std::uint64_t scaled_bytes(std::uint64_t bytes, double scale) {
  return bytes == 0 ? 0 : std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::llround(bytes * scale)));
}

// A splitmix64 stream: fast, and the same bytes for the same name on every machine.
std::uint64_t splitmix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The orchestrator's time (seconds since its journal began, by the wall clock): it goes on while the orchestrator
// is down and after it restarts, so the agents and the history read it from here, not from one process of it.
struct JournalClock final : agents::Clock {
  double epoch_unix_s = 0;
  agents::Time now() const override {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count() - epoch_unix_s;
  }
};

// A free loopback port below the kernel's ephemeral range (net.ipv4.ip_local_port_range): a port the orchestrator
// listens on again after a restart must not be handed to an outgoing connection meanwhile, the agents' own
// reconnections included (a loopback connection from a port to itself connects).
unsigned short stable_free_port() {
  unsigned low = 32768;
  if (std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range"); range) range >> low;
  const unsigned top = std::min(low, 65536U), bottom = std::min(10000U, top);
  // One stream for the process: two calls must not draw the same port.
  static models::RandomStream pick(static_cast<std::uint64_t>(::getpid()) ^ static_cast<std::uint64_t>(std::time(nullptr)),
                                   "emulate", "port");
  for (int attempt = 0; attempt < 200 && top > bottom + 1; ++attempt) {
    const auto port = static_cast<unsigned short>(bottom + pick.below(top - bottom));
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor probe(io);
    boost::system::error_code ec;
    probe.open(boost::asio::ip::tcp::v4(), ec);
    if (!ec) probe.bind({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
    if (!ec) return port;
  }
  throw EnvironmentError("no free loopback port below the ephemeral range (" + std::to_string(low) + ") for the orchestrator");
}

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", std::max(s, 0.0));
  return buf;
}

// A node's times of one operation, from the history's records (as sim/ takes them from the same moments).
struct Times {
  std::map<std::pair<std::string, std::uint64_t>, std::vector<reports::NodeTimes>> by_op;
  std::size_t nodes = 0;
  std::vector<reports::NodeTimes>& of(const std::string& app, std::uint64_t generation) {
    auto& v = by_op[{app, generation}];
    if (v.size() < nodes) v.resize(nodes, reports::NodeTimes{{}, {}, {}, "", "", ""});
    return v;
  }
  void observe(const checks::Record& r) {
    if (const auto* d = std::get_if<checks::DesiredStateHandled>(&r)) {
      auto& t = of(d->app, d->generation)[d->node];
      if (!t.notified_s) t.notified_s = d->t;
    } else if (const auto* s = std::get_if<checks::StatusSent>(&r)) {
      auto& t = of(s->app, s->generation)[s->node];
      if (s->state == agents::NodeAppState::downloaded && !t.downloaded_s) t.downloaded_s = s->t;
      if (s->state == agents::NodeAppState::healthy && !t.healthy_s) t.healthy_s = s->t;
    }
  }
};

// Moves a record to the fleet's numbering (a host numbers its own nodes from 0).
checks::Record renumbered(checks::Record r, std::size_t offset) {
  if (auto* a = std::get_if<checks::DesiredStateHandled>(&r)) a->node += offset;
  if (auto* b = std::get_if<checks::StatusSent>(&r)) b->node += offset;
  if (auto* c = std::get_if<checks::DiskUsage>(&r)) c->node += offset;
  if (auto* d = std::get_if<checks::PowerEvent>(&r)) d->node += offset;
  return r;  // the other records are a site's telemetry, which emulate does not run yet
}

}  // namespace

Scenario scaled(const Scenario& original, double scale) {
  Scenario s = original;
  auto d = [scale](models::Duration& x) { x.seconds *= scale; };
  for (auto& app : s.apps)
    for (auto& v : app.versions) {
      for (auto& layer : v.layers) layer.size.count = scaled_bytes(layer.size.count, scale);
      d(v.start_time);
      d(v.ready_time);
      d(v.fail_after);
    }
  for (auto& a : s.timeline) {
    a.at_s *= scale;
    d(a.canary_time);
    d(a.healthy_time);
    d(a.node_deadline);
    a.base_per_minute /= scale;
    a.maximum_per_minute /= scale;
  }
  d(s.cloud.registry_latency);
  d(s.cloud.orchestrator_latency);
  for (auto& tpl : s.sites) {
    tpl.hardware.disk.count = scaled_bytes(tpl.hardware.disk.count, scale);
    d(tpl.uplink_latency);
    d(tpl.lan_latency);
    sim::AgentSpec& a = tpl.agent;
    for (models::Duration* x : {&a.notify_jitter, &a.retry_initial, &a.retry_max, &a.verification_window,
                                &a.restart_initial, &a.restart_max, &a.restart_reset, &a.poll_interval, &a.keep_alive})
      d(*x);
  }
  for (auto& f : s.faults) {
    f.at_s *= scale;
    f.duration_s *= scale;
  }
  d(s.simulation.max_time);
  d(s.simulation.duration);
  return s;
}

std::string layer_bytes(const std::string& name, std::uint64_t size) {
  std::string out(size, '\0');
  std::uint64_t state = models::stable_hash(name, 0x6c61796572);  // "layer"
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    const std::uint64_t w = splitmix(state);
    std::memcpy(out.data() + i, &w, 8);
  }
  if (i < size) {
    const std::uint64_t w = splitmix(state);
    std::memcpy(out.data() + i, &w, size - i);
  }
  return out;
}

reports::RunResult emulate_scenario(const Scenario& original, const EmulateOptions& options) {
  check_supported(original);
  if (!(options.scale > 0) || options.scale > 1)
    throw ScenarioError("--scale " + std::to_string(options.scale) + ": must be in (0, 1]");
  const double scale = options.scale;
  const Scenario scenario = scaled(original, scale);
  spdlog::set_level(options.verbosity >= 2 ? spdlog::level::debug
                    : options.verbosity >= 1 ? spdlog::level::info
                                             : spdlog::level::warn);
  std::filesystem::remove_all(options.work_dir);
  std::filesystem::create_directories(options.work_dir);

  // The sites' links: network namespaces shaped by the kernel where this machine allows them, else token buckets.
  using Shaping = EmulateOptions::Shaping;
  std::unique_ptr<SiteNetwork> network;
  std::string no_namespaces;  // why the token buckets ran
  if (options.shaping != Shaping::tokens) {
    if (!options.registry_url.empty()) {
      no_namespaces = "the registry given by --registry is reached from this machine's own network namespace";
    } else {
      std::vector<SiteNetwork::Link> links;
      for (const auto& tpl : scenario.sites)
        for (int s = 0; s < tpl.count; ++s)
          links.push_back({tpl.uplink_down.bytes_per_s * tpl.uplink_wire.efficiency(),
                           tpl.uplink_up.bytes_per_s * tpl.uplink_wire.efficiency()});
      try {
        network = std::make_unique<SiteNetwork>(
            links, scenario.cloud.registry_egress.bytes_per_s * scenario.cloud.registry_wire.efficiency(),
            options.work_dir / "network");
      } catch (const NamespacesUnavailable& e) {
        no_namespaces = e.what();
      }
    }
    if (!network && options.shaping == Shaping::namespaces)
      throw EnvironmentError("--shaping namespaces: " + no_namespaces);
    if (!network) spdlog::info("emulate: token buckets, not network namespaces: {}", no_namespaces);
  }

  // The registry, filled with every layer of every version at its (scaled) size. In namespaces it runs in its own,
  // filled over its loopback, and the sites reach it through the hub.
  std::unique_ptr<net::RegistryProcess> own_registry;
  std::string registry_url = options.registry_url;
  std::optional<net::Netns::Enter> in_registry;
  if (network) in_registry.emplace(network->registry());
  if (registry_url.empty()) {
    own_registry = std::make_unique<net::RegistryProcess>(options.work_dir / "registry", network ? "0.0.0.0" : "127.0.0.1");
    if (!own_registry->error().empty()) throw EnvironmentError(own_registry->error());
    registry_url = own_registry->url();
  }
  const std::string agents_registry_url =
      network ? "http://" + std::string(SiteNetwork::kRegistryAddress) + ":" + std::to_string(own_registry->port()) : registry_url;
  std::map<std::string, std::string> digests;  // the scenario's layer name -> its sha256 in the registry
  for (const auto& app : scenario.apps)
    for (const auto& v : app.versions) {
      const agents::Release release = sim::make_release(scenario, app.name, v.version);
      for (const auto& layer : release.layers)
        if (digests.count(layer.digest) == 0) try {
            digests[layer.digest] =
                net::push_blob(registry_url, kRepository, layer_bytes(layer.digest, layer.size_bytes));
          } catch (const std::exception& e) {
            throw EnvironmentError("pushing layer " + layer.digest + " of " + app.name + " " + v.version + " to " +
                                   registry_url + ": " + e.what());
          }
    }
  in_registry.reset();

  // The orchestrator (in namespaces: in its own, listening on every address of it).
  asio::io_context io;
  net::OrchestratorHostConfig oc;
  oc.control_host = network ? "0.0.0.0" : "127.0.0.1";
  oc.journal = options.work_dir / "journal.jsonl";
  oc.inventory = sim::make_inventory(scenario);
  auto start_orchestrator = [&] {
    std::optional<net::Netns::Enter> inside;
    if (network) inside.emplace(network->orchestrator());
    if (oc.control_port == 0) {
      oc.control_port = stable_free_port();
      do oc.http_port = stable_free_port();
      while (oc.http_port == oc.control_port);
    }
    return std::make_unique<net::OrchestratorHost>(io, oc);
  };
  oc.control_port = 0;
  auto orchestrator = start_orchestrator();
  // A restart (fault.orchestrator_restart) comes back on the same ports, where the agents reconnect.
  oc.control_port = orchestrator->control_port();
  oc.http_port = orchestrator->http_port();
  JournalClock clock;
  clock.epoch_unix_s = orchestrator->epoch_unix_s();
  if (network)
    spdlog::warn("emulate: orchestrator API on http://127.0.0.1:{} in network namespace {} (ip netns exec {} curl "
                 "http://127.0.0.1:{}/v1/operations), registry {}",
                 orchestrator->http_port(), network->orchestrator().name(), network->orchestrator().name(),
                 orchestrator->http_port(), agents_registry_url);
  else
    spdlog::warn("emulate: orchestrator API on http://127.0.0.1:{} (GET /v1/operations), registry {}",
                 orchestrator->http_port(), registry_url);

  // The history: judged as it comes, and kept for the node times.
  checks::FleetLayout fleet;
  std::vector<reports::NodeRow> rows;
  for (const auto& info : oc.inventory) {
    const sim::SiteTemplate* tpl = nullptr;
    for (const auto& t : scenario.sites)
      if (t.name == info.labels.at("site_template")) tpl = &t;
    if (fleet.sites.empty() || fleet.sites.back().name != info.site) fleet.sites.push_back({info.site, std::nullopt});
    fleet.nodes.push_back({info.name, fleet.sites.size() - 1, tpl->hardware.disk.count, tpl->agent.rollback == "local"});
    rows.push_back({info.name, info.site, 0, 0, {}});
  }
  checks::InvariantChecks checks(fleet);
  checks.on_violation([](const reports::InvariantViolation& v) { spdlog::error("{}: {}", v.invariant, v.detail); });
  Times times;
  times.nodes = fleet.nodes.size();

  // One host of node agents per site, behind its uplink's token bucket; each start behaves as the scenario says.
  std::map<std::string, std::map<std::string, unsigned>> starts;  // per node, per app/version: starts so far
  std::vector<std::unique_ptr<net::AgentHost>> hosts;
  std::vector<const sim::SiteTemplate*> site_template_of;  // per host
  std::vector<std::size_t> host_offset;
  std::size_t next = 0;
  for (const auto& tpl : scenario.sites)
    for (int s = 0; s < tpl.count; ++s) {
      net::AgentHostConfig ac;
      ac.orchestrator_host = network ? SiteNetwork::kOrchestratorAddress : "127.0.0.1";
      ac.orchestrator_port = oc.control_port;
      ac.registry.url = agents_registry_url;
      ac.registry.repository = kRepository;
      ac.state_dir = options.work_dir / "nodes";
      ac.agent = sim::make_agent_config(tpl, 0);
      ac.stop_grace = std::chrono::milliseconds(1000);
      ac.reconnect_initial_s = 0.2;
      // A refused connection on loopback costs little: retried at most every 0.5 s, a node is back within 0.5 s
      // of the orchestrator's restart, as a simulated node, always reachable, is at once.
      ac.reconnect_max_s = 0.5;
      ac.seed = options.seed;
      // The site's link: its namespace's sockets, shaped by the kernel; or a token bucket for every pull of the site.
      if (network)
        ac.open_socket = network->site(hosts.size())->socket_opener();
      else
        ac.uplink_bytes_per_s = tpl.uplink_down.bytes_per_s * tpl.uplink_wire.efficiency();
      // The scenario's latency on loopback, as the simulator charges it (sim/src/platform.cpp's routes): a pull
      // waits a new connection's handshakes and its request (or only the request on a kept-alive connection) over
      // the registry's round trip; a control message waits the orchestrator's one-way path, each way.
      ac.registry.rtt_s = 2 * (scenario.cloud.registry_latency.seconds + tpl.uplink_latency.seconds + tpl.lan_latency.seconds);
      ac.registry.setup_rtts = tpl.agent.connect_rtts;
      ac.registry.keep_alive_s = tpl.agent.keep_alive.seconds;
      ac.control_latency_s = scenario.cloud.orchestrator_latency.seconds + tpl.uplink_latency.seconds + tpl.lan_latency.seconds;
      // A hundred agents share this machine's disk and one io thread: a sync of each one's state after each of its
      // steps stalled every pull of the fleet. Only processes crash here, never the machine: the page cache keeps
      // what a crashed node wrote.
      ac.sync_to_disk = false;
      for (const auto& app : scenario.apps) ac.apps[app.name] = net::AppCommand{{"/bin/sh", "-c", kReleaseScript}, "", true, {}};
      for (int k = 0; k < tpl.nodes; ++k) ac.nodes.push_back(static_cast<agents::NodeId>(next + static_cast<std::size_t>(k)));
      const sim::SiteTemplate* t = &tpl;
      ac.adjust_process = [&, t](agents::NodeId id, const agents::Release& release, net::ProcessSpec& spec) {
        const std::string& node = oc.inventory[id].name;
        // As the simulator decides it: the same stream for the same start.
        const sim::StartBehaviour b = sim::start_behaviour(scenario, *t, node, release, options.seed, starts[node]);
        spec.env["FLEETSIM_START_S"] = seconds_text(release.start_s);
        spec.env["FLEETSIM_CRASH"] = b.crashes ? "1" : "0";
        spec.env["FLEETSIM_FAIL_AFTER_S"] = b.fail_after_s > 0 ? seconds_text(b.fail_after_s) : "0";
      };
      host_offset.push_back(next);
      site_template_of.push_back(&tpl);
      next += static_cast<std::size_t>(tpl.nodes);
      hosts.push_back(std::make_unique<net::AgentHost>(io, std::move(ac), &clock));
      const std::size_t offset = host_offset.back();
      hosts.back()->record_to([&checks, &times, offset](const checks::Record& r) {
        const checks::Record moved = renumbered(r, offset);
        times.observe(moved);
        checks.observe(moved);
      });
    }
  for (auto& h : hosts) h->start();

  // Time zero is when every node is connected: the scenario's t = 0.
  auto run_until = [&](auto&& done, double limit_s) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit_s);
    while (!done() && std::chrono::steady_clock::now() < until && !sim::interrupt_requested()) {
      if (io.stopped()) io.restart();
      io.run_for(std::chrono::milliseconds(20));
    }
    return done();
  };
  const std::size_t node_count = fleet.nodes.size();
  if (!run_until([&] { return orchestrator->connected() == node_count; }, 60))
    throw EnvironmentError("only " + std::to_string(orchestrator->connected()) + " of " + std::to_string(node_count) +
                             " node agents connected to the orchestrator within 60 s");
  const double t0 = clock.now();

  // The timeline: each action submitted at its (scaled) time; while the orchestrator is down, when it is back.
  std::map<std::uint32_t, std::string> names;
  std::size_t submitted = 0;
  std::vector<const sim::ActionSpec*> waiting;
  auto submit = [&](const sim::ActionSpec& a) {
    agents::Command command = sim::make_command(scenario, a);
    for (auto& layer : command.release.layers) layer.digest = digests.at(layer.digest);
    names[orchestrator->submit(command)] = a.name;
    ++submitted;
  };
  std::vector<std::unique_ptr<asio::steady_timer>> timers;
  for (const auto& action : scenario.timeline) {
    auto timer = std::make_unique<asio::steady_timer>(io);
    timer->expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(std::max(0.0, t0 + action.at_s - clock.now()))));
    timer->async_wait([&, a = &action](const boost::system::error_code& ec) {
      if (ec) return;
      if (orchestrator)
        submit(*a);
      else
        waiting.push_back(a);
    });
    timers.push_back(std::move(timer));
  }
  // Faults: a partition cuts each of its sites' uplinks (every pull and control connection of the site's nodes)
  // for its window; a node crash ends the node's agent and processes and boots it from its directory at the end;
  // an orchestrator restart ends the orchestrator (its sockets close, its timers go, its journal stays) and starts
  // a new one from the journal at the end; overlapping windows keep a site cut, or a node down, until the last ends.
  const std::vector<reports::FaultWindow> windows = sim::resolve_faults(scenario, options.seed);
  std::map<std::string, std::size_t> host_of_site;
  std::map<std::string, std::pair<std::size_t, std::size_t>> host_of_node;  // node name -> (host, index in it)
  for (std::size_t h = 0; h < hosts.size(); ++h) {
    host_of_site[fleet.sites[fleet.nodes[host_offset[h]].site].name] = h;
    for (std::size_t k = 0; k < hosts[h]->size(); ++k) host_of_node[fleet.nodes[host_offset[h] + k].name] = {h, k};
  }
  std::vector<int> cuts(hosts.size(), 0);
  std::vector<double> degraded(hosts.size(), 1.0);
  int registry_down = 0;
  std::vector<int> crashes(fleet.nodes.size(), 0);
  int orchestrator_down = 0;
  std::vector<bool> opened(windows.size(), false), closed(windows.size(), false);
  std::vector<reports::Event> events;
  // A change of a link in namespaces (ip, tc) that fails leaves the application's side of the fault in place.
  auto change_link = [](auto&& change) {
    try {
      change();
    } catch (const std::exception& e) {
      spdlog::error("emulate: changing a site's link: {}", e.what());
    }
  };
  auto apply = [&](std::size_t w, bool on) {
    if (on ? opened[w] : (closed[w] || !opened[w])) return;
    (on ? opened : closed)[w] = true;
    for (const auto& target : windows[w].sites) {
      if (windows[w].kind == "registry_outage") {  // every pull fails, new ones at once; control goes on
        registry_down += on ? 1 : -1;
        if ((on && registry_down == 1) || (!on && registry_down == 0))
          for (auto& h : hosts) h->set_registry_reachable(!on);
      } else if (windows[w].kind == "degrade") {  // the site's bucket runs at factor of the uplink's rate
        const std::size_t h = host_of_site.at(target);
        degraded[h] = on ? degraded[h] * windows[w].factor : degraded[h] / windows[w].factor;
        const sim::SiteTemplate& tpl = *site_template_of[h];
        const double rate = tpl.uplink_down.bytes_per_s * tpl.uplink_wire.efficiency() * degraded[h];
        if (network)
          change_link([&] { network->set_down_rate(h, rate); });
        else
          hosts[h]->set_uplink_rate(rate);
      } else if (windows[w].kind == "orchestrator_restart") {
        orchestrator_down += on ? 1 : -1;
        if (on && orchestrator_down == 1) orchestrator.reset();  // as a crash: nothing is flushed or said first
        if (!on && orchestrator_down == 0) {
          try {
            orchestrator = start_orchestrator();  // replays the journal, then on_restart
          } catch (const std::exception& e) {
            throw EnvironmentError("the orchestrator could not start again on 127.0.0.1:" + std::to_string(oc.control_port) +
                                   " and :" + std::to_string(oc.http_port) + ": " + e.what());
          }
          auto queued = std::move(waiting);
          waiting.clear();
          for (const auto* a : queued) submit(*a);
        }
      } else if (windows[w].kind == "node_crash") {  // a power cut of the node, and its boot at the end of the window
        const auto [h, k] = host_of_node.at(target);
        int& down = crashes[host_offset[h] + k];
        down += on ? 1 : -1;
        if (on && down == 1) hosts[h]->crash(k);
        if (!on && down == 0) hosts[h]->boot(k);
      } else {  // partition: the site's uplink is cut
        const std::size_t h = host_of_site.at(target);
        cuts[h] += on ? 1 : -1;
        if (network && cuts[h] == 0) change_link([&] { network->set_cut(h, false); });
        hosts[h]->set_uplink(cuts[h] == 0);
        // In namespaces the link goes down too, once the connections the agents closed have said so (their FIN
        // over the link): the orchestrator learns of the cut at once, as a simulated one does.
        if (network && on && cuts[h] == 1) {
          auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(50));
          timer->async_wait([&, h, timer](const boost::system::error_code& ec) {
            if (!ec && cuts[h] > 0) change_link([&] { network->set_cut(h, true); });
          });
        }
      }
      events.push_back({clock.now(), on ? "fault.start" : "fault.end", windows[w].name, windows[w].kind, target});
    }
  };
  for (std::size_t w = 0; w < windows.size(); ++w)
    for (const bool on : {true, false}) {
      auto timer = std::make_unique<asio::steady_timer>(io);
      const double at = on ? windows[w].start_s : windows[w].end_s;
      timer->expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(std::max(0.0, t0 + at - clock.now()))));
      timer->async_wait([&apply, w, on](const boost::system::error_code& ec) {
        if (!ec) apply(w, on);
      });
      timers.push_back(std::move(timer));
    }

  const double max_time = scenario.simulation.max_time.seconds;
  const bool settled = run_until(
      [&] {
        return submitted == scenario.timeline.size() && orchestrator && orchestrator->orchestrator().all_operations_finished() &&
               clock.now() - t0 >= scenario.simulation.duration.seconds;
      },
      max_time);
  const bool interrupted = !settled && sim::interrupt_requested();
  const bool hit_max_time = !settled && !interrupted;
  const double end_t = clock.now();
  for (auto& t : timers) t->cancel();
  for (std::size_t w = 0; w < windows.size(); ++w) apply(w, false);  // lifted at the end, as the simulator does
  const agents::Orchestrator& orch = orchestrator->orchestrator();

  // The outcome, read before the nodes stop (stopping is the end of the run, not part of it).
  reports::RunResult r;
  r.fleetsim_version = "0.1.0";
  r.scenario_file = original.file;
  r.scenario_name = original.name;
  r.seed = options.seed;
  r.overrides = original.overrides;
  for (const auto& p : original.parameters) r.parameters.push_back({p.name, p.kind, p.value_text, p.default_text, p.given});
  r.engine_config["runtime"] = network ? "emulate: real processes over kernel TCP between network namespaces"
                                       : "emulate: real processes over loopback TCP";
  if (network) {
    r.engine_config["shaping"] =
        "network namespaces: one per site, the registry's and the orchestrator's, joined by veth pairs through a hub "
        "namespace; the kernel's tc tbf at each site's downlink and uplink rate and at the registry's egress (for the "
        "scenario's goodput: x 1514 / 1448 for the headers tbf counts); real kernel TCP";
    r.engine_config["partition"] =
        "a site's pulls fail and its control connections close for the window; 50 ms later its link goes down (no "
        "route) until the window ends";
    r.engine_config["degrade"] = "the site's downlink (tc tbf) runs at factor of its rate, for pulls and control messages";
  } else {
    r.engine_config["shaping"] = "token buckets per site (application level), downlink only" +
                                 (no_namespaces.empty() ? std::string() : " (not network namespaces: " + no_namespaces + ")");
    r.engine_config["partition"] = "a site's pulls fail and its control connections close for the window";
    r.engine_config["degrade"] = "the site's token bucket runs at factor of its rate (pulls; control messages are not slowed)";
  }
  r.engine_config["node_crash"] = "the node's agent and processes are killed; it boots from its directory";
  r.engine_config["registry_outage"] = "every node's pulls fail, and new ones at once, for the window; control goes on";
  r.engine_config["orchestrator_restart"] =
      "the orchestrator ends (its connections close); a new one replays its journal on the same ports";
  r.engine_config["latency"] =
      "application level: each pull waits its connection set-up and request round trips (connect_rtts, keep_alive), "
      "each control message its one-way path, before it is sent (not netem, which not every kernel has)";
  r.engine_config["registry"] = own_registry ? "docker-registry (started by fleetsim)" : registry_url;
  r.engine_config["scale"] = std::to_string(scale);
  r.sites = fleet.sites.size();
  r.nodes = node_count;
  const auto unscale = [&](double t) { return (t - t0) / scale; };
  r.end_time_s = unscale(end_t);
  r.hit_max_time = hit_max_time;
  r.interrupted = interrupted;
  for (std::size_t h = 0; h < hosts.size(); ++h)
    for (std::size_t k = 0; k < hosts[h]->size(); ++k) {
      auto& row = rows[host_offset[h] + k];
      row.bytes_pulled = static_cast<std::uint64_t>(std::llround(static_cast<double>(hosts[h]->bytes_pulled(k)) / scale));
      row.bytes_wasted = static_cast<std::uint64_t>(std::llround(static_cast<double>(hosts[h]->agent(k).bytes_wasted()) / scale));
      r.bytes_wasted += row.bytes_wasted;
      r.registry_egress_bytes += row.bytes_pulled;
      for (const auto& app : scenario.apps)
        if (const agents::Release* active = hosts[h]->agent(k).active_release(app.name)) ++r.nodes_at_end[app.name][active->version];
    }
  r.node_rows = rows;
  for (std::size_t w = 0; w < windows.size(); ++w) {
    const sim::FaultSpec& fault = original.faults[w];
    if (opened[w]) {
      reports::FaultWindow window = windows[w];
      window.start_s /= scale;
      window.end_s /= scale;
      r.faults.push_back(std::move(window));
    } else if (!interrupted) {
      r.scenario_errors.push_back(fault.where + ": fault." + fault.kind + " '" + fault.name + "' at " +
                                  models::format_duration(fault.at_s) + " was never injected: the run ended at " +
                                  models::format_duration(r.end_time_s) +
                                  " (every operation had settled); set simulation { duration = \"" +
                                  models::format_duration(fault.at_s) + "\" } or longer to run until it");
    }
  }
  for (auto& e : events) {
    e.at_s = unscale(e.at_s);
    r.events.push_back(std::move(e));
  }
  for (const auto& op : orch.operations())
    if (op.rolled_back_by) names[*op.rolled_back_by] = names[op.id] + "_revert";
  std::vector<bool> node_failed(node_count, false);
  checks::RunEnd end;
  end.t = end_t;
  end.hit_max_time = hit_max_time;
  end.interrupted = interrupted;
  for (const auto& op : orch.operations()) {
    if (names.count(op.id) == 0) names[op.id] = "operation_" + std::to_string(op.id);
    end.operations.push_back(sim::operation_record(original, op, names.at(op.id)));
    reports::OperationResult o = sim::describe_operation(original, op, names);
    o.started_at_s = unscale(o.started_at_s);
    if (o.finished_at_s) o.finished_at_s = unscale(*o.finished_at_s);
    if (o.aborted_at_s) o.aborted_at_s = unscale(*o.aborted_at_s);
    for (auto& w : o.waves) {
      w.started_s = unscale(w.started_s);
      if (w.completed_s) w.completed_s = unscale(*w.completed_s);
    }
    for (auto& [node, why] : op.unplaced) o.unplaced.push_back(oc.inventory[node].name + ": " + why);
    std::vector<reports::NodeTimes> op_times = times.of(op.app, op.generation);
    for (auto& t : op_times)
      for (std::optional<double>* x : {&t.notified_s, &t.downloaded_s, &t.healthy_s})
        if (*x) **x = unscale(**x);
    sim::add_operation(original, op, std::move(o), op_times, node_failed, r);
  }
  r.nodes_failed = static_cast<std::size_t>(std::count(node_failed.begin(), node_failed.end(), true));

  // Stop every node (its processes: SIGTERM, then SIGKILL after the grace) and wait for them to be reaped.
  for (auto& h : hosts) h->stop();
  run_until(
      [&] {
        std::size_t stopping = 0;
        for (const auto& h : hosts) stopping += h->stopping();
        return stopping == 0;
      },
      5);
  orchestrator->stop();

  checks.finish(end);
  r.violations = checks.violations();
  for (auto& v : r.violations) v.at_s = unscale(v.at_s);
  for (const auto& [name, meaning] : checks::InvariantChecks::catalogue()) r.invariants_checked.push_back(name);
  sim::judge_expectations(original, r);
  return r;
}

}  // namespace fleetsim::emulate
