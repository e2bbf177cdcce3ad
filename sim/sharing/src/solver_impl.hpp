#pragma once
// The incremental max-min solver's state and algorithm (docs/SOLVER.md, "Design"), shared by solver.cpp (the
// public operations) and solver_check.cpp (the self-check). Internal: included by nothing outside src/.
//
// Vocabulary. Every flow f has a weight w (SimGrid's sharing penalty) and a bound b; its "level" is rate * w, and
// beta = b * w is its bound in level units. Weighted max-min fairness with bounds (what SimGrid's lmm::MaxMin
// computes) gives every flow the level min(beta, L_x for every link x of its path), where L_x is the level at which
// progressive filling saturates x. On a tree this is: level(x) = min(level(parent(x)), sigma(x)), sigma(x) being the
// level at which x's subtree alone would saturate x.
//
// State. A link is a *head* if it is a root or saturated below its parent's level (sigma(x) < level(parent)): it
// has its own level. Otherwise it is *linked*: it follows its parent's level. A head and the links linked to it
// (transitively) form a class: every uncapped flow in it runs at level(head) / w. A flow is *capped* when
// beta < level of its class: it runs at b and is set aside (absolute finish time in a global heap).
// For the linked subtree of every link x we keep, exactly (fixed-point sums):
//   A(x) = sum of b over capped flows + sum of bandwidth over heads hanging from the subtree,
//   W(x) = sum of 1/w over uncapped flows,
// so that the subtree's demand at level l is A + W * l, and a head's level solves A + W * l = bandwidth.
// Breakpoints (the next thing that changes when the level moves) are kept in heaps aggregated up the linked
// chains: smallest beta of an uncapped flow, largest beta of a capped one, smallest saturation level tau of a
// linked descendant, largest level of a head hanging from the subtree.
//
// Progress. Each head has a virtual clock V(t) = integral of its level; a linked link's clock is its parent's
// plus a constant offset. An uncapped flow entering with r bytes at V gets the finish tag V + r * w; it completes
// when its class's clock reaches the tag. Each head is in a global heap keyed by its next completion time.

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "exact_sum.hpp"
#include "fleetsim/sharing/solver.hpp"
#include "indexed_heap.hpp"

namespace fleetsim::sharing {

using detail::ExactSum;
using detail::IndexedHeap;
using detail::kNoPos;

namespace detail {

constexpr double kMaxminPrecision = 1e-5;  // SimGrid's maxmin/precision default (src/kernel/lmm/System.cpp)

struct FlowRec {
  LinkId leaf = kNone;
  FlowState state = FlowState::free;
  double bytes = 0;
  double w = 1;
  double b = kInfinity;
  double beta = kInfinity;
  double activate_at = 0;
  // uncapped: finish tag in the virtual clock of `leaf`; capped: absolute finish time.
  double tag = 0;
  std::uint32_t pos_beta = kNoPos;  // in leaf's beta_u (uncapped) or beta_c (capped)
  std::uint32_t pos_time = kNoPos;  // in leaf's finish (uncapped), capped_ or pending_
};

struct LinkRec {
  LinkId parent = kNone;
  std::vector<LinkId> children;
  double capacity = 0;
  bool on = true;
  bool head = true;
  double level = kInfinity;     // heads only
  double vbase = 0, tbase = 0;  // heads: V(t) = vbase + level * (t - tbase)
  double offset = 0;            // linked: V = V(parent) + offset
  ExactSum a, w;                // A and W of the linked subtree
  IndexedHeap<false> beta_u;    // direct uncapped flows by beta
  IndexedHeap<true> beta_c;     // direct capped flows by beta
  IndexedHeap<false> finish;    // direct uncapped flows by finish tag
  IndexedHeap<false> c_beta_u;  // linked children by their subtree's smallest uncapped beta
  IndexedHeap<true> c_beta_c;   // linked children by their subtree's largest capped beta
  IndexedHeap<false> c_tau;     // linked children by the smallest tau in their subtree (theirs included)
  IndexedHeap<false> c_key;     // linked children by their subtree's smallest finish tag, in this link's clock
  IndexedHeap<true> c_indep;    // every child: a head by its level, a linked one by its subtree's largest head level
  std::uint32_t p_beta_u = kNoPos, p_beta_c = kNoPos, p_tau = kNoPos, p_key = kNoPos, p_indep = kNoPos;
  std::uint32_t p_heads = kNoPos;  // in heads_ when a head with something to complete
  std::uint32_t mark = 0;
};

}  // namespace detail

using detail::FlowRec;
using detail::LinkRec;
using detail::kMaxminPrecision;

struct Solver::Impl {
  Options options;
  Stats stats;
  std::vector<LinkRec> links;
  std::vector<FlowRec> flows;
  std::vector<FlowId> free_flows;
  std::vector<Ended> ended;
  IndexedHeap<false> heads;    // heads by next completion time
  IndexedHeap<false> capped;   // capped flows by finish time
  IndexedHeap<false> pending;  // flows in their latency phase by activation time
  double now = 0;
  std::size_t live_flows = 0;
  std::uint32_t mark_epoch = 0;

