// The SimGrid runtime of the agents: implements their ports on S4U, runs one actor per node plus the
// orchestrator and the timeline, records what happens, and checks the invariants.
#include "fleetsim/sim/run.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <memory>
#include <set>

#include <simgrid/Exception.hpp>
#include <simgrid/s4u.hpp>
#include <simgrid/version.h>

#include "event_loop.hpp"
#include "fleetsim/agents/node_agent.hpp"
#include "fleetsim/agents/orchestrator.hpp"
#include "fleetsim/agents/telemetry.hpp"
#include "fleetsim/models/rng.hpp"
#include "fleetsim/models/sensors.hpp"
#include "logging.hpp"
#include "platform.hpp"

namespace fleetsim::sim {
namespace {

namespace sg4 = simgrid::s4u;
using agents::NodeAppState;

constexpr int kPercentiles[] = {50, 90, 99, 100};

// A control message's path between the orchestrator and a node, read once from the platform's routes.
struct ControlPath {
  double latency_s = 0;
  double bottleneck_bytes_per_s = 0;
  // Control messages are delivered after the route latency plus their size over the path's narrowest link;
  // they do not take part in bandwidth sharing (docs/ENGINE.md, "Control messages").
  double delay(const agents::Message& message) const {
    return latency_s + static_cast<double>(agents::wire_size(message)) / bottleneck_bytes_per_s;
  }
};

ControlPath control_path(const sg4::Host* from, const sg4::Host* to) {
  std::vector<sg4::Link*> links;
  double latency = 0;
  from->route_to(to, links, &latency);
  ControlPath path{latency, std::numeric_limits<double>::infinity()};
  for (const auto* link : links)
    path.bottleneck_bytes_per_s = std::min(path.bottleneck_bytes_per_s, link->get_bandwidth());
  return path;
}

// Where a posted envelope is handled (the node or the orchestrator actor).
class Receiver {
 public:
  virtual ~Receiver() = default;
  virtual void receive(const Envelope& envelope) = 0;
  virtual EventLoop& loop() = 0;
  // Whether the links between this receiver and the cloud that faults can turn off are up (empty: always).
  virtual std::function<bool()> path_to_cloud_up() const { return {}; }
  // Called just before a fault turns the receiver's uplink off, so that transfers about to fail can record how
  // far they got (SimGrid 3.32 reports a failed transfer's remaining bytes as 0).
  virtual void before_uplink_down() {}
  // Node crash and reboot (fault.node_crash), disk filled by something else (fault.disk_full); nodes only.
  virtual void crash() {}
  virtual void boot() {}
  virtual void fill_disk(std::uint64_t /*free_bytes*/) {}
  virtual void free_disk() {}
  // Whether messages can be handed to this receiver now (a powered-off node refuses them).
  virtual bool accepting() const { return true; }
  // A message this receiver sent (to `node`, or from it) could not be delivered.
  virtual void send_failed(std::size_t node, const agents::Message& message) = 0;
};

class SiteBus;

// Delivery delays, in a histogram of 20 logarithmic bins per decade from 1 ms: percentiles without keeping a value
// per message. A percentile reads as its bin's upper edge (at most 12 % above the true value).
struct DelayHistogram {
  static constexpr int kBins = 200;
  std::vector<double> weight = std::vector<double>(kBins, 0.0);
  double total = 0;
  double max = 0;
  void add(double delay_s, double count) {
    const double d = std::max(delay_s, 1e-3);
    const int bin = std::clamp(static_cast<int>(std::floor(20 * std::log10(d / 1e-3))), 0, kBins - 1);
    weight[static_cast<std::size_t>(bin)] += count;
    total += count;
    max = std::max(max, delay_s);
  }
  void merge(const DelayHistogram& other) {
    for (int i = 0; i < kBins; ++i) weight[static_cast<std::size_t>(i)] += other.weight[static_cast<std::size_t>(i)];
    total += other.total;
    max = std::max(max, other.max);
  }
  std::optional<double> percentile(double p) const {
    if (!(total > 0)) return std::nullopt;
    double seen = 0;
    for (int i = 0; i < kBins; ++i) {
      seen += weight[static_cast<std::size_t>(i)];
      if (seen >= p / 100.0 * total - 1e-9) return std::min(max, 1e-3 * std::pow(10.0, (i + 1) / 20.0));
    }
    return max;
  }
};

// Everything the actors share: the scenario, the platform, the measurements and the invariant checks.
struct World {
  const Scenario& scenario;
  const RunOptions& options;
  Platform platform;
  std::vector<Receiver*> nodes;
  Receiver* orchestrator = nullptr;
  std::vector<ControlPath> to_node;    // orchestrator -> node
  std::vector<ControlPath> from_node;  // node -> orchestrator
  bool timed_control = false;
  sg4::Mailbox* admin_inbox = nullptr;

  // Control messages. "network": a SimGrid communication of the message's wire size between the two hosts,
  // sharing the links with the pulls; the node's loop waits for it either way (a node has few messages in flight,
  // the orchestrator may have thousands), and the receiver handles the message when it has arrived. "timed": a
  // delivery after the path's latency plus size over its narrowest link (docs/ENGINE.md, "Control messages").
  // A communication that fails (issue: faults) loses the message, as a dropped connection would.
  // A message that cannot be delivered (its path is down, or the node is powered off) fails back to its sender,
  // as a connection error would, and the sender's agent retries (Orchestrator/NodeAgent::on_send_failed).
  void send_to_node(std::size_t node, const agents::Message& message) {
    auto envelope = std::make_shared<Envelope>(Envelope{Envelope::Kind::message, message, {}, {}});
    Receiver* target = nodes[node];
    Receiver* sender = orchestrator;
    auto deliver = [target, sender, node, envelope](bool ok) {
      if (ok && target->accepting()) {
        target->receive(*envelope);
      } else {
        sender->loop().post_at(sg4::Engine::get_clock(),
                               [sender, node, envelope] { sender->send_failed(node, envelope->message); });
      }
    };
    if (timed_control) {
      auto path_up = target->path_to_cloud_up();
      target->loop().post_at(sg4::Engine::get_clock() + to_node[node].delay(message),
                             [deliver, path_up] { deliver(!path_up || path_up()); });
      return;
    }
    // The node's actor issues the communication: SimGrid keeps a list of the activities each actor issued, and
    // removing a finished one from a list of thousands (the orchestrator's) costs a scan each time.
    sg4::Host* from = platform.orchestrator;
    sg4::Host* to = platform.nodes[node].host;
    target->loop().post_at(sg4::Engine::get_clock(), [target, deliver, envelope, from, to] {
      auto comm = sg4::Comm::sendto_async(from, to, agents::wire_size(envelope->message));
      target->loop().watch(comm, deliver, target->path_to_cloud_up());
    });
  }
  void send_to_orchestrator(std::size_t node, const agents::Message& message) {
    auto envelope = std::make_shared<Envelope>(Envelope{Envelope::Kind::message, message, {}, {}});
    Receiver* target = orchestrator;
    Receiver* sender = nodes[node];
    auto path_up = sender->path_to_cloud_up();
    if (timed_control) {
      target->loop().post_at(
          sg4::Engine::get_clock() + from_node[node].delay(message), [target, sender, node, envelope, path_up] {
            if ((!path_up || path_up()) && target->accepting()) {
              target->receive(*envelope);
            } else {
              sender->loop().post_at(sg4::Engine::get_clock(),
                                     [sender, node, envelope] { sender->send_failed(node, envelope->message); });
            }
          });
      return;
    }
    auto comm = sg4::Comm::sendto_async(platform.nodes[node].host, platform.orchestrator, agents::wire_size(message));
    sender->loop().watch(
        comm,
        [target, sender, node, envelope](bool ok) {
          if (ok && target->accepting())
            target->loop().post_at(sg4::Engine::get_clock(), [target, envelope] { target->receive(*envelope); });
          else
            sender->send_failed(node, envelope->message);  // runs in the node's own actor
        },
        path_up);
  }

  // Measurements, keyed by (app, revision) then node index.
  std::map<std::pair<std::string, std::uint64_t>, std::vector<reports::NodeTimes>> times;
  std::vector<std::uint64_t> node_bytes_pulled;
  std::vector<std::uint64_t> node_bytes_wasted;
  std::vector<std::uint64_t> site_uplink_bytes;
  std::uint64_t registry_egress_bytes = 0;
  std::uint64_t control_bytes = 0;
  std::uint64_t crash_reports = 0;  // "unhealthy" reports: a committed release's process exited
  std::vector<reports::InvariantViolation> violations;
  std::vector<reports::Event> events;
  // Node time per (app, version): how long nodes ran (or were starting) each version, from exact state changes.
  std::map<std::pair<std::string, std::string>, double> node_time;
  std::vector<reports::StateSample> states;
  EventLoop* states_loop = nullptr;
  std::vector<std::vector<std::size_t>> site_nodes;  // node indices per site
  std::function<void()> close_faults;                // ends every open fault window and stops the injector
  sg4::Link* registry_egress_up = nullptr;           // registry -> everyone
  sg4::Link* registry_egress_down = nullptr;
  std::set<std::pair<std::string, std::size_t>> violation_keys;       // (invariant, node): report each once
  std::vector<std::map<std::string, agents::Revision>> last_desired;  // per node, per app

  // Telemetry: the cloud's receiver, the buses (per site index; null without one), the time series by sample.
  agents::telemetry::CloudReceiver cloud;
  std::vector<SiteBus*> buses;
  std::size_t bus_sites = 0;  // sites with a telemetry bus
  std::vector<std::map<std::string, reports::TelemetrySample>> telemetry_series;
  reports::TelemetrySample& sample(std::size_t k, const std::string& scope) {
    if (telemetry_series.size() <= k) telemetry_series.resize(k + 1);
    auto& smp = telemetry_series[k][scope];
    smp.scope = scope;
    return smp;
  }

  // Progress line (terminal only); wall clock is used for redraw throttling, never in results.
  std::chrono::steady_clock::time_point last_draw{};
  std::size_t progress_done = 0;
  std::size_t progress_total = 0;

  World(const Scenario& s, const RunOptions& o) : scenario(s), options(o) {}

  // Keyed by generation, not revision: a rollback returns to an older revision under a new generation.
  std::vector<reports::NodeTimes>& times_of(const std::string& app, std::uint64_t generation) {
    auto& v = times[{app, generation}];
    if (v.empty()) v.resize(platform.nodes.size());
    return v;
  }

  void violation(const std::string& invariant, std::size_t node, const std::string& detail) {
    if (!violation_keys.insert({invariant, node}).second) return;
    violations.push_back({invariant, detail, sg4::Engine::get_clock()});
    logger("invariants")->error("{}: {}", invariant, detail);
  }

