#include "node_actor.hpp"

#include <algorithm>
#include <cmath>

#include "bulk_network.hpp"
#include "fleet_plan.hpp"
#include "logging.hpp"

namespace fleetsim::sim {

namespace sg4 = simgrid::s4u;
using agents::NodeAppState;

SimNode::SimNode(World& world, std::size_t index, EventLoop& loop)
    : world_(world),
      index_(index),
      node_(world.platform.nodes[index]),
      loop_(loop),
      random_(world.options.seed, node_.name, "agent"),
      agent_(make_config(), agents::NodeAgentPorts{*this, *this, *this, *this, *this, *this}),
      recorder_(index, [&world](const checks::Record& r) { world.record(r); }),
      connections_(node_.site_template->agent.connect_rtts, node_.site_template->agent.keep_alive.seconds) {}

void SimNode::start() { agent_.start(); }

agents::Time SimNode::now() const { return sg4::Engine::get_clock(); }

void SimNode::receive(const Envelope& envelope) {
  if (envelope.kind != Envelope::Kind::message) return;
  if (down_) return;  // a powered-off node receives nothing
  if (const auto* desired = std::get_if<agents::DesiredState>(&envelope.message)) {
    account_control(envelope.message);
    auto& t = world_.times_of(desired->release.app, desired->generation)[index_];
    if (!t.notified_s) t.notified_s = now();
  }
  recorder_.message(now(), agent_, envelope.message, [&] { agent_.on_message(envelope.message); });
  after_agent();
}

agents::TimerId SimNode::set_timer(double delay_s) {
  auto id = std::make_shared<agents::TimerId>(0);
  *id = loop_.add_timer(delay_s, [this, id] {
    agent_timers_.erase(*id);
    agent_.on_timer(*id);
    after_agent();
  });
  agent_timers_.insert(*id);
  return *id;
}

void SimNode::cancel_timer(agents::TimerId id) {
  agent_timers_.erase(id);
  loop_.cancel_timer(id);
}

void SimNode::fill_disk(std::uint64_t free_bytes) {
  const std::uint64_t disk = node_.site_template->hardware.disk.count;
  agent_.set_disk_budget(std::min(disk, agent_.bytes_stored() + free_bytes));
}

void SimNode::free_disk() { agent_.set_disk_budget(node_.site_template->hardware.disk.count); }

void SimNode::send_failed(std::size_t /*node*/, const agents::Message& message) {
  if (down_) return;
  agent_.on_send_failed(message);
  after_agent();
}

void SimNode::crash() {
  loop_.post_at(sg4::Engine::get_clock(), [this] { power_off(); });
}

void SimNode::boot() {
  loop_.post_at(sg4::Engine::get_clock(), [this] { power_on(); });
}

void SimNode::power_off() {
  if (down_) return;
  down_ = true;
  recorder_.power(now(), agent_, false);
  // The agent learns what each transfer had received, as its disk holds it; then memory is lost.
  std::vector<std::pair<agents::TransferId, std::uint64_t>> cut;
  for (auto& [id, fetch] : fetches_)
    if (fetch.connecting) {
      drop_connecting(fetch);
      cut.emplace_back(id, 0);
    } else {
      cut.emplace_back(id, fetch.comm == nullptr ? received_of(fetch.bytes, world_.bulk->cancel(fetch.bulk))
                                                 : received_bytes(fetch));
    }
  connections_.close_all();
  for (auto& [id, fetch] : fetches_)  // the loop is the fleet's: only this node's transfers stop
    if (fetch.comm != nullptr) {
      loop_.unwatch(fetch.comm);
      fetch.comm->cancel();
    }
  fetches_.clear();
  slot_busy_.assign(slot_busy_.size(), false);
  slot_of_.clear();
  for (const auto& [id, received] : cut) {
    account_fetch(received);
    handed_fetch_result(id, agents::FetchResult{false, received, "power lost", {}});
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

void SimNode::power_on() {
  if (!down_) return;
  down_ = false;
  agent_.on_boot();
  recorder_.power(now(), agent_, true);
  after_agent();
}

void SimNode::send_to_orchestrator(const agents::Message& message) {
  if (down_) return;  // said while losing power: never sent
  if (const auto* status = std::get_if<agents::StatusReport>(&message)) record(*status);
  world_.send_to_orchestrator(index_, message);
}

// Under packet loss each transfer goes to a free download endpoint, whose link is the TCP throughput cap.
sg4::Host* SimNode::take_download_endpoint(agents::TransferId id) {
  for (std::size_t slot = 0; slot < node_.download_endpoints.size(); ++slot)
    if (slot_busy_.size() <= slot || !slot_busy_[slot]) {
      slot_busy_.resize(node_.download_endpoints.size(), false);
      slot_busy_[slot] = true;
      slot_of_[id] = slot;
      return node_.download_endpoints[slot];
    }
  return node_.host;
}

agents::TransferId SimNode::start_fetch(const agents::Layer& layer, std::uint64_t offset) {
  std::uint64_t bytes = layer.size_bytes > offset ? layer.size_bytes - offset : 0;
  agents::TransferId id = next_transfer_++;
  if (bytes == 0) {  // nothing left to move: answer at once, without a transfer
    loop_.add_timer(0, [this, id] {
      agent_.on_fetch_done(id, agents::FetchResult{true, 0, {}, {}});
      after_agent();
    });
    return id;
  }
  sg4::Host* endpoint = take_download_endpoint(id);
  logger("node")->debug("{}: transfer {} of {} bytes of {} from offset {}", node_.name, id, bytes, layer.digest,
                        offset);
  Fetch& fetch = fetches_.emplace(id, Fetch{nullptr, bytes, -1, 0, std::nullopt}).first->second;
  // The request's way to the registry, after a new connection's handshakes (docs/ENGINE.md, "Connection set-up").
  const double wait = connections_.open_request(now(), pull_rtt());
  if (wait > 0)
    fetch.connecting = loop_.add_timer(wait, [this, id, endpoint] { begin_transfer(id, endpoint); });
  else
    begin_transfer(id, endpoint);
  return id;
}

// The response: the layer's bytes from the registry, sharing the links with every other transfer.
void SimNode::begin_transfer(agents::TransferId id, sg4::Host* endpoint) {
  auto it = fetches_.find(id);
  if (it == fetches_.end()) return;
  Fetch& fetch = it->second;
  fetch.connecting.reset();
  if (world_.bulk != nullptr) {
    fetch.bulk = world_.bulk->start(
        world_.platform.registry, endpoint, static_cast<double>(fetch.bytes), loop_,
        [this, id](bool ok, double remaining) { bulk_fetch_done(id, ok, remaining); }, endpoint != node_.host);
    return;
  }
  fetch.comm = world_.sendto(world_.platform.registry, endpoint, fetch.bytes);
  loop_.watch(fetch.comm, [this, id](bool ok) { fetch_done(id, ok); });
}

double SimNode::pull_rtt() {
  if (pull_rtt_s_ < 0) pull_rtt_s_ = 2 * control_path(world_.platform.registry, node_.host).latency_s;
  return pull_rtt_s_;
}

void SimNode::drop_connecting(Fetch& fetch) {
  loop_.cancel_timer(*fetch.connecting);
  fetch.connecting.reset();
}

void SimNode::cancel_fetch(agents::TransferId id) {
  auto it = fetches_.find(id);
  if (it == fetches_.end()) return;
  std::uint64_t received = 0;
  if (it->second.connecting) {
    drop_connecting(it->second);  // the client gives up the request and its connection
  } else if (it->second.comm == nullptr) {
    received = received_of(it->second.bytes, world_.bulk->cancel(it->second.bulk));
  } else {
    loop_.unwatch(it->second.comm);
    received = received_bytes(it->second);
    it->second.comm->cancel();
  }
  account_fetch(received);
  fetches_.erase(it);
  release_slot(id);
}

// Release behaviour (on the hardware it applies to): a start crashes with its probability, drawn from (seed, node,
// release, start); a process that started exits fail_after later.
bool SimNode::crashes_on_start(const agents::Release& release, double& fail_after) {
  const StartBehaviour b =
      start_behaviour(world_.scenario, *node_.site_template, node_.name, release, world_.options.seed, starts_);
  fail_after = b.fail_after_s;
  return b.crashes;
}

void SimNode::start_container(const agents::Release& release) {
  const std::string app = release.app;
  stop_container(app);  // a start replaces any start still in progress
  double fail_after = 0;
  const bool crashes = crashes_on_start(release, fail_after);
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

void SimNode::stop_container(const std::string& app) {
  auto it = containers_.find(app);
  if (it != containers_.end()) {
    loop_.cancel_timer(it->second);
    containers_.erase(it);
  }
}

void SimNode::before_uplink_down() {
  for (auto& [id, fetch] : fetches_)
    if (fetch.comm != nullptr) fetch.remaining_before_fault = fetch.comm->get_remaining();
  // The cut closes every connection; a request still on its way is lost, and fails as its transfer would have.
  connections_.close_all();  // (the idle ones)
  for (auto& [id, fetch] : fetches_)
    if (fetch.connecting) {
      drop_connecting(fetch);
      fetch.remaining_before_fault = static_cast<double>(fetch.bytes);
      loop_.add_timer(0, [this, id = id] { fetch_done(id, false); });
    }
}

std::function<bool()> SimNode::path_to_cloud_up() const {
  const PlatformSite* site = &world_.platform.sites[node_.site_index];
  return [site] { return site->uplink_down->is_on() && site->uplink_up->is_on(); };
}

agents::NodeAgentConfig SimNode::make_config() const {
  return make_agent_config(*node_.site_template, static_cast<agents::NodeId>(index_));
}

std::uint64_t SimNode::received_of(std::uint64_t bytes, double remaining) {
  if (!(remaining > 0)) return bytes;
  auto left = static_cast<std::uint64_t>(std::llround(remaining));
  return left >= bytes ? 0 : bytes - left;
}

double SimNode::pull_bytes_arrived_in_flight() const {
  double arrived = 0;
  for (const auto& entry : fetches_) {
    const Fetch& f = entry.second;
    if (f.connecting) continue;  // nothing has arrived before the response starts
    const double remaining = f.remaining_before_fault >= 0 ? f.remaining_before_fault
                             : f.comm != nullptr          ? f.comm->get_remaining()
                                                          : world_.bulk->remaining(f.bulk);
    arrived += static_cast<double>(received_of(f.bytes, remaining));
  }
  return arrived;
}

std::uint64_t SimNode::received_bytes(const Fetch& f) {
  return received_of(f.bytes, f.remaining_before_fault >= 0 ? f.remaining_before_fault : f.comm->get_remaining());
}

void SimNode::release_slot(agents::TransferId id) {
  auto it = slot_of_.find(id);
  if (it == slot_of_.end()) return;
  slot_busy_[it->second] = false;
  slot_of_.erase(it);
}

void SimNode::account_fetch(std::uint64_t bytes) {
  world_.registry_egress_bytes += bytes;
  world_.site_uplink_bytes[node_.site_index] += bytes;
  world_.site_down_bytes[node_.site_index] += bytes;
  world_.node_bytes_pulled[index_] += bytes;
}

void SimNode::account_control(const agents::Message& message) {
  std::uint64_t size = agents::wire_size(message);
  world_.control_bytes += size;
  world_.site_uplink_bytes[node_.site_index] += size;
  world_.site_down_bytes[node_.site_index] += size;
}

void SimNode::handed_fetch_result(agents::TransferId id, const agents::FetchResult& result) {
  const std::uint64_t wasted_before = agent_.bytes_wasted();
  agent_.on_fetch_done(id, result);
  world_.node_bytes_wasted[index_] += agent_.bytes_wasted() - wasted_before;
}

// A pull's end on fleetsim's solver: it says what the transfer still had to move.
void SimNode::bulk_fetch_done(agents::TransferId id, bool ok, double remaining) {
  auto it = fetches_.find(id);
  if (it == fetches_.end()) return;
  it->second.remaining_before_fault = ok ? 0 : remaining;
  fetch_done(id, ok);
}

void SimNode::fetch_done(agents::TransferId id, bool ok) {
  auto it = fetches_.find(id);
  if (it == fetches_.end()) return;
  // A transfer that failed without a snapshot started while its uplink was already down: nothing arrived.
  std::uint64_t received = ok                                      ? it->second.bytes
                           : it->second.remaining_before_fault < 0 ? 0
                                                                   : received_of(it->second.bytes,
                                                                                 it->second.remaining_before_fault);
  fetches_.erase(it);
  release_slot(id);
  account_fetch(received);
  if (ok) connections_.finish_request(now());
  logger("node")->debug("{}: transfer {} {} after {} bytes", node_.name, id, ok ? "done" : "FAILED", received);
  handed_fetch_result(id, agents::FetchResult{ok, received, ok ? std::string() : "connection lost during transfer", {}});
  after_agent();
}

void SimNode::record(const agents::StatusReport& status) {
  recorder_.status(now(), agent_, status);
  auto& t = world_.times_of(status.app, status.generation)[index_];
  switch (status.state) {
    case NodeAppState::accepted:
      break;
    case NodeAppState::downloaded:
      if (!t.downloaded_s) t.downloaded_s = now();
      break;
    case NodeAppState::healthy:
      if (!t.healthy_s) {
        t.healthy_s = now();
        world_.draw_progress();
      }
      break;
    case NodeAppState::unhealthy:
      ++world_.crash_reports;
      break;
    case NodeAppState::failed:
      logger("node")->warn("{} failed {} revision {}: {}", node_.name, status.app, status.revision, status.detail);
      break;
  }
}

// After every agent handler: the disk's use, and the node-time accounting of each app's active version.
void SimNode::after_agent() {
  record_disk();
  observe();
}

void SimNode::record_disk() {
  recorder_.disk(now(), agent_);
}

void SimNode::observe() {
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

void SimNode::flush_node_time() {
  const double now_s = sg4::Engine::get_clock();
  for (auto& [app, entry] : active_) {
    if (!entry.first.empty()) world_.node_time[{app, entry.first}] += now_s - entry.second;
    entry.second = now_s;
  }
}

std::pair<std::string_view, std::string_view> SimNode::state_of(const std::string& app) const {
  const agents::Release* r = agent_.active_release(app);
  const std::string_view version = r ? std::string_view(r->version) : std::string_view("-");
  if (down_) return {version, "down"};
  if (agent_.updating(app)) return {version, "updating"};
  if (r == nullptr) return {version, "none"};
  if (agent_.app_up(app)) return {version, "running"};
  return {version, agent_.crash_looping(app) ? "crashlooping" : "starting"};
}

}  // namespace fleetsim::sim
