#include "fault_injector.hpp"

#include <algorithm>
#include <cmath>

#include "bulk_network.hpp"
#include "logging.hpp"

namespace fleetsim::sim {

namespace sg4 = simgrid::s4u;

namespace {

double draw(models::RandomStream& random, const OutageSpec& spec, double mean) {
  if (spec.distribution == "weibull") return random.weibull(spec.shape, mean / std::tgamma(1.0 + 1.0 / spec.shape));
  return random.exponential(mean);
}

}  // namespace

FaultInjector::FaultInjector(World& world, std::vector<reports::FaultWindow> scripted)
    : world_(world),
      windows_(std::move(scripted)),
      down_count_(world.platform.sites.size(), 0),
      degrade_(world.platform.sites.size(), 1.0),
      gpu_down_(world.platform.nodes.size(), 0) {
  for (const auto& site : world_.platform.sites) site_by_name_[site.name] = &site;
  for (std::size_t i = 0; i < world_.platform.nodes.size(); ++i) node_by_name_[world_.platform.nodes[i].name] = i;
}

bool FaultInjector::has_work() const {
  if (!windows_.empty()) return true;
  for (const auto& site : world_.platform.sites)
    if (site.site_template->outages.mtbf.seconds > 0) return true;
  return false;
}

void FaultInjector::run() {
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

void FaultInjector::stop_and_close() {
  for (std::size_t w = 0; w < windows_.size(); ++w)
    if (w < open_.size() && open_[w]) {
      windows_[w].end_s = sg4::Engine::get_clock();
      close(w);
    }
  loop_.stop();
}

std::vector<reports::FaultWindow> FaultInjector::injected() const {
  std::vector<reports::FaultWindow> out;
  for (std::size_t w = 0; w < windows_.size(); ++w)
    if (w < injected_.size() && injected_[w]) out.push_back(windows_[w]);
  return out;
}

std::vector<std::size_t> FaultInjector::never_injected() const {
  std::vector<std::size_t> out;
  for (std::size_t w = 0; w < world_.scenario.faults.size() && w < windows_.size(); ++w)
    if (w >= injected_.size() || !injected_[w]) out.push_back(w);
  return out;
}

void FaultInjector::schedule_next_outage(const PlatformSite& site) {
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

void FaultInjector::open(std::size_t w) {
  open_[w] = true;
  if (injected_.size() <= w) injected_.resize(w + 1, false);
  injected_[w] = true;
  const auto& window = windows_[w];
  for (const auto& name : window.sites) {
    apply(window, name, true);
    world_.events.push_back({sg4::Engine::get_clock(), "fault.start", window.name, window.kind, name});
  }
  logger("faults")->debug("{} starts on {} target(s)", windows_[w].name, windows_[w].sites.size());
}

void FaultInjector::close(std::size_t w) {
  if (!open_[w]) return;
  open_[w] = false;
  const auto& window = windows_[w];
  for (const auto& name : window.sites) {
    apply(window, name, false);
    world_.events.push_back({sg4::Engine::get_clock(), "fault.end", window.name, window.kind, name});
  }
  logger("faults")->debug("{} ends on {} target(s)", windows_[w].name, windows_[w].sites.size());
}

void FaultInjector::apply(const reports::FaultWindow& window, const std::string& target, bool on) {
  const std::string& kind = window.kind;
  if (kind == "orchestrator_restart") {
    on ? world_.orchestrator->crash() : world_.orchestrator->boot();
  } else if (kind == "node_crash") {
    const std::size_t node = node_by_name_.at(target);
    on ? world_.nodes[node]->crash() : world_.nodes[node]->boot();
    if (SiteBus* bus = bus_on(node)) on ? bus->crash() : bus->boot();
  } else if (kind == "gpu_failure") {
    const std::size_t node = node_by_name_.at(target);
    const bool changed = on ? gpu_down_[node]++ == 0 : --gpu_down_[node] == 0;
    if (changed) world_.buses[world_.platform.nodes[node].site_index]->gpu_changed(node, on);
  } else if (kind == "disk_full") {
    Receiver* node = world_.nodes[node_by_name_.at(target)];
    on ? node->fill_disk(window.free_bytes) : node->free_disk();
  } else if (kind == "registry_outage") {
    registry(on);
  } else if (kind == "degrade") {
    const PlatformSite* site = site_by_name_.at(target);
    if (on)
      degrade_[site->index] *= window.factor;
    else
      degrade_[site->index] /= window.factor;
    apply_bandwidth(*site);
  } else {
    uplink(*site_by_name_.at(target), on);
  }
}

// The registry's egress is down while any registry outage covers it.
void FaultInjector::registry(bool down) {
  if (down) {
    if (registry_down_++ != 0) return;
    for (auto* node : world_.nodes) node->before_uplink_down();
    world_.platform.registry_egress_up->turn_off();
    world_.platform.registry_egress_down->turn_off();
    links_changed({world_.platform.registry_egress_up, world_.platform.registry_egress_down});
  } else {
    if (--registry_down_ != 0) return;
    world_.platform.registry_egress_up->turn_on();
    world_.platform.registry_egress_down->turn_on();
    links_changed({world_.platform.registry_egress_up, world_.platform.registry_egress_down});
  }
}

// A site's uplink (both directions) is down while any window covers it.
void FaultInjector::uplink(const PlatformSite& site, bool down) {
  if (down) {
    if (down_count_[site.index]++ != 0) return;
    for (std::size_t node : world_.site_nodes[site.index]) world_.nodes[node]->before_uplink_down();
    site.uplink_down->turn_off();
    site.uplink_up->turn_off();
    links_changed({site.uplink_down, site.uplink_up});
  } else {
    if (--down_count_[site.index] != 0) return;
    site.uplink_down->turn_on();
    site.uplink_up->turn_on();
    links_changed({site.uplink_down, site.uplink_up});
  }
  if (SiteBus* bus = world_.buses[site.index]) bus->uplink_changed(!down);
}

// The bus whose broker runs on this node, if any.
SiteBus* FaultInjector::bus_on(std::size_t node) const {
  SiteBus* bus = world_.buses[world_.platform.nodes[node].site_index];
  return bus != nullptr && bus->broker_node() == node ? bus : nullptr;
}

// Degradations multiply: two overlapping windows at 0.5 leave a quarter of the bandwidth (of the payload rate).
void FaultInjector::apply_bandwidth(const PlatformSite& site) {
  const double factor = degrade_[site.index] * site.uplink_efficiency;
  site.uplink_down->set_bandwidth(site.site_template->uplink_down.bytes_per_s * factor);
  site.uplink_up->set_bandwidth(site.site_template->uplink_up.bytes_per_s * factor);
  links_changed({site.uplink_down, site.uplink_up});
}

// fleetsim's solver (World::bulk) mirrors SimGrid's links: it is told of every change a fault makes.
void FaultInjector::links_changed(std::initializer_list<const simgrid::s4u::Link*> links) {
  if (world_.bulk == nullptr) return;
  for (const auto* link : links) world_.bulk->link_changed(link);
}

}  // namespace fleetsim::sim