  void draw_progress(bool force = false) {
    if (!options.progress) return;
    auto now = std::chrono::steady_clock::now();
    if (!force && now - last_draw < std::chrono::milliseconds(100)) return;
    last_draw = now;
    double pct = progress_total ? 100.0 * static_cast<double>(progress_done) / static_cast<double>(progress_total) : 0;
    std::fprintf(stderr, "\r\033[K  simulated %s  nodes done %zu/%zu (%.1f%%)",
                 models::format_duration(sg4::Engine::get_clock()).c_str(), progress_done, progress_total, pct);
    std::fflush(stderr);
  }
};

// ---- node --------------------------------------------------------------------------------------------------

class SimNode final : public Receiver,
                      public agents::Clock,
                      public agents::Random,
                      public agents::Timers,
                      public agents::NodeChannel,
                      public agents::Registry,
                      public agents::ContainerRuntime {
 public:
  SimNode(World& world, std::size_t index)
      : world_(world),
        index_(index),
        node_(world.platform.nodes[index]),
        random_(world.options.seed, node_.name, "agent"),
        agent_(make_config(), agents::NodeAgentPorts{*this, *this, *this, *this, *this, *this}) {}

  void run() {
    agent_.start();
    loop_.run();
  }
  EventLoop& loop() override { return loop_; }

  void receive(const Envelope& envelope) override {
    if (envelope.kind != Envelope::Kind::message) return;
    if (down_) return;     // a powered-off node receives nothing
    bool applied = false;  // re-sending an update the node has applied restarts nothing
    const unsigned starts = agent_.container_starts();
    const auto* desired = std::get_if<agents::DesiredState>(&envelope.message);
    if (desired != nullptr) {
      account_control(envelope.message);
      const auto& release = desired->release;
      auto& t = world_.times_of(release.app, desired->generation)[index_];
      if (!t.notified_s) t.notified_s = now();
      auto& last = world_.last_desired[index_][release.app];
      if (release.revision < last && !desired->rollback)
        world_.violation("no-downgrade-without-rollback", index_,
                         node_.name + " was told to go from revision " + std::to_string(last) + " to " +
                             std::to_string(release.revision) + " of " + release.app + " outside a rollback");
      last = std::max(last, release.revision);
      const agents::Release* committed = agent_.running(release.app);
      committed_at_handover_.emplace(std::make_pair(release.app, desired->generation),
                                     committed ? committed->revision : 0);
      applied = committed != nullptr && committed->revision == release.revision && !agent_.updating(release.app);
    }
    agent_.on_message(envelope.message);
    if (applied && agent_.container_starts() != starts)
      world_.violation("resend-restarts-nothing", index_,
                       node_.name + " restarted " + desired->release.app + " when told again to run revision " +
                           std::to_string(desired->release.revision) + ", which it ran");
    after_agent();
  }

  // Clock, Random
  agents::Time now() const override { return sg4::Engine::get_clock(); }
  double uniform01() override { return random_.uniform01(); }

  // Timers
  agents::TimerId set_timer(double delay_s) override {
    auto id = std::make_shared<agents::TimerId>(0);
    *id = loop_.add_timer(delay_s, [this, id] {
      agent_timers_.erase(*id);
      agent_.on_timer(*id);
      after_agent();
    });
    agent_timers_.insert(*id);
    return *id;
  }
  void cancel_timer(agents::TimerId id) override {
    agent_timers_.erase(id);
    loop_.cancel_timer(id);
  }

  // Power loss: transfers, timers and containers stop; what arrived so far is accounted; the agent keeps only
  // what it had on disk.
  bool accepting() const override { return !down_; }
  // Other data takes the disk: only `free_bytes` more fit beside the layers stored now. Never above the disk.
  void fill_disk(std::uint64_t free_bytes) override {
    const std::uint64_t disk = node_.site_template->hardware.disk.count;
    agent_.set_disk_budget(std::min(disk, agent_.bytes_stored() + free_bytes));
  }
  void free_disk() override { agent_.set_disk_budget(node_.site_template->hardware.disk.count); }
  void send_failed(std::size_t /*node*/, const agents::Message& message) override {
    if (down_) return;
    agent_.on_send_failed(message);
    after_agent();
  }

  // Crash and boot run in the node's own actor (the fault injector posts them), so that the transfers the agent
  // starts after a boot belong to this node.
  void crash() override {
    loop_.post_at(sg4::Engine::get_clock(), [this] { power_off(); });
  }
  void boot() override {
    loop_.post_at(sg4::Engine::get_clock(), [this] { power_on(); });
  }

 private:
  void power_off() {
    if (down_) return;
    down_ = true;
    bootable_before_crash_ = agent_.has_committed_release();
    // The agent learns what each transfer had received, as its disk holds it; then memory is lost.
    std::vector<std::pair<agents::TransferId, std::uint64_t>> cut;
    for (auto& [id, fetch] : fetches_) cut.emplace_back(id, received_bytes(fetch));
    loop_.cancel_watched();
    fetches_.clear();
    slot_busy_.assign(slot_busy_.size(), false);
    slot_of_.clear();
    for (const auto& [id, received] : cut) {
      account_fetch(received);
      std::uint64_t wasted_before = agent_.bytes_wasted();
      agent_.on_fetch_done(id, agents::FetchResult{false, received, "power lost"});
      world_.node_bytes_wasted[index_] += agent_.bytes_wasted() - wasted_before;
    }
    for (auto id : agent_timers_) loop_.cancel_timer(id);
    agent_timers_.clear();
    for (const auto& [app, timer] : containers_) loop_.cancel_timer(timer);
    containers_.clear();
    std::uint64_t wasted_before = agent_.bytes_wasted();
    agent_.on_crash();
    world_.node_bytes_wasted[index_] += agent_.bytes_wasted() - wasted_before;
    observe();
  }
  void power_on() {
    if (!down_) return;
    down_ = false;
    agent_.on_boot();
    if (bootable_before_crash_ && !agent_.has_committed_release())
      world_.violation("always-bootable", index_,
                       node_.name + " had a committed release before a crash and none after");
    after_agent();
  }

 public:
  // NodeChannel
  void send_to_orchestrator(const agents::Message& message) override {
    if (down_) return;  // said while losing power: never sent
    if (const auto* status = std::get_if<agents::StatusReport>(&message)) record(*status);
    world_.send_to_orchestrator(index_, message);
  }

  // Registry: layer bytes flow from the registry host through the registry egress and the site uplink.
  agents::TransferId start_fetch(const agents::Layer& layer, std::uint64_t offset) override {
    std::uint64_t bytes = layer.size_bytes > offset ? layer.size_bytes - offset : 0;
    agents::TransferId id = next_transfer_++;
    if (bytes == 0) {  // nothing left to move: answer at once, without a transfer
      loop_.add_timer(0, [this, id] {
        agent_.on_fetch_done(id, agents::FetchResult{true, 0, {}});
        after_agent();
      });
      return id;
    }
    // Under packet loss each transfer goes to a free download endpoint, whose link is the TCP throughput cap.
    sg4::Host* endpoint = node_.host;
    for (std::size_t slot = 0; slot < node_.download_endpoints.size(); ++slot)
      if (slot_busy_.size() <= slot || !slot_busy_[slot]) {
        slot_busy_.resize(node_.download_endpoints.size(), false);
        slot_busy_[slot] = true;
        slot_of_[id] = slot;
        endpoint = node_.download_endpoints[slot];
        break;
      }
    auto comm = sg4::Comm::sendto_async(world_.platform.registry, endpoint, bytes);
    logger("node")->debug("{}: transfer {} of {} bytes of {} from offset {}", node_.name, id, bytes, layer.digest,
                          offset);
    fetches_.emplace(id, Fetch{comm, bytes});
    loop_.watch(
        comm, [this, id](bool ok) { fetch_done(id, ok); }, pull_path_up());
    return id;
  }
  void cancel_fetch(agents::TransferId id) override {
    auto it = fetches_.find(id);
    if (it == fetches_.end()) return;
    loop_.unwatch(it->second.comm);
    std::uint64_t received = received_bytes(it->second);
    it->second.comm->cancel();
    account_fetch(received);
    fetches_.erase(it);
    release_slot(id);
  }

  // ContainerRuntime: the process runs start_s after start(); the release model (issue: bad releases) hooks in here.
  void start_container(const agents::Release& release) override {
    const std::string app = release.app;
    stop_container(app);  // a start replaces any start still in progress
    // Release behaviour (on the hardware it applies to): a start crashes with its probability, drawn from
    // (seed, node, release, start); a process that started exits fail_after later.
    bool crashes = false;
    double fail_after = 0;
    for (const auto& spec : world_.scenario.apps)
      if (spec.name == app)
        if (const AppVersionSpec* v = spec.find(release.version);
            v != nullptr && v->bad_on(node_.site_template->hardware)) {
          const double p =
              !v->fails_on.empty() && v->crash_on_start == 0 && v->fail_after.seconds == 0 ? 1.0 : v->crash_on_start;
          if (p > 0)
            crashes = models::RandomStream(world_.options.seed, node_.name,
                                           "crash/" + app + "/" + release.version + "/" +
                                               std::to_string(++starts_[app + "/" + release.version]))
                          .bernoulli(p);
          fail_after = v->fail_after.seconds;
        }
    containers_[app] = loop_.add_timer(release.start_s, [this, app, crashes, fail_after] {
      containers_.erase(app);
      if (!crashes && fail_after > 0)
        containers_[app] = loop_.add_timer(fail_after, [this, app] {
          containers_.erase(app);
          agent_.on_container_event(app, agents::ContainerEvent::exited);
          after_agent();
        });
      agent_.on_container_event(app, crashes ? agents::ContainerEvent::exited : agents::ContainerEvent::started);
      after_agent();
    });
  }
  void stop_container(const std::string& app) override {
    auto it = containers_.find(app);
    if (it != containers_.end()) {
      loop_.cancel_timer(it->second);
      containers_.erase(it);
    }
  }

 private:
  struct Fetch {
    sg4::CommPtr comm;
    std::uint64_t bytes;
    double remaining_before_fault = -1;  // bytes left when a fault took the uplink down (-1: no fault)
  };

  // A pull's path: the registry's egress and the site's uplink, the links faults turn off.
  std::function<bool()> pull_path_up() const {
    const PlatformSite* site = &world_.platform.sites[node_.site_index];
    const sg4::Link* egress = world_.platform.registry_egress_up;
    return [site, egress] { return egress->is_on() && site->uplink_down->is_on() && site->uplink_up->is_on(); };
  }

 public:
  void before_uplink_down() override {
    for (auto& [id, fetch] : fetches_) fetch.remaining_before_fault = fetch.comm->get_remaining();
  }

  // The site's uplink is the only link on this node's paths that faults turn off.
  std::function<bool()> path_to_cloud_up() const override {
    const PlatformSite* site = &world_.platform.sites[node_.site_index];
    return [site] { return site->uplink_down->is_on() && site->uplink_up->is_on(); };
  }

 private:
  agents::NodeAgentConfig make_config() const {
    const AgentSpec& a = node_.site_template->agent;
    agents::NodeAgentConfig c;
    c.id = static_cast<agents::NodeId>(index_);
    c.disk_bytes = node_.site_template->hardware.disk.count;
    c.max_concurrent_downloads = static_cast<unsigned>(a.max_concurrent_downloads);
    c.notify_jitter_s = a.notify_jitter.seconds;
    c.resume = a.resume == "restart" ? agents::ResumePolicy::restart_from_zero : agents::ResumePolicy::resume_range;
    c.max_fetch_attempts = static_cast<unsigned>(a.max_fetch_attempts);
    c.retry_initial_s = a.retry_initial.seconds;
    c.retry_max_s = a.retry_max.seconds;
    c.verification_window_s = a.verification_window.seconds;
    c.local_rollback = a.rollback == "local";
    c.restart_initial_s = a.restart_initial.seconds;
    c.restart_max_s = a.restart_max.seconds;
    c.restart_reset_s = a.restart_reset.seconds;
    c.poll_interval_s = a.poll_interval.seconds;
    c.poll_jitter = a.poll_jitter;
    return c;
  }

  static std::uint64_t received_bytes(const Fetch& f) {
    double remaining = f.remaining_before_fault >= 0 ? f.remaining_before_fault : f.comm->get_remaining();
    if (!(remaining > 0)) return f.bytes;
    auto left = static_cast<std::uint64_t>(std::llround(remaining));
    return left >= f.bytes ? 0 : f.bytes - left;
  }

  void release_slot(agents::TransferId id) {
    auto it = slot_of_.find(id);
    if (it == slot_of_.end()) return;
    slot_busy_[it->second] = false;
    slot_of_.erase(it);
  }

  void account_fetch(std::uint64_t bytes) {
    world_.registry_egress_bytes += bytes;
    world_.site_uplink_bytes[node_.site_index] += bytes;
    world_.node_bytes_pulled[index_] += bytes;
  }

  void account_control(const agents::Message& message) {
    std::uint64_t size = agents::wire_size(message);
    world_.control_bytes += size;
    world_.site_uplink_bytes[node_.site_index] += size;
  }

  void fetch_done(agents::TransferId id, bool ok) {
    auto it = fetches_.find(id);
    if (it == fetches_.end()) return;
    // A transfer that failed without a snapshot started while its uplink was already down: nothing arrived.
    std::uint64_t received = ok                                      ? it->second.bytes
                             : it->second.remaining_before_fault < 0 ? 0
                                                                     : received_bytes(it->second);
    fetches_.erase(it);
    release_slot(id);
    account_fetch(received);
    logger("node")->debug("{}: transfer {} {} after {} bytes", node_.name, id, ok ? "done" : "FAILED", received);
    agents::FetchResult result{ok, received, ok ? std::string() : std::string("connection lost during transfer")};
    std::uint64_t wasted_before = agent_.bytes_wasted();
    agent_.on_fetch_done(id, result);
    world_.node_bytes_wasted[index_] += agent_.bytes_wasted() - wasted_before;
    after_agent();
  }

  void record(const agents::StatusReport& status) {
    auto& t = world_.times_of(status.app, status.generation)[index_];
    switch (status.state) {
      case NodeAppState::accepted:
        break;
      case NodeAppState::downloaded:
        if (!t.downloaded_s) t.downloaded_s = now();
        break;
      case NodeAppState::healthy: {
        if (!t.healthy_s) {
          t.healthy_s = now();
          ++world_.progress_done;
          world_.draw_progress();
        }
        const agents::Release* running = agent_.running(status.app);
        if (running == nullptr || running->revision != status.revision)
          world_.violation("healthy-report-matches-running-release", index_,
                           node_.name + " reported revision " + std::to_string(status.revision) + " of " + status.app +
                               " healthy but does not run it");
        break;
      }
      case NodeAppState::unhealthy:
        ++world_.crash_reports;
        break;
      case NodeAppState::failed: {
        // A local rollback restores exactly the release the node had committed when this update arrived.
        auto before = committed_at_handover_.find({status.app, status.generation});
        const agents::Release* now_running = agent_.running(status.app);
        if (node_.site_template->agent.rollback == "local" && before != committed_at_handover_.end() &&
            before->second != 0 && (now_running == nullptr || now_running->revision != before->second))
          world_.violation("local-rollback-restores-previous", index_,
                           node_.name + " failed revision " + std::to_string(status.revision) + " of " + status.app +
                               " and runs revision " +
                               (now_running ? std::to_string(now_running->revision) : std::string("none")) +
                               ", not the revision " + std::to_string(before->second) + " it ran before");
      }
        ++world_.progress_done;
        logger("node")->warn("{} failed {} revision {}: {}", node_.name, status.app, status.revision, status.detail);
        break;
    }
  }

  // After every agent handler: the disk budget, and the node-time accounting of each app's active version.
  void after_agent() {
    check_disk();
    observe();
  }

 public:
  // The version whose process runs (or is starting) for each app; node time accrues to it while powered.
  void observe() {
    const double now_s = sg4::Engine::get_clock();
    for (const auto& app : world_.scenario.apps) {
      std::string version;
      if (!down_)
        if (const agents::Release* r = agent_.active_release(app.name)) version = r->version;
      auto& [current, since] = active_[app.name];
      if (current == version) continue;
      if (!current.empty()) world_.node_time[{app.name, current}] += now_s - since;
      current = version;
      since = now_s;
    }
  }
  void flush_node_time() {
    const double now_s = sg4::Engine::get_clock();
    for (auto& [app, entry] : active_) {
      if (!entry.first.empty()) world_.node_time[{app, entry.first}] += now_s - entry.second;
      entry.second = now_s;
    }
  }
  // The node's state for an app, for the states time series: (version, state).
  std::pair<std::string, std::string> state_of(const std::string& app) const {
    const agents::Release* r = agent_.active_release(app);
    std::string version = r ? r->version : "-";
    if (down_) return {version, "down"};
    if (agent_.updating(app)) return {version, "updating"};
    if (r == nullptr) return {version, "none"};
    return {version, agent_.app_up(app) ? "running" : "crashlooping"};
  }
  const agents::NodeAgent& agent() const { return agent_; }

 private:
  void check_disk() {
    if (agent_.bytes_stored() > node_.site_template->hardware.disk.count)
      world_.violation("disk-budget", index_,
                       node_.name + " stores " + std::to_string(agent_.bytes_stored()) + " bytes, budget " +
                           std::to_string(node_.site_template->hardware.disk.count));
  }

  World& world_;
  std::size_t index_;
  const PlatformNode& node_;
  EventLoop loop_;
  models::RandomStream random_;
  agents::NodeAgent agent_;
  std::map<agents::TransferId, Fetch> fetches_;
  std::map<std::string, EventLoop::TimerId> containers_;
  std::set<agents::TimerId> agent_timers_;
  std::map<std::string, unsigned> starts_;  // per app/version: container starts so far (crash draws)
  std::vector<bool> slot_busy_;             // download endpoints in use (packet loss only)
  std::map<agents::TransferId, std::size_t> slot_of_;
  bool down_ = false;
  bool bootable_before_crash_ = false;
  std::map<std::string, std::pair<std::string, double>> active_;  // per app: (active version, since)
  // Per (app, generation): the revision the node had committed when that desired state arrived (local rollback).
  std::map<std::pair<std::string, std::uint64_t>, agents::Revision> committed_at_handover_;
  agents::TransferId next_transfer_ = 1;
};

// ---- orchestrator --------------------------------------------------------------------------------------------

class SimOrchestrator final : public Receiver,
                              public agents::Clock,
                              public agents::Timers,
                              public agents::OrchestratorChannel {
 public:
  SimOrchestrator(World& world, std::vector<agents::NodeInfo> inventory)
      : world_(world), orchestrator_(std::move(inventory), agents::OrchestratorPorts{*this, *this, *this}) {
    orchestrator_.on_operation_finished([this](const agents::Operation& op) {
      logger("orchestrator")
          ->info("operation {} finished: {}/{} healthy, {} failed, {} timed out", names_[op.id], op.succeeded,
                 op.targets.size(), op.failed, op.timed_out);
      maybe_settled();
    });
  }

  void run() { loop_.run(); }
  void send_failed(std::size_t node, const agents::Message& message) override {
    orchestrator_.on_send_failed(static_cast<agents::NodeId>(node), message);
  }
  EventLoop& loop() override { return loop_; }

  bool accepting() const override { return !down_; }

  // The orchestrator process stops: its timers go; its state (desired state, operations, outcomes) is in its
  // store and survives. Commands that arrive meanwhile wait for it, as a client retrying the API would.
  void crash() override {
    loop_.post_at(sg4::Engine::get_clock(), [this] {
      if (down_) return;
      down_ = true;
      for (auto id : timers_) loop_.cancel_timer(id);
      timers_.clear();
    });
  }
  void boot() override {
    loop_.post_at(sg4::Engine::get_clock(), [this] {
      if (!down_) return;
      down_ = false;
      orchestrator_.on_restart();
      std::vector<Envelope> held = std::move(held_commands_);
      held_commands_.clear();
      for (const auto& envelope : held) receive(envelope);
    });
  }

  void receive(const Envelope& envelope) override {
    if (down_) {
      if (envelope.kind == Envelope::Kind::command) held_commands_.push_back(envelope);
      return;  // a message to a stopped process is refused (senders learn it through send_failed)
    }
    if (envelope.kind == Envelope::Kind::command) {
      const auto& c = envelope.command;
      // Named before submit: an operation with no target finishes (and is logged) inside submit.
      const auto next_id = static_cast<std::uint32_t>(orchestrator_.operations().size()) + 1;
      names_[next_id] = envelope.operation_name;
      std::uint32_t id = orchestrator_.submit(c);
      if (id != next_id) names_[id] = names_.extract(next_id).mapped();
      const auto& op = orchestrator_.operations().back();
      world_.progress_total += op.targets.size();
      logger("orchestrator")
          ->info("operation {} ({} {} version {} as revision {}) targets {} nodes", envelope.operation_name,
                 c.kind == agents::Command::Kind::deploy ? "deploy" : "rollout", c.release.app, c.release.version,
                 op.to_revision, op.targets.size());
      ++submitted_;
      maybe_settled();
    } else if (envelope.kind == Envelope::Kind::message) {
      if (const auto* status = std::get_if<agents::StatusReport>(&envelope.message)) {
        std::uint64_t size = agents::wire_size(envelope.message);
        world_.control_bytes += size;
        world_.site_uplink_bytes[world_.platform.nodes[status->node].site_index] += size;
      } else if (const auto* poll = std::get_if<agents::Poll>(&envelope.message)) {
        std::uint64_t size = agents::wire_size(envelope.message);
        world_.control_bytes += size;
        world_.site_uplink_bytes[world_.platform.nodes[poll->node].site_index] += size;
      }
      orchestrator_.on_message(envelope.message);
    }
  }

  const agents::Orchestrator& orchestrator() const { return orchestrator_; }
  const std::map<std::uint32_t, std::string>& names() const { return names_; }

  agents::Time now() const override { return sg4::Engine::get_clock(); }
  agents::TimerId set_timer(double delay_s) override {
    auto id = std::make_shared<agents::TimerId>(0);
    *id = loop_.add_timer(delay_s, [this, id] {
      timers_.erase(*id);
      orchestrator_.on_timer(*id);
    });
    timers_.insert(*id);
    return *id;
  }
  void cancel_timer(agents::TimerId id) override {
    timers_.erase(id);
    loop_.cancel_timer(id);
  }
  void send_to_node(agents::NodeId node, const agents::Message& message) override {
    world_.send_to_node(node, message);
  }

 private:
  void maybe_settled() {
    if (settled_sent_ || submitted_ < world_.scenario.timeline.size() || !orchestrator_.all_operations_finished())
      return;
    settled_sent_ = true;
    auto* envelope = new Envelope{Envelope::Kind::settled, {}, {}, {}};
    world_.admin_inbox->put_init(envelope, 0)->detach([](void* payload) { delete static_cast<Envelope*>(payload); });
  }

  World& world_;
  EventLoop loop_;
  agents::Orchestrator orchestrator_;
  std::map<std::uint32_t, std::string> names_;
  std::size_t submitted_ = 0;
  bool settled_sent_ = false;
  bool down_ = false;
  std::set<agents::TimerId> timers_;
  std::vector<Envelope> held_commands_;
};

// ---- nodes in each state over time ----------------------------------------------------------------------------------

class StateSampler {
 public:
  StateSampler(World& world, std::vector<SimNode*> nodes) : world_(world), nodes_(std::move(nodes)) {}
  EventLoop& loop() { return loop_; }
  void run() {
    loop_.add_timer(0, [this] { sample(); });
    loop_.run();
  }