  // Position accessors for the heaps.
  auto fpos_beta() {
    return [this](std::uint32_t id) -> std::uint32_t& { return flows[id].pos_beta; };
  }
  auto fpos_time() {
    return [this](std::uint32_t id) -> std::uint32_t& { return flows[id].pos_time; };
  }
  auto lpos_beta_u() {
    return [this](std::uint32_t id) -> std::uint32_t& { return links[id].p_beta_u; };
  }
  auto lpos_beta_c() {
    return [this](std::uint32_t id) -> std::uint32_t& { return links[id].p_beta_c; };
  }
  auto lpos_tau() {
    return [this](std::uint32_t id) -> std::uint32_t& { return links[id].p_tau; };
  }
  auto lpos_key() {
    return [this](std::uint32_t id) -> std::uint32_t& { return links[id].p_key; };
  }
  auto lpos_indep() {
    return [this](std::uint32_t id) -> std::uint32_t& { return links[id].p_indep; };
  }
  auto lpos_heads() {
    return [this](std::uint32_t id) -> std::uint32_t& { return links[id].p_heads; };
  }

  // ---- summaries ----
  static double inv(double w) { return 1.0 / w; }
  double min_beta_u(const LinkRec& x) const { return std::min(x.beta_u.top_key(), x.c_beta_u.top_key()); }
  double max_beta_c(const LinkRec& x) const { return std::max(x.beta_c.top_key(), x.c_beta_c.top_key()); }
  double min_key(const LinkRec& x) const { return std::min(x.finish.top_key(), x.c_key.top_key()); }
  // The level at which the linked subtree of x saturates x with its present classification.
  static double tau(const LinkRec& x) {
    const ExactSum slack = ExactSum::of(x.capacity) - x.a;
    if (x.w.is_zero()) return ExactSum() <= slack ? kInfinity : -kInfinity;
    return slack.value() / x.w.value();
  }
  static double tau_key(const LinkRec& x) { return std::min(tau(x), x.c_tau.top_key()); }

  LinkId head_of(LinkId x) const {
    while (!links[x].head) x = links[x].parent;
    return x;
  }
  double level_of(LinkId x) const { return links[head_of(x)].level; }
  static double head_clock(const LinkRec& h, double t) {
    return std::isfinite(h.level) ? h.vbase + h.level * (t - h.tbase) : h.vbase;
  }
  double vclock(LinkId x, double t) const {
    double off = 0;
    while (!links[x].head) {
      off += links[x].offset;
      x = links[x].parent;
    }
    return head_clock(links[x], t) + off;
  }

  // ---- keeping the aggregated heaps right ----
  void refresh_heads_entry(LinkId h) {
    LinkRec& x = links[h];
    double at = kInfinity;
    const double key = min_key(x);
    if (std::isfinite(key) && std::isfinite(x.level) && x.level > 0) at = x.tbase + (key - x.vbase) / x.level;
    if (std::isfinite(at))
      heads.set(x.p_heads, at, h, lpos_heads());
    else if (x.p_heads != kNoPos)
      heads.erase(x.p_heads, lpos_heads());
  }

  // After x's own heaps or aggregates changed: x's entries in its parent, and so on up to its head.
  void refresh_up(LinkId xid) {
    while (!links[xid].head) {
      const LinkRec& x = links[xid];
      LinkRec& p = links[x.parent];
      p.c_beta_u.update(x.p_beta_u, min_beta_u(x), lpos_beta_u());
      p.c_beta_c.update(x.p_beta_c, max_beta_c(x), lpos_beta_c());
      p.c_tau.update(x.p_tau, tau_key(x), lpos_tau());
      p.c_key.update(x.p_key, min_key(x) - x.offset, lpos_key());
      p.c_indep.update(x.p_indep, x.c_indep.top_key(), lpos_indep());
      xid = x.parent;
    }
    refresh_heads_entry(xid);
  }

