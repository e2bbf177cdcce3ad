// The public operations of fleetsim::sharing::Solver; the state and the algorithm are in solver_impl.hpp.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "solver_impl.hpp"

namespace fleetsim::sharing {

Solver::Solver(Options options) : impl_(std::make_unique<Impl>()) { impl_->options = options; }
Solver::~Solver() = default;

LinkId Solver::add_link(double bandwidth, LinkId parent) {
  if (!(bandwidth > 0)) throw std::invalid_argument("sharing: a link's bandwidth must be positive");
  auto& links = impl_->links;
  if (parent != kNone && parent >= links.size()) throw std::invalid_argument("sharing: unknown parent link");
  const auto id = static_cast<LinkId>(links.size());
  links.emplace_back();
  links[id].capacity = bandwidth;
  links[id].parent = parent;
  links[id].tbase = impl_->now;
  if (parent != kNone) {
    // A new link has no flows: it follows its parent.
    LinkRec& p = links[parent];
    p.children.push_back(id);
    links[id].head = false;
    p.c_beta_u.push(kInfinity, id, impl_->lpos_beta_u());
    p.c_beta_c.push(-kInfinity, id, impl_->lpos_beta_c());
    p.c_tau.push(kInfinity, id, impl_->lpos_tau());
    p.c_key.push(kInfinity, id, impl_->lpos_key());
    p.c_indep.push(-kInfinity, id, impl_->lpos_indep());
  }
  return id;
}

LinkId Solver::parent(LinkId link) const { return impl_->links.at(link).parent; }
double Solver::bandwidth(LinkId link) const { return impl_->links.at(link).capacity; }
bool Solver::is_on(LinkId link) const { return impl_->links.at(link).on; }

FlowId Solver::start(double now, const FlowSpec& spec) {
  Impl& s = *impl_;
  s.check_time(now);
  if (spec.leaf >= s.links.size()) throw std::invalid_argument("sharing: unknown leaf link");
  if (!(spec.weight > 0) || !std::isfinite(spec.weight)) throw std::invalid_argument("sharing: weight must be > 0");
  if (!(spec.bound > 0)) throw std::invalid_argument("sharing: bound must be > 0");
  if (!(spec.bytes >= 0) || !(spec.latency >= 0)) throw std::invalid_argument("sharing: negative bytes or latency");
  s.run_until(now);
  const FlowId id = s.new_flow();
  FlowRec& f = s.flows[id];
  f.leaf = spec.leaf;
  f.bytes = spec.bytes;
  f.w = spec.weight;
  f.b = spec.bound;
  if (s.options.bound_by_path_at_start)
    for (LinkId x = spec.leaf; x != kNone; x = s.links[x].parent) f.b = std::min(f.b, s.links[x].capacity);
  f.beta = f.b * f.w;
  ++s.live_flows;
  if (!s.path_on(spec.leaf)) {
    s.finish(id, now, true, spec.bytes);
    return id;
  }
  f.state = FlowState::pending;
  f.activate_at = now + spec.latency;
  s.pending.push(f.activate_at, id, s.fpos_time());
  s.run_until(now);  // a latency shorter than the time precision ends now
  return id;
}

double Solver::cancel(double now, FlowId id) {
  Impl& s = *impl_;
  s.check_time(now);
  s.run_until(now);
  FlowRec& f = s.flows.at(id);
  double rem = 0;
  if (f.state == FlowState::pending) {
    s.pending.erase(f.pos_time, s.fpos_time());
    rem = f.bytes;
  } else if (f.state == FlowState::uncapped || f.state == FlowState::capped) {
    ++s.stats.events;
    rem = s.unplace(id, now);
    s.settle(f.leaf, now, false);
  } else {
    return 0;
  }
  s.flows[id].state = FlowState::free;
  s.free_flows.push_back(id);
  --s.live_flows;
  return rem;
}

void Solver::set_bandwidth(double now, LinkId link, double bandwidth) {
  Impl& s = *impl_;
  if (!(bandwidth > 0)) throw std::invalid_argument("sharing: a link's bandwidth must be positive");
  s.check_time(now);
  s.run_until(now);
  ++s.stats.events;
  LinkRec& x = s.links.at(link);
  if (x.head && x.parent != kNone)  // a head weighs its bandwidth on its parent
    s.add_aggregate(x.parent, ExactSum::of(bandwidth) - ExactSum::of(x.capacity), ExactSum());
  x.capacity = bandwidth;
  if (!x.head) s.refresh_up(link);
  s.settle(link, now, true);
}

void Solver::turn_off(double now, LinkId link) {
  Impl& s = *impl_;
  s.check_time(now);
  s.run_until(now);
  LinkRec& x = s.links.at(link);
  if (!x.on) return;
  x.on = false;
  ++s.stats.events;
  // The subtree, parents before children.
  std::vector<LinkId> subtree{link};
  const std::uint32_t mark = ++s.mark_epoch;
  for (std::size_t i = 0; i < subtree.size(); ++i) {
    s.links[subtree[i]].mark = mark;
    for (LinkId c : s.links[subtree[i]].children) subtree.push_back(c);
  }
  std::vector<FlowId> failing;
  for (std::uint32_t i = 0; i < s.pending.size(); ++i)
    if (s.links[s.flows[s.pending.id_at(i)].leaf].mark == mark) failing.push_back(s.pending.id_at(i));
  std::sort(failing.begin(), failing.end());
  for (FlowId id : failing) {
    s.pending.erase(s.flows[id].pos_time, s.fpos_time());
    s.finish(id, now, true, s.flows[id].bytes);
  }
  failing.clear();
  for (LinkId y : subtree) {
    const LinkRec& l = s.links[y];
    for (std::uint32_t i = 0; i < l.beta_u.size(); ++i) failing.push_back(l.beta_u.id_at(i));
    for (std::uint32_t i = 0; i < l.beta_c.size(); ++i) failing.push_back(l.beta_c.id_at(i));
  }
  std::sort(failing.begin(), failing.end());
  for (FlowId id : failing) s.finish(id, now, true, s.unplace(id, now));
  // Every link of the subtree is empty now: it follows its parent again (children first).
  for (auto it = subtree.rbegin(); it != subtree.rend(); ++it)
    if (s.links[*it].head && s.links[*it].parent != kNone) s.attach(*it, now);
  if (s.links[link].parent == kNone)
    s.set_level(link, kInfinity, now);
  else
    s.settle(s.links[link].parent, now, false);
}

void Solver::turn_on(double now, LinkId link) {
  Impl& s = *impl_;
  s.check_time(now);
  s.run_until(now);
  s.links.at(link).on = true;
}

double Solver::next_event_time() const {
  const Impl& s = *impl_;
  return std::min({s.pending.top_key(), s.heads.top_key(), s.capped.top_key()});
}

void Solver::advance(double now) {
  impl_->check_time(now);
  impl_->run_until(now);
}

std::vector<Ended> Solver::take_ended() {
  std::vector<Ended> out;
  take_ended(out);
  return out;
}

void Solver::take_ended(std::vector<Ended>& out) {
  Impl& s = *impl_;
  out.clear();
  out.swap(s.ended);  // the two buffers trade places: neither is allocated again once both are grown
  for (const Ended& e : out) {
    s.flows[e.flow].state = FlowState::free;
    s.free_flows.push_back(e.flow);
  }
}

FlowState Solver::state(FlowId flow) const { return impl_->flows.at(flow).state; }
double Solver::remaining(double now, FlowId flow) const { return impl_->flow_remaining(impl_->flows.at(flow), now); }
double Solver::rate(FlowId flow) const {
  const FlowRec& f = impl_->flows.at(flow);
  if (f.state == FlowState::capped) return f.b;
  if (f.state != FlowState::uncapped) return 0;
  const double level = impl_->level_of(f.leaf);
  return std::isfinite(level) ? level / f.w : 0;
}
double Solver::effective_bound(FlowId flow) const { return impl_->flows.at(flow).b; }
std::size_t Solver::flow_count() const { return impl_->live_flows; }
const Stats& Solver::stats() const { return impl_->stats; }

}  // namespace fleetsim::sharing