 private:
  void sample() {
    std::map<std::tuple<std::string, std::string, std::string>, std::size_t> counts;
    for (const auto& app : world_.scenario.apps)
      for (const SimNode* node : nodes_) {
        auto [version, state] = node->state_of(app.name);
        ++counts[{app.name, version, state}];
      }
    const double now = sg4::Engine::get_clock();
    for (const auto& [key, n] : counts)
      world_.states.push_back({now, std::get<0>(key), std::get<1>(key), std::get<2>(key), n});
    loop_.add_timer(world_.scenario.simulation.states_sample.seconds, [this] { sample(); });
  }
  World& world_;
  std::vector<SimNode*> nodes_;
  EventLoop loop_;
};

// ---- telemetry bus ---------------------------------------------------------------------------------------------

// A site's telemetry: the broker (agents/telemetry.hpp) in its own actor on the site's first node, fed by the
// site's sensors (one draw per sensor kind per batch interval) and GPU inference results, uploading batches to the
// cloud's ingest host as SimGrid communications over the site uplink. It checks the bus invariants as it goes.
class SiteBus final : public agents::Clock,
                      public agents::Random,
                      public agents::Timers,
                      public agents::telemetry::UplinkPort {
 public:
  SiteBus(World& world, std::size_t site)
      : world_(world),
        site_index_(site),
        site_(world.platform.sites[site]),
        tpl_(*site_.site_template),
        streams_(tpl_.streams()),
        random_(world.options.seed, site_.name, "bus"),
        broker_(tpl_.bus->config, streams_, tpl_.bus->streams,
                agents::telemetry::BrokerPorts{*this, *this, *this, *this}) {
    broker_node_ = world.site_nodes[site].front();
    host_ = world.platform.nodes[broker_node_].host;
    const std::size_t nodes = world.site_nodes[site].size();
    for (const auto& sensor : tpl_.sensors)
      sensors_.push_back(
          Sensor{&sensor, stream_index(sensor.stream),
                 models::SensorSource(sensor.model, nodes,
                                      models::RandomStream(world.options.seed, site_.name, "sensor/" + sensor.name))});
    if (tpl_.inference) {
      inference_stream_ = stream_index(tpl_.inference->stream);
      const double fps = tpl_.inference->fps.per_s * tpl_.inference->cameras;
      for (std::size_t node : world.site_nodes[site])
        if (world.platform.nodes[node].gpu != nullptr)
          gpus_.push_back(Gpu{
              node, world.platform.nodes[node].gpu, models::FrameQueue(tpl_.inference->queue_frames),
              models::SensorSource(models::SensorModel{models::SensorProcess::periodic, fps, 0, 0}, 1,
                                   models::RandomStream(world.options.seed, world.platform.nodes[node].name, "camera")),
              false});
    }
    produced_.assign(streams_.size(), 0);
    delivered_.assign(streams_.size(), 0);
    history_.resize(streams_.size());
    accepted_.resize(streams_.size());
    const PlatformSite* s = &site_;
    path_up_ = [s] { return s->uplink_up->is_on() && s->uplink_down->is_on(); };
    ack_latency_ = control_path(world.platform.ingest, host_).latency_s;
    // Capacity for telemetry: the uplink's up direction, or the upload cap if lower; the live rate on the wire.
    const auto& fw = tpl_.bus->config.forwarder;
    capacity_ = tpl_.uplink_up.bytes_per_s;
    if (fw.upload_cap_bytes_per_s > 0) capacity_ = std::min(capacity_, fw.upload_cap_bytes_per_s);
    for (const auto& sensor : tpl_.sensors)
      live_rate_ += sensor.model.mean_rate() * static_cast<double>(nodes * sensor.size.count);
    if (tpl_.inference && tpl_.hardware.gpu) {
      const double frames = std::min(tpl_.inference->fps.per_s * tpl_.inference->cameras,
                                     tpl_.hardware.gpu->throughput.per_s * tpl_.hardware.gpu->count);
      live_rate_ += frames * static_cast<double>(gpus_.size() * tpl_.inference->result_size.count);
    }
    live_rate_ *= fw.compression;
  }

  EventLoop& loop() { return loop_; }
  std::size_t broker_node() const { return broker_node_; }

  void run() {
    interval_ = tpl_.bus->config.forwarder.batch_interval_s;
    // Sites do not tick in step: each bus starts at its own phase in [0, interval), drawn from the seed. (In step,
    // every site's batch would leave at the same instant and all of them would share one bandwidth-sharing
    // problem, as no real fleet does.) The production tick is armed before the broker starts: at equal times the
    // sensors hand over first.
    // Phases come in slots of the interval, one slot per 32 sites with a bus (at most 256): sites of a slot tick
    // together (one engine step for all of them) and about 32 uploads start together (docs/ENGINE.md,
    // "Telemetry transfers").
    const double slots = std::clamp(std::ceil(static_cast<double>(world_.bus_sites) / 32.0), 1.0, 256.0);
    const double slot =
        std::floor(models::RandomStream(world_.options.seed, site_.name, "bus-phase").uniform01() * slots);
    const double phase = (slot + 1) / slots * interval_;
    // The broker's batch interval is driven from here: one timer per site and interval hands the readings over
    // and then lets the broker send.
    loop_.add_timer(phase, [this] {
      broker_.start(/*external_tick=*/true);
      produce_tick();
    });
    sample_period_ = world_.scenario.simulation.telemetry_sample.seconds;
    loop_.add_timer(sample_period_, [this] { sample(); });
    loop_.run();
  }

  // Clock, Random, Timers
  agents::Time now() const override { return sg4::Engine::get_clock(); }
  double uniform01() override { return random_.uniform01(); }
  agents::TimerId set_timer(double delay_s) override {
    auto id = std::make_shared<agents::TimerId>(0);
    *id = loop_.add_timer(delay_s, [this, id] {
      broker_.on_timer(*id);
      after();
    });
    return *id;
  }
  void cancel_timer(agents::TimerId id) override { loop_.cancel_timer(id); }

  // UplinkPort: the batch crosses the site uplink to the ingest host; the cloud's acknowledgement comes back after
  // the route's latency, and is lost if the uplink is down by then.
  void send_batch(const agents::telemetry::Batch& batch) override {
    // The upload cap is the broker's own pacing (a token bucket), checked here: a batch of w bytes may start only
    // w / cap after the previous one started.
    const double cap = tpl_.bus->config.forwarder.upload_cap_bytes_per_s;
    if (cap > 0 && last_send_ >= 0 && now() + 1e-9 < last_send_ + static_cast<double>(last_wire_) / cap)
      violation("telemetry-upload-cap", "a batch started " + fmt(now() - last_send_) + " s after one of " +
                                            std::to_string(last_wire_) + " bytes, faster than the cap");
    last_send_ = now();
    last_wire_ = batch.wire_bytes;
    auto comm = sg4::Comm::sendto_async(host_, world_.platform.ingest, batch.wire_bytes);
    auto b = std::make_shared<agents::telemetry::Batch>(batch);
    loop_.watch(
        comm, [this, b](bool ok) { transfer_done(*b, ok); }, path_up_);
  }

  // Called from the fault injector's actor; the work runs in this bus's actor.
  void crash() {
    loop_.post_at(now(), [this] {
      std::vector<std::uint64_t> lost_before(streams_.size());
      for (std::size_t s = 0; s < streams_.size(); ++s) lost_before[s] = lost(s);
      std::vector<std::uint64_t> buffered(streams_.size());
      for (std::size_t s = 0; s < streams_.size(); ++s) buffered[s] = broker_.buffered_msgs(s);
      broker_.on_crash();
      for (std::size_t s = 0; s < streams_.size(); ++s) check_crash_loss(s, lost(s) - lost_before[s], buffered[s]);
      world_.events.push_back({now(), "bus.crash", "", "broker", site_.name});
    });
  }
  void boot() {
    loop_.post_at(now(), [this] {
      broker_.on_boot();
      world_.events.push_back({now(), "bus.boot", "", "broker", site_.name});
      after();
    });
  }
  void uplink_changed(bool up) {
    loop_.post_at(now(), [this, up] {
      if (up) {
        if (!broker_.caught_up()) {
          std::uint64_t backlog = 0;
          for (std::size_t s = 0; s < streams_.size(); ++s) backlog += broker_.buffered_bytes(s);
          drains_.push_back({now(), backlog, std::nullopt});
          drain_open_ = true;
        }
      } else {
        drain_open_ = false;  // a drain the next outage interrupts stays unfinished
      }
    });
  }
  void gpu_changed(std::size_t node, bool failed) {
    for (std::size_t g = 0; g < gpus_.size(); ++g) {
      if (gpus_[g].node != node) continue;
      if (failed) {
        gpus_[g].host->turn_off();  // the execution in progress fails; its frames are lost
      } else {
        gpus_[g].host->turn_on();
        loop_.post_at(now(), [this, g] { start_exec(g); });
      }
    }
  }

  // Results, once the simulation ended.
  reports::TelemetrySite site_result() const {
    reports::TelemetrySite r;
    r.site = site_.name;
    r.scope = tpl_.name;
    for (std::size_t s = 0; s < streams_.size(); ++s) {
      const auto& st = broker_.stats(s);
      r.produced += produced_[s];
      r.delivered += delivered_[s];
      r.dropped += st.dropped_total();
      for (std::size_t reason = 0; reason < agents::telemetry::kDropReasons; ++reason)
        r.dropped_by_reason[agents::telemetry::to_string(static_cast<agents::telemetry::DropReason>(reason))] +=
            st.dropped[reason];
    }
    r.duplicates = duplicates_;
    r.peak_buffer_bytes = peak_bytes_;
    r.live_bytes_per_s = live_rate_;
    r.capacity_bytes_per_s = capacity_;
    r.drains = drains_;
    return r;
  }
  std::uint64_t buffered_msgs() const {
    std::uint64_t n = 0;
    for (std::size_t s = 0; s < streams_.size(); ++s) n += broker_.buffered_msgs(s);
    return n;
  }
  std::uint64_t peak_msgs() const { return peak_msgs_; }
  double max_backlog_age() const { return max_backlog_age_; }
  const DelayHistogram& delays() const { return delays_; }
  std::vector<const models::FrameQueue*> frame_queues() const {
    std::vector<const models::FrameQueue*> out;
    for (const auto& g : gpus_) out.push_back(&g.queue);
    return out;
  }

  // End of run: produced = delivered + buffered + dropped for every stream (the buffer walked run by run), and
  // every message the broker counts as delivered was accepted by the cloud.
  void check_end() {
    for (std::size_t s = 0; s < streams_.size(); ++s) {
      const auto& st = broker_.stats(s);
      std::uint64_t walked = 0;
      for (const auto& r : broker_.runs(s)) walked += r.count;
      if (produced_[s] != st.delivered + walked + st.dropped_total() || walked != broker_.buffered_msgs(s))
        violation("telemetry-conservation", "stream " + streams_[s] + ": produced " + std::to_string(produced_[s]) +
                                                " != delivered " + std::to_string(st.delivered) + " + buffered " +
                                                std::to_string(walked) + " + dropped " +
                                                std::to_string(st.dropped_total()));
      if (delivered_[s] < st.delivered)
        violation("telemetry-at-least-once", "stream " + streams_[s] + ": the broker counts " +
                                                 std::to_string(st.delivered) + " delivered, the cloud accepted " +
                                                 std::to_string(delivered_[s]));
    }
  }

 private:
  struct Sensor {
    const SensorSpec* spec;
    std::size_t stream;
    models::SensorSource source;
  };
  struct Gpu {
    std::size_t node;
    sg4::Host* host;
    models::FrameQueue queue;
    models::SensorSource cameras;
    bool busy;
    sg4::ExecPtr exec = nullptr;
  };

  std::size_t stream_index(const std::string& name) const {
    return static_cast<std::size_t>(std::find(streams_.begin(), streams_.end(), name) - streams_.begin());
  }
  std::uint64_t lost(std::size_t s) const {
    return broker_.stats(s).dropped[static_cast<int>(agents::telemetry::DropReason::crash_lost)];
  }

  void violation(const std::string& invariant, const std::string& detail) {
    world_.violation(invariant, broker_node_, site_.name + ": " + detail);
  }

  void produce(std::size_t stream, std::uint64_t count, std::uint32_t size, double t0, double t1, int priority,
               int qos) {
    produced_[stream] += count;
    broker_.produce(stream, count, size, t0, t1, priority, qos);
    const auto& c = broker_.stream_config(stream);
    if ((c.max_bytes > 0 && broker_.buffered_bytes(stream) > c.max_bytes) ||
        (c.max_msgs > 0 && broker_.buffered_msgs(stream) > c.max_msgs))
      violation("telemetry-storage-limit", "stream " + streams_[stream] + " holds " +
                                               std::to_string(broker_.buffered_bytes(stream)) + " bytes in " +
                                               std::to_string(broker_.buffered_msgs(stream)) + " messages");
    if (c.storage == agents::telemetry::Storage::disk && c.fsync_interval_s > 0) {
      auto& h = history_[stream];
      h.emplace_back(t1, produced_[stream]);
      while (h.size() > 2 && h[1].first < t1 - c.fsync_interval_s - interval_) h.pop_front();
    }
  }

  void produce_tick() {
    const double t1 = now();
    const double t0 = last_tick_;
    last_tick_ = t1;
    for (auto& sensor : sensors_)
      produce(sensor.stream, sensor.source.count(t0, t1), static_cast<std::uint32_t>(sensor.spec->size.count), t0, t1,
              sensor.spec->priority, sensor.spec->qos);
    for (std::size_t g = 0; g < gpus_.size(); ++g) {
      // What the GPU will process in the next interval beyond the work it already holds.
      Gpu& gpu = gpus_[g];
      double service = gpu.host->is_on() ? gpu.host->get_speed() * interval_ : 0.0;
      if (gpu.exec) service -= gpu.exec->get_remaining();
      gpu.queue.arrive(gpu.cameras.count(t0, t1), service > 0 ? static_cast<std::uint64_t>(service) : 0);
      start_exec(g);
    }
    if (tpl_.inference) {
      produce(inference_stream_, results_pending_, static_cast<std::uint32_t>(tpl_.inference->result_size.count), t0,
              t1, tpl_.inference->priority, 1);
      results_pending_ = 0;
    }
    broker_.tick();
    loop_.add_timer(interval_, [this] { produce_tick(); });
    after();
  }

  // The GPU works through every queued frame in one execution; frames arriving meanwhile wait for the next one.
  void start_exec(std::size_t g) {
    Gpu& gpu = gpus_[g];
    if (gpu.busy || !gpu.host->is_on() || gpu.queue.queued() == 0) return;
    const std::uint64_t frames = gpu.queue.take();
    gpu.busy = true;
    auto exec = sg4::this_actor::exec_init(static_cast<double>(frames));
    exec->set_host(gpu.host);
    exec->start();
    gpu.exec = exec;
    sg4::Host* host = gpu.host;
    loop_.watch_activity(
        exec,
        [this, g, frames](bool ok) {
          Gpu& done = gpus_[g];
          done.busy = false;
          done.exec = nullptr;
          if (ok) {
            done.queue.complete(frames);
            results_pending_ += frames;
          } else {
            done.queue.fail(frames);
          }
          start_exec(g);
        },
        [host] { return host->is_on(); });
  }

  void transfer_done(const agents::telemetry::Batch& batch, bool ok) {
    if (!ok) {
      broker_.on_batch_result(batch.id, false);
      after();
      return;
    }
    world_.site_uplink_bytes[site_index_] += batch.wire_bytes;
    // Parts of the batch at or below the cloud's mark are discarded as duplicates: they must have been accepted
    // before, or a message arrived after a later one of its stream and was lost.
    for (const auto& r : batch.runs) {
      const std::uint64_t mark = world_.cloud.high_water_mark(static_cast<std::uint32_t>(site_index_), r.stream);
      if (r.count == 0 || r.first_seq > mark) continue;
      const std::uint64_t last = std::min(mark, r.first_seq + r.count - 1);
      if (!contains(accepted_[r.stream], r.first_seq, last))
        violation("telemetry-order", "stream " + streams_[r.stream] + ": messages " + std::to_string(r.first_seq) +
                                         ".." + std::to_string(last) +
                                         " arrived after later ones and were discarded as duplicates");
    }
    auto result = world_.cloud.receive(static_cast<std::uint32_t>(site_index_), batch);
    duplicates_ += result.duplicates;
    for (const auto& r : result.accepted) {
      insert(accepted_[r.stream], r.first_seq, r.first_seq + r.count - 1);
      delivered_[r.stream] += r.count;
      const double stream_ttl = broker_.stream_config(r.stream).ttl_s;
      if (stream_ttl > 0 && r.first_time() < batch.sent_at - stream_ttl - 1e-6)
        violation("telemetry-ttl", "stream " + streams_[r.stream] + ": message " + std::to_string(r.first_seq) +
                                       " was sent " + fmt(batch.sent_at - r.first_time()) +
                                       " s after it was produced, TTL " + fmt(stream_ttl) + " s");
      // Delays: the run in up to 8 slices, each at its middle message's age.
      const std::uint64_t slices = std::min<std::uint64_t>(8, r.count);
      for (std::uint64_t k = 0; k < slices; ++k) {
        const std::uint64_t lo = r.count * k / slices;
        const std::uint64_t hi = r.count * (k + 1) / slices;
        if (hi > lo) delays_.add(now() - r.event_time((lo + hi - 1) / 2), static_cast<double>(hi - lo));
      }
    }
    loop_.add_timer(ack_latency_, [this, b = batch] {
      const bool up = path_up_();
      if (up)
        for (const auto& r : b.runs)
          if (r.count > 0 && !contains(accepted_[r.stream], r.first_seq, r.first_seq + r.count - 1))
            violation("telemetry-at-least-once", "stream " + streams_[r.stream] + ": acknowledged messages " +
                                                     std::to_string(r.first_seq) + ".. are not at the cloud");
      broker_.on_batch_result(b.id, up);
      after();
    });
  }

  // Bookkeeping after anything happened: drains, peaks, backlog age.
  void after() {
    std::uint64_t bytes = 0, msgs = 0;
    for (std::size_t s = 0; s < streams_.size(); ++s) {
      bytes += broker_.buffered_bytes(s);
      msgs += broker_.buffered_msgs(s);
      max_backlog_age_ = std::max(max_backlog_age_, broker_.backlog_age(s));
    }
    peak_bytes_ = std::max(peak_bytes_, bytes);
    peak_msgs_ = std::max(peak_msgs_, msgs);
    if (drain_open_ && broker_.caught_up()) {
      drains_.back().drained_after_s = now() - drains_.back().up_at_s;
      drain_open_ = false;
    }
  }

  void sample() {
    const auto k = static_cast<std::size_t>(std::llround(now() / sample_period_)) - 1;
    std::uint64_t bytes = 0, msgs = 0, delivered = 0, dropped = 0;
    double age = 0;
    for (std::size_t s = 0; s < streams_.size(); ++s) {
      bytes += broker_.buffered_bytes(s);
      msgs += broker_.buffered_msgs(s);
      delivered += delivered_[s];
      dropped += broker_.stats(s).dropped_total();
      age = std::max(age, broker_.backlog_age(s));
    }
    for (const std::string& scope : {tpl_.name, std::string("fleet")}) {
      auto& smp = world_.sample(k, scope);
      smp.at_s = now();
      smp.buffered_bytes += bytes;
      smp.buffered_msgs += msgs;
      smp.max_site_bytes = std::max(smp.max_site_bytes, bytes);
      smp.max_backlog_age_s = std::max(smp.max_backlog_age_s, age);
      smp.sites_behind += broker_.caught_up() ? 0 : 1;
      smp.delivered += delivered;
      smp.dropped += dropped;
    }
    loop_.add_timer(sample_period_, [this] { sample(); });
  }

  // A disk stream loses at most what was produced within one sync interval before the crash; a memory stream at
  // most its buffer.
  void check_crash_loss(std::size_t s, std::uint64_t lost_now, std::uint64_t buffered_before) {
    const auto& c = broker_.stream_config(s);
    std::uint64_t bound = buffered_before;
    if (c.storage == agents::telemetry::Storage::disk) {
      bound = 0;
      if (c.fsync_interval_s > 0) {
        const auto& h = history_[s];
        std::uint64_t before = 0;  // produced up to the last tick at or before now - interval
        for (const auto& [t, cumulative] : h)
          if (t <= now() - c.fsync_interval_s - interval_) before = cumulative;
        bound = produced_[s] - before;
      }
    }
    if (lost_now > bound)
      violation("telemetry-crash-loss", "stream " + streams_[s] + " lost " + std::to_string(lost_now) +
                                            " messages in a crash, more than the " + std::to_string(bound) +
                                            " its storage allows");
  }

  static bool contains(const std::map<std::uint64_t, std::uint64_t>& set, std::uint64_t lo, std::uint64_t hi) {
    auto it = set.upper_bound(lo);
    if (it == set.begin()) return false;
    --it;
    return it->first <= lo && it->second >= hi;
  }
  static void insert(std::map<std::uint64_t, std::uint64_t>& set, std::uint64_t lo, std::uint64_t hi) {
    auto it = set.upper_bound(lo);
    if (it != set.begin()) {
      auto prev = std::prev(it);
      if (prev->second + 1 >= lo) {
        lo = prev->first;
        hi = std::max(hi, prev->second);
        it = set.erase(prev);
      }
    }
    while (it != set.end() && it->first <= hi + 1) {
      hi = std::max(hi, it->second);
      it = set.erase(it);
    }
    set.emplace(lo, hi);
  }
  static std::string fmt(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", v);
    return buf;
  }

  World& world_;
  std::size_t site_index_;
  const PlatformSite& site_;
  const SiteTemplate& tpl_;
  std::vector<std::string> streams_;
  models::RandomStream random_;
  agents::telemetry::Broker broker_;
  EventLoop loop_;
  sg4::Host* host_ = nullptr;
  std::size_t broker_node_ = 0;
  std::vector<Sensor> sensors_;
  std::vector<Gpu> gpus_;
  std::size_t inference_stream_ = 0;
  std::uint64_t results_pending_ = 0;
  std::vector<std::uint64_t> produced_, delivered_;
  std::vector<std::deque<std::pair<double, std::uint64_t>>> history_;  // disk streams with fsync: (t, produced)
  std::vector<std::map<std::uint64_t, std::uint64_t>> accepted_;       // per stream: seqs the cloud accepted
  std::function<bool()> path_up_;
  double ack_latency_ = 0;
  double interval_ = 10;
  double sample_period_ = 60;
  double last_tick_ = 0;
  double capacity_ = 0;
  double live_rate_ = 0;
  std::uint64_t duplicates_ = 0;
  std::uint64_t peak_bytes_ = 0, peak_msgs_ = 0;
  double max_backlog_age_ = 0;
  double last_send_ = -1;
  std::uint64_t last_wire_ = 0;
  DelayHistogram delays_;
  std::vector<reports::TelemetryDrain> drains_;
  bool drain_open_ = false;
};

agents::Release make_release(const Scenario& scenario, const std::string& app_name, const std::string& version) {
  agents::Release release;
  release.app = app_name;
  release.version = version;
  for (const auto& app : scenario.apps) {
    if (app.name != app_name) continue;
    const AppVersionSpec* v = app.find(version);
    for (const auto& layer : v->layers) release.layers.push_back({layer.digest, layer.size.count});
    release.start_s = v->start_time.seconds;
    release.ready_s = v->ready_time.seconds;
    release.requires = v->requires;
  }
  return release;
}

// The timeline: posts each action to the orchestrator for its time, then waits until every operation settled
// or max_time passes; then it stops every other actor's loop, which ends the simulation.
void run_admin(World& world, bool& hit_max_time) {
  world.admin_inbox->set_receiver(sg4::Actor::self());
  for (const auto& action : world.scenario.timeline) {
    auto envelope = std::make_shared<Envelope>();
    envelope->kind = Envelope::Kind::command;
    envelope->operation_name = action.name;
    agents::Command& c = envelope->command;
    c.kind = action.kind == ActionSpec::Kind::deploy ? agents::Command::Kind::deploy : agents::Command::Kind::rollout;
    c.release = make_release(world.scenario, action.app, action.version);
    c.selector = action.selector;
    c.node_deadline_s = action.node_deadline.seconds;
    c.abort_threshold_percent = action.abort_threshold_percent;
    c.abort_min_executed = action.abort_min_executed;
    c.abort_failure_type = action.abort_failure_type == "failed"      ? agents::Command::FailureType::failed
                           : action.abort_failure_type == "timed_out" ? agents::Command::FailureType::timed_out
                                                                      : agents::Command::FailureType::all;
    c.rollback =
        action.rollback == "revert_all" ? agents::Command::Rollback::revert_all : agents::Command::Rollback::none;
    if (action.strategy == "exponential") {
      c.strategy.kind = agents::Strategy::Kind::exponential;
      c.strategy.base_per_minute = action.base_per_minute;
      c.strategy.increment_factor = action.increment_factor;
      c.strategy.increase_after = action.increase_after;
      c.strategy.count_succeeded = action.count_succeeded;
      c.strategy.maximum_per_minute = action.maximum_per_minute;
    }
    if (action.strategy == "rolling") {
      c.strategy.kind = agents::Strategy::Kind::rolling;
      c.strategy.max_unavailable = action.max_unavailable;
      c.strategy.max_unavailable_percent = action.max_unavailable_percent;
      c.strategy.max_surge = action.max_surge;
      c.strategy.max_surge_percent = action.max_surge_percent;
    }
    if (action.strategy == "batches" || action.strategy == "canary") {
      c.strategy.kind = action.strategy == "canary" ? agents::Strategy::Kind::canary : agents::Strategy::Kind::batches;
      c.strategy.canary_size = action.canary_size;
      c.strategy.canary_percent = action.canary_percent;
      c.strategy.canary_selector = action.canary_selector;
      c.strategy.canary_time_s = action.canary_time.seconds;
      c.strategy.batch_size = action.batch_size;
      c.strategy.batch_percent = action.batch_percent;
      c.strategy.sites_in_parallel = action.sites_in_parallel;
      c.strategy.healthy_time_s = action.healthy_time.seconds;
    }
    Receiver* orchestrator = world.orchestrator;
    orchestrator->loop().post_at(action.at_s, [orchestrator, envelope] { orchestrator->receive(*envelope); });
  }
  const double max_time = world.scenario.simulation.max_time.seconds;
  if (!world.scenario.timeline.empty()) {
    try {
      std::unique_ptr<Envelope> done(
          world.admin_inbox->get<Envelope>(std::max(max_time - sg4::Engine::get_clock(), 0.0)));
    } catch (const simgrid::TimeoutException&) {
      hit_max_time = true;
      logger("sim")->warn("simulation.max_time ({}) reached before every operation finished",
                          models::format_duration(max_time));
    }
  }
  // A scenario may ask for a minimum duration (outage statistics, telemetry): run on until then.
  sg4::this_actor::sleep_until(std::min(world.scenario.simulation.duration.seconds, max_time));
  world.admin_inbox->set_receiver(nullptr);
  if (world.close_faults) world.close_faults();
  // Stop every actor's loop so that the simulation ends with no actor blocked.
  world.orchestrator->loop().stop();
  for (auto* node : world.nodes) node->loop().stop();
  for (auto* bus : world.buses)
    if (bus != nullptr) bus->loop().stop();
  if (world.states_loop != nullptr) world.states_loop->stop();
}

// Faults: resolves each fault's sites from the scenario (and the seed, for fractions), then turns the sites'
// uplinks off and on at the window edges. Windows may overlap: a site's uplink is up when no window covers it.
std::vector<reports::FaultWindow> resolve_faults(const World& world) {
  std::vector<reports::FaultWindow> windows;
  for (const auto& fault : world.scenario.faults) {
    reports::FaultWindow w{fault.name, fault.kind, fault.at_s, fault.at_s + fault.duration_s, fault.sites};
    w.factor = fault.factor;
    w.free_bytes = fault.free_bytes;
    if (fault.kind == "registry_outage") {
      w.sites = {"registry"};
    } else if (fault.kind == "orchestrator_restart") {
      w.sites = {"orchestrator"};
    } else if (fault.sites.empty()) {
      // Candidates: sites, or for node crashes the nodes of those sites.
      std::vector<std::string> candidates;
      for (const auto& site : world.platform.sites) {
        bool match = fault.site_template.empty() || site.site_template->name == fault.site_template;
        for (const auto& [k, v] : fault.selector) {
          auto it = site.site_template->labels.find(k);
          match = match && it != site.site_template->labels.end() && it->second == v;
        }
        if (!match) continue;
        if (fault.kind == "node_crash" || fault.kind == "disk_full")
          for (std::size_t node : world.site_nodes[site.index]) candidates.push_back(world.platform.nodes[node].name);
        else if (fault.kind == "gpu_failure")
          for (std::size_t node : world.site_nodes[site.index]) {
            if (world.platform.nodes[node].gpu != nullptr) candidates.push_back(world.platform.nodes[node].name);
          }
        else
          candidates.push_back(site.name);
      }
      if (candidates.empty())
        throw ScenarioError(fault.where + ": fault." + fault.kind + ": no " +
                            (fault.kind == "gpu_failure" ? "node with GPU inference" : "target") +
                            " matches its selection");
      auto k = static_cast<std::size_t>(std::llround(fault.fraction * static_cast<double>(candidates.size())));
      k = std::clamp<std::size_t>(k, 1, candidates.size());
      // A partial Fisher-Yates shuffle drawn from (seed, fault name): the same seed selects the same sites.
      models::RandomStream random(world.options.seed, "fault/" + fault.name, "sites");
      for (std::size_t i = 0; i < k; ++i) std::swap(candidates[i], candidates[i + random.below(candidates.size() - i)]);
      candidates.resize(k);
      std::sort(candidates.begin(), candidates.end());
      w.sites = std::move(candidates);
    }
    windows.push_back(std::move(w));
  }
  return windows;
}

// Injects faults: the scripted windows of the timeline and the random on/off outage processes of the site
// templates. A site's uplink is down while any window covers it. Runs its own event loop; stop_and_close() (from
// the timeline actor at the end of the run) ends every window still open at that instant.
class FaultInjector {
 public:
  FaultInjector(World& world, std::vector<reports::FaultWindow> scripted)
      : world_(world), windows_(std::move(scripted)), down_count_(world.platform.sites.size(), 0) {
    for (const auto& site : world_.platform.sites) site_by_name_[site.name] = &site;
    for (std::size_t i = 0; i < world_.platform.nodes.size(); ++i) node_by_name_[world_.platform.nodes[i].name] = i;
  }