  void add_aggregate(LinkId xid, const ExactSum& da, const ExactSum& dw) {
    LinkId y = xid;
    for (;;) {
      LinkRec& l = links[y];
      l.a += da;
      l.w += dw;
      if (l.head) {
        if (l.w.is_zero()) {  // nothing uncapped left in the class: restart its clock at 0 (precision)
          l.vbase = 0;
          l.tbase = now;
        }
        break;
      }
      y = l.parent;
    }
    refresh_up(xid);
  }

  // ---- flows ----
  double flow_remaining(const FlowRec& f, double t) const {
    switch (f.state) {
      case FlowState::pending:
        return f.bytes;
      case FlowState::uncapped:
        return std::max(0.0, (f.tag - vclock(f.leaf, t)) / f.w);
      case FlowState::capped:
        return std::max(0.0, (f.tag - t) * f.b);
      default:
        return 0;
    }
  }

  void place(FlowId id, double t, double rem) {
    FlowRec& f = flows[id];
    LinkRec& leaf = links[f.leaf];
    if (f.beta < level_of(f.leaf)) {
      f.state = FlowState::capped;
      f.tag = t + rem / f.b;
      leaf.beta_c.push(f.beta, id, fpos_beta());
      capped.push(f.tag, id, fpos_time());
      add_aggregate(f.leaf, ExactSum::of(f.b), ExactSum());
    } else {
      f.state = FlowState::uncapped;
      f.tag = vclock(f.leaf, t) + rem * f.w;
      leaf.beta_u.push(f.beta, id, fpos_beta());
      leaf.finish.push(f.tag, id, fpos_time());
      add_aggregate(f.leaf, ExactSum(), ExactSum::of(inv(f.w)));
    }
  }

  double unplace(FlowId id, double t) {
    FlowRec& f = flows[id];
    LinkRec& leaf = links[f.leaf];
    const double rem = flow_remaining(f, t);
    if (f.state == FlowState::capped) {
      leaf.beta_c.erase(f.pos_beta, fpos_beta());
      capped.erase(f.pos_time, fpos_time());
      add_aggregate(f.leaf, -ExactSum::of(f.b), ExactSum());
    } else {
      leaf.beta_u.erase(f.pos_beta, fpos_beta());
      leaf.finish.erase(f.pos_time, fpos_time());
      add_aggregate(f.leaf, ExactSum(), -ExactSum::of(inv(f.w)));
    }
    return rem;
  }

  void cap(FlowId id, double t) {
    ++stats.class_changes;
    const double rem = unplace(id, t);
    FlowRec& f = flows[id];
    f.state = FlowState::capped;
    f.tag = t + rem / f.b;
    links[f.leaf].beta_c.push(f.beta, id, fpos_beta());
    capped.push(f.tag, id, fpos_time());
    add_aggregate(f.leaf, ExactSum::of(f.b), ExactSum());
  }

  void uncap(FlowId id, double t) {
    ++stats.class_changes;
    const double rem = unplace(id, t);
    FlowRec& f = flows[id];
    f.state = FlowState::uncapped;
    f.tag = vclock(f.leaf, t) + rem * f.w;
    links[f.leaf].beta_u.push(f.beta, id, fpos_beta());
    links[f.leaf].finish.push(f.tag, id, fpos_time());
    add_aggregate(f.leaf, ExactSum(), ExactSum::of(inv(f.w)));
  }

  // ---- links changing class ----
  // A linked link saturates: it becomes a head at `level`.
  void detach(LinkId yid, double level, double t) {
    ++stats.class_changes;
    LinkRec& y = links[yid];
    const LinkId pid = y.parent;
    const double v = vclock(yid, t);
    LinkRec& p = links[pid];
    p.c_beta_u.erase(y.p_beta_u, lpos_beta_u());
    p.c_beta_c.erase(y.p_beta_c, lpos_beta_c());
    p.c_tau.erase(y.p_tau, lpos_tau());
    p.c_key.erase(y.p_key, lpos_key());
    y.head = true;
    y.level = level;
    if (!y.w.is_zero() && y.w.value() * level < kMaxminPrecision * y.capacity) ++stats.precision_hazards;
    y.vbase = y.w.is_zero() ? 0 : v;
    y.tbase = t;
    p.c_indep.update(y.p_indep, level, lpos_indep());
    add_aggregate(pid, ExactSum::of(y.capacity) - y.a, -y.w);
    refresh_heads_entry(yid);
  }

