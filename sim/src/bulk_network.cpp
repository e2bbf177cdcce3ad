#include "bulk_network.hpp"

#include <algorithm>
#include <stdexcept>

namespace fleetsim::sim {

namespace sg4 = simgrid::s4u;

namespace {

std::string value_of(const std::map<std::string, std::string>& cfg, const std::string& key) {
  auto it = cfg.find(key);
  return it == cfg.end() ? std::string() : it->second;
}

}  // namespace

std::optional<std::string> BulkNetwork::unsupported(const std::map<std::string, std::string>& cfg) {
  // docs/SOLVER.md §3.5: the solver reproduces CM02 under optim:Full without cross-traffic, with fleetsim's own
  // topology (bulk transfers only: control messages are timed deliveries).
  if (value_of(cfg, "network/model") != "CM02") return "network/model:" + value_of(cfg, "network/model");
  if (value_of(cfg, "network/crosstraffic") != "0") return "network/crosstraffic:" + value_of(cfg, "network/crosstraffic");
  if (value_of(cfg, "network/optim") != "Full") return "network/optim:" + value_of(cfg, "network/optim");
  if (value_of(cfg, "fleetsim/control-messages") != "timed") return "control_messages = \"network\"";
  for (const auto& [key, value] : cfg) {
    const bool network = key.rfind("network/", 0) == 0, maxmin = key.rfind("maxmin/", 0) == 0;
    if (maxmin || (network && key != "network/model" && key != "network/crosstraffic" && key != "network/optim" &&
                   key != "network/TCP-gamma"))
      return key + ":" + value;
  }
  return std::nullopt;
}

std::optional<std::string> BulkNetwork::unsupported(const Platform& platform,
                                                    const std::vector<sg4::Host*>& uploaders) {
  // On the FATPIPE ingest SimGrid gives each upload at most C · (smallest penalty) / (its penalty); the solver
  // counts the ingest as a bound on each upload, which is the same while no upload can reach that level.
  if (uploaders.empty()) return std::nullopt;
  const sg4::Link* ingest = nullptr;
  double min_latency = sharing::kInfinity, max_latency = 0, max_up = 0;
  for (sg4::Host* host : uploaders) {
    std::vector<sg4::Link*> links;
    double latency = 0;
    host->route_to(platform.ingest, links, &latency);
    min_latency = std::min(min_latency, latency);
    max_latency = std::max(max_latency, latency);
    for (const sg4::Link* link : links) {
      if (link->get_sharing_policy() == sg4::Link::SharingPolicy::FATPIPE)
        ingest = link;
      else
        max_up = std::max(max_up, link->get_bandwidth());
    }
  }
  if (ingest == nullptr || !(min_latency > 0)) return std::nullopt;
  if (max_up < ingest->get_bandwidth() * min_latency / max_latency) return std::nullopt;
  return "the telemetry ingest's bandwidth is not far enough above the sites' uplinks for its FATPIPE sharing to "
         "act as a bound (docs/SOLVER.md §3.4)";
}

BulkNetwork::BulkNetwork(const Platform& platform, double time_precision_s, double tcp_gamma_bytes, EventLoop& loop)
    : platform_(platform), time_precision_(time_precision_s), tcp_gamma_(tcp_gamma_bytes), solver_([&] {
        sharing::Options o;
        o.time_precision = time_precision_s;
        return o;
      }()), loop_(loop) {
  for (const auto& site : platform.sites) {
    site_links_.insert(site.uplink_down);
    site_links_.insert(site.uplink_up);
  }
}

// Where a link sits in fleetsim's trees: 0 the cloud's, 1 a site's uplink, 2 a node's port.
int BulkNetwork::rank(const sg4::Link* link) const {
  if (link == platform_.registry_egress_up || link == platform_.registry_egress_down) return 0;
  if (site_links_.count(link) != 0) return 1;
  return 2;
}

sharing::LinkId BulkNetwork::link_id(const sg4::Link* link, sharing::LinkId parent) {
  auto it = links_.find(link);
  if (it != links_.end()) {
    if (solver_.parent(it->second) != parent)
      throw std::logic_error("bulk network: link " + link->get_name() + " has two parents (routes are not a forest)");
    return it->second;
  }
  const sharing::LinkId id = solver_.add_link(link->get_bandwidth(), parent);
  if (!link->is_on()) solver_.turn_off(now(), id);
  links_.emplace(link, id);
  return id;
}

const BulkNetwork::Route& BulkNetwork::route(sg4::Host* src, sg4::Host* dst, bool private_leaf) {
  const std::pair<const sg4::Host*, const sg4::Host*> key{src, dst};
  auto it = routes_.find(key);
  if (it != routes_.end()) return it->second;
  std::vector<sg4::Link*> links;
  Route r;
  src->route_to(dst, links, &r.latency);
  // The tree's links from the cloud down; FATPIPE and private links bound the transfer instead (docs/SOLVER.md).
  std::vector<std::pair<int, const sg4::Link*>> tree;
  for (const sg4::Link* link : links) {
    const int level = rank(link);
    if (link->get_sharing_policy() == sg4::Link::SharingPolicy::FATPIPE || (private_leaf && level == 2))
      r.bound = std::min(r.bound, link->get_bandwidth());
    else
      tree.emplace_back(level, link);
  }
  std::stable_sort(tree.begin(), tree.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (std::size_t i = 1; i < tree.size(); ++i)
    if (tree[i].first == tree[i - 1].first)
      throw std::logic_error("bulk network: route " + src->get_name() + " -> " + dst->get_name() +
                             " crosses two links of one level");
  if (tree.empty())
    throw std::logic_error("bulk network: route " + src->get_name() + " -> " + dst->get_name() + " has no shared link");
  sharing::LinkId parent = sharing::kNone;
  for (const auto& [level, link] : tree) parent = link_id(link, parent);
  r.leaf = parent;
  // CM02: a flow is bounded by the TCP window over the round trip, gamma / (2 · latency).
  if (r.latency > 0 && tcp_gamma_ > 0) r.bound = std::min(r.bound, tcp_gamma_ / (2 * r.latency));
  return routes_.emplace(key, r).first->second;
}

double BulkNetwork::now() {
  last_now_ = std::max(last_now_, sg4::Engine::get_clock());
  return last_now_;
}

BulkNetwork::Handle BulkNetwork::start(sg4::Host* src, sg4::Host* dst, double bytes, EventLoop& owner, Done done,
                                       bool private_leaf) {
  const Route& r = route(src, dst, private_leaf);
  sharing::FlowSpec spec;
  spec.leaf = r.leaf;
  spec.bytes = bytes;
  spec.weight = r.latency > 0 ? r.latency : 1.0;  // CM02's sharing penalty (1 for a route without latency)
  spec.bound = r.bound;
  spec.latency = r.latency;
  const sharing::FlowId flow = solver_.start(now(), spec);
  std::uint32_t slot = 0;
  if (free_slots_.empty()) {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
  }
  const Handle handle = (next_handle_++ << 32) | slot;  // in start order, as hand_over_ended needs
  slots_[slot] = Slot{handle, Transfer{flow, &owner, std::move(done), false, 0}};
  if (handle_of_flow_.size() <= flow) handle_of_flow_.resize(flow + 1, 0);
  handle_of_flow_[flow] = handle;
  if (check_) check_->started(handle, src, dst, bytes, now());
  hand_over_ended();  // a path already down fails the transfer at once
  reschedule();
  if (check_) check_->launch(handle);
  return handle;
}

double BulkNetwork::cancel(Handle handle) {
  // Whatever ended before now is handed over first, so a transfer that completed at this instant is not cancelled.
  solver_.advance(now());
  hand_over_ended();
  Transfer* it = find(handle);
  if (it == nullptr) return 0;
  double remaining = it->remaining;
  if (!it->ended) {
    const sharing::FlowId flow = it->flow;
    remaining = solver_.cancel(now(), flow);
    handle_of_flow_[flow] = 0;
  }
  sg4::CommPtr shadow = check_ ? check_->cancelled(handle, now(), remaining) : nullptr;
  erase(handle);  // an end already posted finds nothing and does nothing
  hand_over_ended();
  reschedule();
  if (shadow) shadow->cancel();
  return remaining;
}

double BulkNetwork::remaining(Handle handle) {
  const Transfer* it = find(handle);
  if (it == nullptr) return 0;
  if (it->ended) return it->remaining;
  return solver_.remaining(std::max(last_now_, sg4::Engine::get_clock()), it->flow);
}

void BulkNetwork::link_changed(const sg4::Link* link) {
  auto it = links_.find(link);
  if (it == links_.end()) return;  // no transfer has used it yet: it is read as it is when one does
  const double t = now();
  const sharing::LinkId id = it->second;
  solver_.advance(t);
  if (link->is_on() != solver_.is_on(id)) {
    if (link->is_on())
      solver_.turn_on(t, id);
    else
      solver_.turn_off(t, id);
  }
  if (link->get_bandwidth() != solver_.bandwidth(id)) solver_.set_bandwidth(t, id, link->get_bandwidth());
  hand_over_ended();
  reschedule();
}

void BulkNetwork::hand_over_ended() {
  auto& ended = ended_scratch_;  // kept between calls: most calls find nothing, and the rest few
  ended.clear();
  solver_.take_ended(taken_);
  for (const sharing::Ended& e : taken_) {
    ended.emplace_back(e, handle_of_flow_[e.flow]);
    handle_of_flow_[e.flow] = 0;
  }
  // Ends at one instant go to their owners in the order the transfers started, as SimGrid hands them over (its
  // list of started actions); the solver's own order (flow ids, which are reused) would differ.
  std::stable_sort(ended.begin(), ended.end(),
                   [](const auto& a, const auto& b) { return a.first.time < b.first.time || (a.first.time == b.first.time && a.second < b.second); });
  for (const auto& entry : ended) {
    const sharing::Ended& e = entry.first;
    const Handle handle = entry.second;  // a plain variable: clang 14 cannot capture structured bindings
    Transfer* found = find(handle);
    if (found == nullptr) continue;
    Transfer& t = *found;
    t.flow = sharing::kNone;
    t.ended = true;
    t.remaining = e.failed ? e.remaining : 0;
    const bool ok = !e.failed;
    if (check_) check_->solver_ended(handle, e.time, ok);
    t.owner->post_at(e.time, [this, handle, ok] {
      Transfer* transfer = find(handle);
      if (transfer == nullptr) return;  // cancelled after its end
      Done done = std::move(transfer->done);
      const double remaining = transfer->remaining;
      erase(handle);
      done(ok, remaining);
    });
  }
}

BulkNetwork::Transfer* BulkNetwork::find(Handle handle) {
  const std::uint64_t slot = handle & 0xffffffffULL;
  return slot < slots_.size() && slots_[slot].handle == handle ? &slots_[slot].transfer : nullptr;
}

void BulkNetwork::erase(Handle handle) {
  const std::uint64_t slot = handle & 0xffffffffULL;
  slots_[slot] = Slot{};
  free_slots_.push_back(static_cast<std::uint32_t>(slot));
}

void BulkNetwork::reschedule() {
  const double next = solver_.next_event_time();
  if (!(next < scheduled_)) return;  // a later timer than needed fires, finds nothing due, and reschedules
  if (timer_ != 0) loop_.cancel_timer(timer_);
  scheduled_ = next;
  timer_ = loop_.post_at(next, [this] { on_timer(); });
}

void BulkNetwork::on_timer() {
  timer_ = 0;
  scheduled_ = sharing::kInfinity;
  solver_.advance(now());
  hand_over_ended();
  reschedule();
}

}  // namespace fleetsim::sim