  bool has_work() const {
    if (!windows_.empty()) return true;
    for (const auto& site : world_.platform.sites)
      if (site.site_template->outages.mtbf.seconds > 0) return true;
    return false;
  }

  void run() {
    // Ends are armed before starts, so that a window ending when another begins leaves no zero-length gap.
    const std::size_t scripted = windows_.size();
    open_.assign(scripted, false);
    const double now = sg4::Engine::get_clock();
    for (std::size_t w = 0; w < scripted; ++w) loop_.add_timer(windows_[w].end_s - now, [this, w] { close(w); });
    for (std::size_t w = 0; w < scripted; ++w) loop_.add_timer(windows_[w].start_s - now, [this, w] { open(w); });
    for (const auto& site : world_.platform.sites) {
      const OutageSpec& outages = site.site_template->outages;
      if (!(outages.mtbf.seconds > 0)) continue;
      streams_.emplace(site.index, models::RandomStream(world_.options.seed, site.name, "outages"));
      schedule_next_outage(site);
    }
    loop_.run();
  }

  void stop_and_close() {
    for (std::size_t w = 0; w < windows_.size(); ++w)
      if (w < open_.size() && open_[w]) {
        windows_[w].end_s = sg4::Engine::get_clock();
        close(w);
      }
    loop_.stop();
  }