  // A head follows its parent's level again.
  void attach(LinkId yid, double t) {
    ++stats.class_changes;
    LinkRec& y = links[yid];
    const LinkId pid = y.parent;
    const double vp = vclock(pid, t);
    y.offset = y.w.is_zero() ? -vp : head_clock(y, t) - vp;
    if (y.p_heads != kNoPos) heads.erase(y.p_heads, lpos_heads());
    y.head = false;
    LinkRec& p = links[pid];
    p.c_beta_u.push(min_beta_u(y), yid, lpos_beta_u());
    p.c_beta_c.push(max_beta_c(y), yid, lpos_beta_c());
    p.c_tau.push(tau_key(y), yid, lpos_tau());
    p.c_key.push(min_key(y) - y.offset, yid, lpos_key());
    p.c_indep.update(y.p_indep, y.c_indep.top_key(), lpos_indep());
    add_aggregate(pid, y.a - ExactSum::of(y.capacity), y.w);
  }

  void set_level(LinkId hid, double level, double t) {
    LinkRec& h = links[hid];
    if (!h.w.is_zero() && h.w.value() * level < kMaxminPrecision * h.capacity) ++stats.precision_hazards;
    h.vbase = h.w.is_zero() ? 0 : head_clock(h, t);
    h.tbase = t;
    h.level = level;
    refresh_heads_entry(hid);
    if (h.parent != kNone) {
      links[h.parent].c_indep.update(h.p_indep, level, lpos_indep());
      refresh_up(h.parent);
    }
  }

  // ---- finding the item behind an aggregated key ----
  FlowId find_min_beta_u(LinkId x) const {
    for (;;) {
      const LinkRec& l = links[x];
      if (l.beta_u.top_key() <= l.c_beta_u.top_key()) return l.beta_u.top_id();
      x = l.c_beta_u.top_id();
    }
  }
  FlowId find_max_beta_c(LinkId x) const {
    for (;;) {
      const LinkRec& l = links[x];
      if (l.beta_c.top_key() >= l.c_beta_c.top_key()) return l.beta_c.top_id();
      x = l.c_beta_c.top_id();
    }
  }
  LinkId find_min_tau(LinkId x) const {
    for (;;) {
      const LinkId c = links[x].c_tau.top_id();
      if (tau(links[c]) <= links[c].c_tau.top_key()) return c;
      x = c;
    }
  }
  LinkId find_max_indep(LinkId x) const {
    for (;;) {
      const LinkId c = links[x].c_indep.top_id();
      if (links[c].head) return c;
      x = c;
    }
  }
  FlowId find_next_finish(LinkId x) const {
    for (;;) {
      const LinkRec& l = links[x];
      if (l.finish.top_key() <= l.c_key.top_key()) return l.finish.top_id();
      x = l.c_key.top_id();
    }
  }