  const std::vector<reports::FaultWindow>& windows() const { return windows_; }

 private:
  static double draw(models::RandomStream& random, const OutageSpec& spec, double mean) {
    if (spec.distribution == "weibull") return random.weibull(spec.shape, mean / std::tgamma(1.0 + 1.0 / spec.shape));
    return random.exponential(mean);
  }

  void schedule_next_outage(const PlatformSite& site) {
    const OutageSpec& spec = site.site_template->outages;
    auto& random = streams_.at(site.index);
    const double up = draw(random, spec, spec.mtbf.seconds);
    const double down = draw(random, spec, spec.mttr.seconds);
    const PlatformSite* s = &site;
    loop_.add_timer(up, [this, s, down] {
      const double now = sg4::Engine::get_clock();
      windows_.push_back({"outages:" + s->site_template->name, "random", now, now + down, {s->name}});
      open_.push_back(false);
      const std::size_t w = windows_.size() - 1;
      open(w);
      loop_.add_timer(down, [this, s, w] {
        close(w);
        schedule_next_outage(*s);
      });
    });
  }

  void open(std::size_t w) {
    open_[w] = true;
    const auto& window = windows_[w];
    for (const auto& name : window.sites) {
      if (window.kind == "orchestrator_restart") {
        world_.orchestrator->crash();
      } else if (window.kind == "node_crash") {
        const std::size_t node = node_by_name_.at(name);
        world_.nodes[node]->crash();
        if (SiteBus* bus = bus_on(node)) bus->crash();
      } else if (window.kind == "gpu_failure") {
        const std::size_t node = node_by_name_.at(name);
        if (gpu_down_[node]++ == 0) world_.buses[world_.platform.nodes[node].site_index]->gpu_changed(node, true);
      } else if (window.kind == "disk_full") {
        world_.nodes[node_by_name_.at(name)]->fill_disk(window.free_bytes);
      } else if (window.kind == "registry_outage") {
        if (registry_down_++ == 0) {
          for (auto* node : world_.nodes) node->before_uplink_down();
          world_.registry_egress_up->turn_off();
          world_.registry_egress_down->turn_off();
        }
      } else if (window.kind == "degrade") {
        const PlatformSite* site = site_by_name_.at(name);
        degrade_[site->index] *= window.factor;
        apply_bandwidth(*site);
      } else {
        const PlatformSite* site = site_by_name_.at(name);
        if (down_count_[site->index]++ == 0) {
          for (std::size_t node : world_.site_nodes[site->index]) world_.nodes[node]->before_uplink_down();
          site->uplink_down->turn_off();
          site->uplink_up->turn_off();
          if (SiteBus* bus = world_.buses[site->index]) bus->uplink_changed(false);
        }
      }
      world_.events.push_back({sg4::Engine::get_clock(), "fault.start", window.name, window.kind, name});
    }
    logger("faults")->debug("{} starts on {} target(s)", windows_[w].name, windows_[w].sites.size());
  }

  void close(std::size_t w) {
    if (!open_[w]) return;
    open_[w] = false;
    const auto& window = windows_[w];
    for (const auto& name : window.sites) {
      if (window.kind == "orchestrator_restart") {
        world_.orchestrator->boot();
      } else if (window.kind == "node_crash") {
        const std::size_t node = node_by_name_.at(name);
        world_.nodes[node]->boot();
        if (SiteBus* bus = bus_on(node)) bus->boot();
      } else if (window.kind == "gpu_failure") {
        const std::size_t node = node_by_name_.at(name);
        if (--gpu_down_[node] == 0) world_.buses[world_.platform.nodes[node].site_index]->gpu_changed(node, false);
      } else if (window.kind == "disk_full") {
        world_.nodes[node_by_name_.at(name)]->free_disk();
      } else if (window.kind == "registry_outage") {
        if (--registry_down_ == 0) {
          world_.registry_egress_up->turn_on();
          world_.registry_egress_down->turn_on();
        }
      } else if (window.kind == "degrade") {
        const PlatformSite* site = site_by_name_.at(name);
        degrade_[site->index] /= window.factor;
        apply_bandwidth(*site);
      } else {
        const PlatformSite* site = site_by_name_.at(name);
        if (--down_count_[site->index] == 0) {
          site->uplink_down->turn_on();
          site->uplink_up->turn_on();
          if (SiteBus* bus = world_.buses[site->index]) bus->uplink_changed(true);
        }
      }
      world_.events.push_back({sg4::Engine::get_clock(), "fault.end", window.name, window.kind, name});
    }
    logger("faults")->debug("{} ends on {} target(s)", windows_[w].name, windows_[w].sites.size());
  }

  // The bus whose broker runs on this node, if any.
  SiteBus* bus_on(std::size_t node) const {
    SiteBus* bus = world_.buses[world_.platform.nodes[node].site_index];
    return bus != nullptr && bus->broker_node() == node ? bus : nullptr;
  }

  // Degradations multiply: two overlapping windows at 0.5 leave a quarter of the bandwidth.
  void apply_bandwidth(const PlatformSite& site) {
    const double factor = degrade_[site.index];
    site.uplink_down->set_bandwidth(site.site_template->uplink_down.bytes_per_s * factor);
    site.uplink_up->set_bandwidth(site.site_template->uplink_up.bytes_per_s * factor);
  }