  // ---- the level of a head ----
  // Moves the head's level from its present value to the solution of A + W * level = bandwidth, crossing the
  // breakpoints in between one at a time (each one a flow capped or uncapped, a link saturated or released).
  // Returns true if the head reached its parent's level and was attached to it.
  bool scan(LinkId hid, double t) {
    ++stats.scans;
    const bool root = links[hid].parent == kNone;
    const double k = root ? kInfinity : level_of(links[hid].parent);
    double lam = links[hid].level;
    auto slack_at = [&](double l) {
      const LinkRec& h = links[hid];
      const double s = (ExactSum::of(h.capacity) - h.a).value();
      return h.w.is_zero() ? s : s - h.w.value() * l;
    };
    const double s = slack_at(lam);
    if (s > 0) {  // the level rises
      for (;;) {
        const LinkRec& h = links[hid];
        const double lt = tau(h);
        const double lim = std::min(lt, k);
        const double bu = min_beta_u(h);
        const double bt = h.c_tau.top_key();
        const double bp = std::min(bu, bt);
        if (bp < lim) {
          lam = std::max(lam, bp);
          if (bu <= bt) {
            cap(find_min_beta_u(hid), t);
          } else {
            const LinkId y = find_min_tau(hid);
            detach(y, tau(links[y]), t);
          }
          continue;
        }
        lam = std::max(lam, lim);
        break;
      }
      if (!root && lam >= k) {
        attach(hid, t);
        return true;
      }
      set_level(hid, lam, t);
    } else if (s < 0) {  // the level falls
      for (;;) {
        const LinkRec& h = links[hid];
        const double lt = h.w.is_zero() ? -kInfinity : tau(h);
        const double bc = max_beta_c(h);
        const double bi = h.c_indep.top_key();
        const double bp = std::max(bc, bi);
        if (bp > lt) {
          lam = std::min(lam, bp);
          if (bc >= bi)
            uncap(find_max_beta_c(hid), t);
          else
            attach(find_max_indep(hid), t);
          continue;
        }
        lam = std::min(lam, lt);
        break;
      }
      if (!(lam >= 0)) lam = 0;  // only with a degenerate bandwidth (see docs/SOLVER.md)
      set_level(hid, lam, t);
    } else if (!root && lam >= k) {
      attach(hid, t);
      return true;
    }
    return false;
  }

  // Restores the invariants after the subtree of x changed (a flow came or left, a bandwidth changed): x and each
  // ancestor in turn, up to the first head whose demand on its parent did not change.
  void settle(LinkId x, double t, bool force_parent) {
    LinkId y = x;
    bool force = force_parent;
    while (y != kNone) {
      if (!links[y].head) {
        const double k = level_of(y);
        if (tau(links[y]) < k) {  // over its bandwidth at the present level: saturates below it
          detach(y, k, t);
          scan(y, t);
        }
        y = links[y].parent;
        force = false;
        continue;
      }
      const bool relinked = scan(y, t);
      if (!relinked && !force) break;
      y = links[y].parent;
      force = false;
    }
  }

  // ---- events ----
  FlowId new_flow() {
    if (!free_flows.empty()) {
      const FlowId id = free_flows.back();
      free_flows.pop_back();
      flows[id] = FlowRec{};
      return id;
    }
    flows.emplace_back();
    return static_cast<FlowId>(flows.size() - 1);
  }

  void finish(FlowId id, double t, bool failed, double rem) {
    flows[id].state = FlowState::ended;
    ended.push_back({id, t, failed, failed ? rem : 0.0});
    --live_flows;
  }

  void activate(FlowId id, double t) {
    ++stats.events;
    FlowRec& f = flows[id];
    pending.erase(f.pos_time, fpos_time());
    if (!(f.bytes > 0)) {
      finish(id, t, false, 0);
      return;
    }
    place(id, t, f.bytes);
    settle(f.leaf, t, false);
  }

  void complete(FlowId id, double t) {
    ++stats.events;
    const LinkId leaf = flows[id].leaf;
    unplace(id, t);
    finish(id, t, false, 0);
    settle(leaf, t, false);
  }

  bool path_on(LinkId x) const {
    for (; x != kNone; x = links[x].parent)
      if (!links[x].on) return false;
    return true;
  }

  void run_until(double t_end) {
    for (;;) {
      const double ta = pending.top_key();
      const double th = heads.top_key();
      const double tc = capped.top_key();
      const bool act_due = ta - t_end < options.time_precision;
      const double tfin = std::min(th, tc);
      const bool fin_due = tfin <= t_end;
      if (!act_due && !fin_due) break;
      if (act_due && (!fin_due || ta <= tfin)) {
        const double t = std::max(now, std::min(ta, t_end));
        now = t;
        activate(pending.top_id(), t);
      } else {
        const double t = std::max(now, tfin);
        now = t;
        complete(th <= tc ? find_next_finish(heads.top_id()) : capped.top_id(), t);
      }
    }
    now = std::max(now, t_end);
  }

  void check_time(double t) const {
    if (!(t >= now - 1e-12 * std::max(1.0, std::fabs(now))))
      throw std::invalid_argument("sharing: time went backwards (" + std::to_string(t) + " < " + std::to_string(now) +
                                  ")");
  }
};

}  // namespace fleetsim::sharing