  World& world_;
  EventLoop loop_;
  std::vector<reports::FaultWindow> windows_;
  std::vector<bool> open_;
  std::vector<int> down_count_;  // per site index
  std::vector<double> degrade_ = std::vector<double>(world_.platform.sites.size(), 1.0);
  int registry_down_ = 0;
  std::vector<int> gpu_down_ = std::vector<int>(world_.platform.nodes.size(), 0);
  std::map<std::string, const PlatformSite*> site_by_name_;
  std::map<std::string, std::size_t> node_by_name_;
  std::map<std::size_t, models::RandomStream> streams_;  // per site index, for random outages
};

std::string fmt_double(double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", value);
  return buf;
}

std::optional<double> metric_value(const reports::RunResult& r, const std::string& metric) {
  if (metric == "fleet.registry_egress_bytes") return static_cast<double>(r.registry_egress_bytes);
  if (metric == "fleet.busiest_uplink_bytes") return static_cast<double>(r.busiest_uplink_bytes);
  if (metric == "fleet.bytes_wasted") return static_cast<double>(r.bytes_wasted);
  if (metric == "fleet.nodes_failed") return static_cast<double>(r.nodes_failed);
  if (metric == "fleet.nodes") return static_cast<double>(r.nodes);
  if (metric == "fleet.end_time") return r.end_time_s;
  if (metric == "fleet.crash_reports") return static_cast<double>(r.crash_reports);
  auto dot = metric.rfind('.');
  std::string name = metric.substr(0, dot);
  std::string field = metric.substr(dot + 1);
  if (const auto at = name.find('@'); at != std::string::npos) {  // <app>@<version>.node_time | nodes_at_end
    const std::string app = name.substr(0, at), version = name.substr(at + 1);
    if (field == "node_time") {
      auto a = r.node_time_s.find(app);
      if (a == r.node_time_s.end()) return 0.0;
      auto v = a->second.find(version);
      return v == a->second.end() ? 0.0 : v->second;
    }
    if (field == "nodes_at_end") {
      auto a = r.nodes_at_end.find(app);
      if (a == r.nodes_at_end.end()) return 0.0;
      auto v = a->second.find(version);
      return v == a->second.end() ? 0.0 : static_cast<double>(v->second);
    }
    return std::nullopt;
  }
  for (std::string family : {"telemetry.", "gpu."}) {
    if (name.rfind(family, 0) != 0) continue;
    const std::string scope = name.substr(family.size());
    for (const auto& g : r.telemetry) {
      if (g.scope != scope) continue;
      auto count = [](std::uint64_t v) { return std::optional<double>(static_cast<double>(v)); };
      if (field == "produced") return count(g.produced);
      if (field == "delivered") return count(g.delivered);
      if (field == "dropped") return count(g.dropped);
      if (field == "duplicates") return count(g.duplicates);
      if (field.rfind("dropped_", 0) == 0) {
        auto it = g.dropped_by_reason.find(field.substr(8));
        return it == g.dropped_by_reason.end() ? std::nullopt : count(it->second);
      }
      if (field == "loss_ppm")
        return g.produced
                   ? std::optional<double>(1e6 * static_cast<double>(g.dropped) / static_cast<double>(g.produced))
                   : std::optional<double>(0.0);
      if (field == "peak_buffer_bytes") return count(g.peak_buffer_bytes);
      if (field == "drain_p50") return g.drain_p50_s;
      if (field == "drain_max") return g.drain_max_s;
      if (field == "undrained") return count(g.undrained);
      if (field == "delay_p50") return g.delay_p50_s;
      if (field == "delay_p99") return g.delay_p99_s;
      if (field == "max_backlog_age") return g.max_backlog_age_s;
      if (field == "frames_arrived") return count(g.frames_arrived);
      if (field == "frames_processed") return count(g.frames_processed);
      if (field == "frames_dropped") return count(g.frames_dropped);
      if (field == "frames_lost_in_failure") return count(g.frames_lost_in_failure);
    }
    return std::nullopt;
  }
  for (std::size_t i = 0; i < r.operations.size(); ++i) {
    const auto& op = r.operations[i];
    if (op.name != name) continue;
    if (field.rfind("time_to_", 0) == 0) return op.time_to_pct.at(std::stoi(field.substr(8)));
    if (field == "duration")
      return op.finished_at_s ? std::optional<double>(*op.finished_at_s - op.started_at_s) : std::nullopt;
    if (field == "targeted") return static_cast<double>(op.targeted);
    if (field == "succeeded") return static_cast<double>(op.succeeded);
    if (field == "failed") return static_cast<double>(op.failed);
    if (field == "timed_out") return static_cast<double>(op.timed_out);
    if (field == "canceled") return static_cast<double>(op.canceled);
    if (field == "time_to_abort")
      return op.aborted_at_s ? std::optional<double>(*op.aborted_at_s - op.started_at_s) : std::nullopt;
    if (field == "bytes_pulled") {
      double total = 0;
      for (const auto& row : r.node_rows)
        if (row.per_operation[i].notified_s) total += static_cast<double>(row.bytes_pulled);
      return total;
    }
  }
  return std::nullopt;
}

// The abort rule fires within one check of its threshold being crossed, recomputed from the targets' own times:
// executed targets (succeeded, failed, timed out) in time order, a node that turned unhealthy counting first as a
// success and then as a failure. Simultaneous outcomes may be taken in any order: the abort must fall between the
// earliest and the latest crossing those orders allow.
void check_abort_timing(const Scenario& scenario, const reports::OperationResult& o, const agents::Operation& op,
                        std::vector<reports::InvariantViolation>& violations) {
  const ActionSpec* action = nullptr;
  for (const auto& a : scenario.timeline)
    if (a.name == o.name) action = &a;
  if (action == nullptr || !(action->abort_threshold_percent > 0)) return;
  struct Step {
    double t;
    int executed;
    int bad;
  };
  std::vector<Step> steps;
  for (const auto& target : op.targets) {
    const bool failed = target.outcome == agents::NodeOutcome::failed;
    const bool timed_out = target.outcome == agents::NodeOutcome::timed_out;
    const bool bad = action->abort_failure_type == "failed"      ? failed
                     : action->abort_failure_type == "timed_out" ? timed_out
                                                                 : failed || timed_out;
    if (target.succeeded_at >= 0) steps.push_back({target.succeeded_at, 1, 0});
    if (failed || timed_out) steps.push_back({target.finished_at, target.succeeded_at >= 0 ? 0 : 1, bad ? 1 : 0});
  }
  auto crossing = [&](bool failures_first) -> std::optional<double> {
    auto sorted = steps;
    std::stable_sort(sorted.begin(), sorted.end(), [&](const Step& a, const Step& b) {
      if (a.t != b.t) return a.t < b.t;
      return failures_first ? a.bad > b.bad : a.bad < b.bad;
    });
    double executed = 0, bad = 0;
    const double min_executed = static_cast<double>(std::max<std::uint64_t>(action->abort_min_executed, 1));
    for (const auto& step : sorted) {
      executed += step.executed;
      bad += step.bad;
      if (executed >= min_executed && 100.0 * bad >= action->abort_threshold_percent * executed) return step.t;
    }
    return std::nullopt;
  };
  auto early = crossing(true), late = crossing(false);
  if (early && op.finished_at && *early > *op.finished_at) early.reset();
  if (late && op.finished_at && *late > *op.finished_at) late.reset();
  if (!early && !o.aborted_at_s) return;
  const double latest = late ? *late : early ? *early : 0.0;
  if (early && (!o.aborted_at_s || *o.aborted_at_s + 1e-6 < *early || *o.aborted_at_s > latest + 1e-6))
    violations.push_back(
        {"abort-within-one-check",
         "operation " + o.name + ": the abort threshold was crossed at " + fmt_double(*early) + " s, the abort " +
             (o.aborted_at_s ? "fired at " + fmt_double(*o.aborted_at_s) + " s" : std::string("never fired")),
         *early});
  if (!early && o.aborted_at_s)
    violations.push_back({"abort-within-one-check",
                          "operation " + o.name + " aborted at " + fmt_double(*o.aborted_at_s) +
                              " s though its threshold was never crossed",
                          *o.aborted_at_s});
}

bool compare(double measured, const std::string& op, double expected) {
  if (op == "<") return measured < expected;
  if (op == "<=") return measured <= expected;
  if (op == ">") return measured > expected;
  if (op == ">=") return measured >= expected;
  if (op == "==") return measured == expected;
  return measured != expected;
}

}  // namespace

reports::RunResult run_scenario(const Scenario& scenario, const RunOptions& options) {
  // SimGrid reads its settings from the command line; fleetsim's defaults are documented in docs/ENGINE.md.
  std::map<std::string, std::string> cfg{
      {"network/model", scenario.simulation.network_model},
      {"surf/precision", fmt_double(scenario.simulation.precision_s)},
      {"network/crosstraffic", scenario.simulation.crosstraffic ? "1" : "0"},
      // SimGrid 3.32's default Lazy update mis-shares flows that leave their latency phase in the same round
      // (a flow's later links are not re-solved): Full is exact (docs/ENGINE.md).
      {"network/optim", "Full"},
  };
  cfg["fleetsim/control-messages"] = scenario.simulation.control_messages;  // recorded, not passed to SimGrid
  if (scenario.node_count() > 20000) {
    // Past ~30k actors the default guard pages exceed the kernel's map count (see docs/ENGINE.md).
    cfg["contexts/guard-size"] = "0";
    cfg["contexts/stack-size"] = "64";
  }
  for (const auto& [k, v] : scenario.simulation.simgrid_cfg) cfg[k] = v;
  for (const auto& kv : options.simgrid_cfg) {
    auto colon = kv.find(':');
    if (colon != std::string::npos) cfg[kv.substr(0, colon)] = kv.substr(colon + 1);
  }
  std::vector<std::string> args{"fleetsim"};
  args.push_back(options.verbosity >= 2 ? "--log=root.thresh:info" : "--log=root.thresh:warning");
  for (const auto& [k, v] : cfg)
    if (k.rfind("fleetsim/", 0) != 0) args.push_back("--cfg=" + k + ":" + v);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  int argc = static_cast<int>(argv.size());
  sg4::Engine engine(&argc, argv.data());

  World world(scenario, options);
  world.platform = build_platform(scenario);
  const std::size_t n = world.platform.nodes.size();
  world.node_bytes_pulled.assign(n, 0);
  world.node_bytes_wasted.assign(n, 0);
  world.site_uplink_bytes.assign(world.platform.sites.size(), 0);
  world.last_desired.resize(n);
  world.admin_inbox = sg4::Mailbox::by_name("admin");
  world.to_node.reserve(n);
  world.from_node.reserve(n);
  for (const auto& node : world.platform.nodes) {
    world.to_node.push_back(control_path(world.platform.orchestrator, node.host));
    world.from_node.push_back(control_path(node.host, world.platform.orchestrator));
  }

  std::vector<agents::NodeInfo> inventory;
  inventory.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& node = world.platform.nodes[i];
    agents::NodeInfo info{static_cast<agents::NodeId>(i),
                          node.name,
                          world.platform.sites[node.site_index].name,
                          node.site_template->labels,
                          {}};
    info.labels["site"] = info.site;
    info.labels["site_template"] = node.site_template->name;
    const HardwareSpec& hw = node.site_template->hardware;
    info.capacity["cpu"] = hw.cpu_cores;
    info.capacity["memory"] = static_cast<double>(hw.memory.count);
    info.capacity["gpu"] = hw.gpu ? hw.gpu->count : 0;
    info.capacity["gpu_memory"] = hw.gpu ? static_cast<double>(hw.gpu->memory.count) * hw.gpu->count : 0;
    inventory.push_back(std::move(info));
  }

  auto orchestrator = std::make_unique<SimOrchestrator>(world, std::move(inventory));
  std::vector<std::unique_ptr<SimNode>> nodes;
  nodes.reserve(n);
  for (std::size_t i = 0; i < n; ++i) nodes.push_back(std::make_unique<SimNode>(world, i));
  world.orchestrator = orchestrator.get();
  world.nodes.reserve(n);
  for (auto& node : nodes) world.nodes.push_back(node.get());
  world.timed_control = scenario.simulation.control_messages == "timed";
  world.registry_egress_up = world.platform.registry_egress_up;
  world.registry_egress_down = world.platform.registry_egress_down;
  world.site_nodes.resize(world.platform.sites.size());
  for (std::size_t i = 0; i < n; ++i) world.site_nodes[world.platform.nodes[i].site_index].push_back(i);

  std::vector<std::unique_ptr<SiteBus>> buses;
  world.buses.assign(world.platform.sites.size(), nullptr);
  for (const auto& site : world.platform.sites) world.bus_sites += site.site_template->bus ? 1 : 0;
  for (const auto& site : world.platform.sites) {
    if (!site.site_template->bus) continue;
    buses.push_back(std::make_unique<SiteBus>(world, site.index));
    world.buses[site.index] = buses.back().get();
  }

  sg4::Actor::create("orchestrator", world.platform.orchestrator, [&] { orchestrator->run(); });
  for (auto& bus : buses) {
    SiteBus* b = bus.get();
    sg4::Actor::create("bus", world.platform.nodes[b->broker_node()].host, [b] { b->run(); });
  }
  for (std::size_t i = 0; i < n; ++i) {
    SimNode* node = nodes[i].get();
    sg4::Actor::create("agent", world.platform.nodes[i].host, [node] { node->run(); });
  }
  std::vector<SimNode*> node_ptrs;
  for (auto& node : nodes) node_ptrs.push_back(node.get());
  StateSampler sampler(world, node_ptrs);
  if (!scenario.apps.empty()) {
    world.states_loop = &sampler.loop();
    sg4::Actor::create("states", world.platform.orchestrator, [&] { sampler.run(); });
  }
  bool hit_max_time = false;
  FaultInjector faults(world, resolve_faults(world));
  if (faults.has_work()) {
    world.close_faults = [&faults] { faults.stop_and_close(); };
    sg4::Actor::create("faults", world.platform.orchestrator, [&] { faults.run(); });
  }
  sg4::Actor::create("timeline", world.platform.orchestrator, [&] { run_admin(world, hit_max_time); });

  logger("sim")->info("seed {}; {} sites, {} nodes; engine {}", options.seed, world.platform.sites.size(), n, [&] {
    std::string s;
    for (const auto& [k, v] : cfg) s += (s.empty() ? "" : " ") + k + ":" + v;
    return s;
  }());
  engine.run();
  if (options.progress) {
    world.draw_progress(true);
    std::fprintf(stderr, "\r\033[K");
  }

  // ---- results ----
  reports::RunResult r;
  r.fleetsim_version = "0.1.0";
  r.scenario_file = scenario.file;
  r.scenario_name = scenario.name;
  r.seed = options.seed;
  r.overrides = scenario.overrides;
  r.engine_config = cfg;
  r.engine_config["simgrid_version"] =
      std::to_string(SIMGRID_VERSION_MAJOR) + "." + std::to_string(SIMGRID_VERSION_MINOR);
  r.sites = world.platform.sites.size();
  r.nodes = n;
  r.end_time_s = sg4::Engine::get_clock();
  r.hit_max_time = hit_max_time;
  r.registry_egress_bytes = world.registry_egress_bytes;
  r.faults = faults.windows();
  r.events = world.events;
  r.control_bytes = world.control_bytes;
  for (std::size_t s = 0; s < world.platform.sites.size(); ++s) {
    if (world.site_uplink_bytes[s] > r.busiest_uplink_bytes || r.busiest_uplink_site.empty()) {
      r.busiest_uplink_bytes = world.site_uplink_bytes[s];
      r.busiest_uplink_site = world.platform.sites[s].name;
    }
  }

  const auto& orch = orchestrator->orchestrator();
  r.node_rows.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    r.node_rows[i].node = world.platform.nodes[i].name;
    r.node_rows[i].site = world.platform.sites[world.platform.nodes[i].site_index].name;
    r.node_rows[i].bytes_pulled = world.node_bytes_pulled[i];
    r.node_rows[i].bytes_wasted = world.node_bytes_wasted[i];
    r.bytes_wasted += world.node_bytes_wasted[i];
  }
  std::vector<bool> node_failed(n, false);
  // Operations the orchestrator started by itself (rollbacks) are named after the one they roll back.
  std::map<std::uint32_t, std::string> names = orchestrator->names();
  for (const auto& op : orch.operations())
    if (op.rolled_back_by) names[*op.rolled_back_by] = names[op.id] + "_revert";
  for (const auto& op : orch.operations()) {
    reports::OperationResult o;
    o.name = names.at(op.id);
    if (op.aborted_at) o.aborted_at_s = *op.aborted_at;
    o.is_rollback = op.is_rollback;
    if (op.rolled_back_by) o.rolled_back_by = names.at(*op.rolled_back_by);
    o.kind = op.kind == agents::Command::Kind::deploy ? "deploy" : "rollout";
    o.app = op.app;
    o.revision = op.to_revision;
    o.version = op.version;
    o.strategy = "all_at_once";
    for (const auto& action : scenario.timeline)
      if (action.name == o.name) {
        o.version = action.version;
        o.strategy = action.strategy;
      }
    o.started_at_s = op.started_at;
    o.finished_at_s = op.finished_at;
    o.targeted = op.targets.size();
    o.succeeded = op.succeeded;
    o.failed = op.failed;
    o.timed_out = op.timed_out;
    o.canceled = op.canceled;
    for (const auto& [node, why] : op.unplaced) o.unplaced.push_back(world.platform.nodes[node].name + ": " + why);
    // Batches: record them, and check the gates on two paths: the orchestrator's own records, and the times
    // the nodes (not the orchestrator) saw their notification.
    for (std::size_t w = 0; w < op.wave_started_at.size(); ++w) {
      const std::size_t begin = op.wave_begin[w];
      const std::size_t end = w + 1 < op.wave_begin.size() ? op.wave_begin[w + 1] : op.targets.size();
      reports::OperationResult::Wave wave{end - begin, op.wave_started_at[w], std::nullopt};
      if (w < op.wave_completed_at.size()) wave.completed_s = op.wave_completed_at[w];
      o.waves.push_back(wave);
      if (w > 0 && op.wave_started_at[w] + 1e-9 < op.wave_completed_at[w - 1] + op.strategy.gate_after(w - 1))
        world.violations.push_back({"batch-starts-after-previous-gate",
                                    "operation " + o.name + ": batch " + std::to_string(w + 1) + " started at " +
                                        fmt_double(op.wave_started_at[w]) + " s, before the gate of batch " +
                                        std::to_string(w) + " passed",
                                    op.wave_started_at[w]});
      const auto& node_times = world.times_of(op.app, op.generation);
      for (std::size_t i = begin; i < end; ++i) {
        const auto& seen = node_times[op.targets[i].node].notified_s;
        if (seen && *seen + 1e-9 < op.wave_started_at[w])
          world.violations.push_back({"notified-only-in-its-batch",
                                      world.platform.nodes[op.targets[i].node].name + " was notified at " +
                                          fmt_double(*seen) + " s, before its batch started",
                                      *seen});
      }
    }
    auto& times = world.times_of(op.app, op.generation);
    std::vector<double> healthy;
    for (auto& row : r.node_rows) row.per_operation.emplace_back();
    for (const auto& target : op.targets) {
      reports::NodeTimes t = times[target.node];
      t.outcome = agents::to_string(target.outcome);
      t.detail = target.detail;
      if (t.healthy_s) healthy.push_back(*t.healthy_s - op.started_at);
      // A node is failed if its latest outcome that says something about it (not "canceled") is a failure.
      if (target.outcome != agents::NodeOutcome::canceled)
        node_failed[target.node] = target.outcome != agents::NodeOutcome::succeeded;
      r.node_rows[target.node].per_operation.back() = t;
    }
    std::sort(healthy.begin(), healthy.end());
    for (int p : kPercentiles) {
      // The time by which ceil(p% of targeted) nodes were healthy.
      auto need = static_cast<std::size_t>(std::ceil(static_cast<double>(o.targeted) * p / 100.0));
      if (need == 0 || need > healthy.size())
        o.time_to_pct[p] = need == 0 ? std::optional<double>(0.0) : std::nullopt;
      else
        o.time_to_pct[p] = healthy[need - 1];
    }
    if (op.terminal() != op.targets.size())
      world.violations.push_back({"terminal-states-account-for-every-target",
                                  "operation " + o.name + ": " + std::to_string(op.targets.size() - op.terminal()) +
                                      " of " + std::to_string(op.targets.size()) +
                                      " targeted nodes never reached a terminal state",
                                  r.end_time_s});
    // revert_all converges: every node the rollback targeted is back on the stable revision within its deadline.
    if (op.is_rollback && !hit_max_time)
      for (const auto& target : op.targets)
        if (target.outcome == agents::NodeOutcome::failed || target.outcome == agents::NodeOutcome::timed_out)
          world.violations.push_back({"revert-all-converges",
                                      world.platform.nodes[target.node].name + " did not return to revision " +
                                          std::to_string(op.to_revision) + " of " + op.app + " (" +
                                          agents::to_string(target.outcome) + ": " + target.detail + ")",
                                      target.finished_at});
    check_abort_timing(scenario, o, op, world.violations);
    // Rolling: in every site, never more nodes updating at once than its window.
    if (op.strategy.kind == agents::Strategy::Kind::rolling) {
      std::map<std::size_t, std::vector<std::pair<double, int>>> by_site;
      std::map<std::size_t, std::size_t> targets_in_site;
      for (const auto& target : op.targets) {
        const std::size_t site = world.platform.nodes[target.node].site_index;
        ++targets_in_site[site];
        if (target.notified_at < 0) continue;
        by_site[site].emplace_back(target.notified_at, 1);
        if (target.finished_at >= 0) by_site[site].emplace_back(target.finished_at, -1);
      }
      for (auto& [site, steps] : by_site) {
        std::sort(steps.begin(), steps.end());  // at equal times an end (-1) comes before a start (+1)
        const std::size_t window = op.strategy.rolling_window(targets_in_site[site]);
        long in_progress = 0;
        for (const auto& [t, delta] : steps) {
          in_progress += delta;
          if (in_progress > static_cast<long>(window)) {
            world.violations.push_back({"rolling-window-holds",
                                        "operation " + o.name + ": " + std::to_string(in_progress) + " nodes of " +
                                            world.platform.sites[site].name + " updating at once, window " +
                                            std::to_string(window),
                                        t});
            break;
          }
        }
      }
    }
    // Exponential rate: never faster than its maximum (notifications at least 60 / maximum_per_minute apart).
    if (op.strategy.kind == agents::Strategy::Kind::exponential && op.strategy.maximum_per_minute > 0) {
      std::vector<double> sent;
      for (const auto& target : op.targets)
        if (target.notified_at >= 0) sent.push_back(target.notified_at);
      std::sort(sent.begin(), sent.end());
      const double gap = 60.0 / op.strategy.maximum_per_minute;
      for (std::size_t i = 1; i < sent.size(); ++i)
        if (sent[i] - sent[i - 1] < gap - 1e-6) {
          world.violations.push_back({"rate-limit-holds",
                                      "operation " + o.name + ": two nodes notified " +
                                          fmt_double(sent[i] - sent[i - 1]) + " s apart, the maximum rate allows " +
                                          fmt_double(gap) + " s",
                                      sent[i]});
          break;
        }
    }
    r.operations.push_back(std::move(o));
  }
  r.nodes_failed = static_cast<std::size_t>(std::count(node_failed.begin(), node_failed.end(), true));

  // Versions: node time per version (exact, from state changes) and where every node ended.
  for (auto& node : nodes) node->flush_node_time();
  for (const auto& [key, seconds] : world.node_time) r.node_time_s[key.first][key.second] = seconds;
  for (const auto& app : scenario.apps)
    for (auto& node : nodes)
      if (const agents::Release* active = node->agent().active_release(app.name))
        ++r.nodes_at_end[app.name][active->version];
  r.crash_reports = world.crash_reports;
  r.states = std::move(world.states);

  // ---- telemetry ----
  if (!buses.empty()) {
    std::map<std::string, reports::TelemetryGroup> groups;
    std::map<std::string, DelayHistogram> delays;
    std::map<std::string, std::vector<double>> drain_times;
    std::map<std::string, std::vector<std::uint64_t>> peaks;
    std::vector<std::string> order;
    for (const auto& tpl : scenario.sites)
      if (tpl.bus) {
        order.push_back(tpl.name);
        groups[tpl.name].preset = tpl.bus->config.preset.empty() ? "custom" : tpl.bus->config.preset;
      }
    order.emplace_back("fleet");
    for (auto& bus : buses) {
      bus->check_end();
      reports::TelemetrySite site = bus->site_result();
      const std::uint64_t buffered = bus->buffered_msgs();
      auto queues = bus->frame_queues();
      for (const std::string& scope : {site.scope, std::string("fleet")}) {
        auto& g = groups[scope];
        g.scope = scope;
        ++g.sites;
        g.produced += site.produced;
        g.delivered += site.delivered;
        g.duplicates += site.duplicates;
        g.dropped += site.dropped;
        g.buffered_at_end += buffered;
        for (const auto& [reason, count] : site.dropped_by_reason) g.dropped_by_reason[reason] += count;
        g.peak_buffer_bytes = std::max(g.peak_buffer_bytes, site.peak_buffer_bytes);
        peaks[scope].push_back(site.peak_buffer_bytes);
        g.peak_buffer_msgs = std::max(g.peak_buffer_msgs, bus->peak_msgs());
        g.max_backlog_age_s = std::max(g.max_backlog_age_s, bus->max_backlog_age());
        if (site.live_bytes_per_s >= site.capacity_bytes_per_s) ++g.sites_never_drain;
        for (const auto& d : site.drains) {
          ++g.drains;
          if (d.drained_after_s)
            drain_times[scope].push_back(*d.drained_after_s);
          else
            ++g.undrained;
        }
        delays[scope].merge(bus->delays());
        for (const auto* q : queues) {
          g.frames_arrived += q->arrived();
          g.frames_processed += q->processed();
          g.frames_dropped += q->dropped_full();
          g.frames_lost_in_failure += q->lost_in_failure();
          g.peak_frame_queue = std::max(g.peak_frame_queue, q->peak());
        }
      }
      r.telemetry_sites.push_back(std::move(site));
    }
    for (const auto& scope : order) {
      auto& g = groups[scope];
      auto& times = drain_times[scope];
      std::sort(times.begin(), times.end());
      auto pct = [&](double p) -> std::optional<double> {
        if (times.empty()) return std::nullopt;
        auto need = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(times.size())));
        return times[std::clamp<std::size_t>(need, 1, times.size()) - 1];
      };
      auto& p = peaks[scope];
      std::sort(p.begin(), p.end());
      if (!p.empty()) {
        auto at = [&](double q) {
          auto need = static_cast<std::size_t>(std::ceil(q / 100.0 * static_cast<double>(p.size())));
          return p[std::clamp<std::size_t>(need, 1, p.size()) - 1];
        };
        g.peak_buffer_p50_bytes = at(50);
        g.peak_buffer_p99_bytes = at(99);
      }
      g.drain_p50_s = pct(50);
      g.drain_p99_s = pct(99);
      g.drain_max_s = pct(100);
      g.delay_p50_s = delays[scope].percentile(50);
      g.delay_p99_s = delays[scope].percentile(99);
      if (delays[scope].total > 0) g.delay_max_s = delays[scope].max;
      r.telemetry.push_back(g);
    }
    for (const auto& samples : world.telemetry_series)
      for (const auto& scope : order)
        if (auto it = samples.find(scope); it != samples.end()) r.telemetry_series.push_back(it->second);
  }
  r.violations = world.violations;

  for (const auto& e : scenario.expectations) {
    reports::ExpectationResult x;
    x.text = e.text;
    x.where = e.where;
    x.metric = e.metric;
    x.op = e.op;
    x.expected = e.value;
    auto unit = metric_unit(scenario, e.metric);
    x.unit = unit == MetricUnit::seconds ? "seconds" : unit == MetricUnit::bytes ? "bytes" : "count";
    x.measured = metric_value(r, e.metric);
    x.passed = x.measured && compare(*x.measured, e.op, e.value);
    r.expectations.push_back(std::move(x));
  }
  return r;
}

}  // namespace fleetsim::sim
