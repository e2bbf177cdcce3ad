#pragma once
// A plain reference for the sharing solver: weighted max-min fairness with bounds by progressive filling, written
// for clarity, not speed (every call re-solves everything), and a time-stepping simulator built on it that does
// what SimGrid's Full update does: re-solve at every event, move every flow by rate * elapsed time.

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>
#include <vector>

namespace fleetsim::testing::reference {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Flow {
  std::vector<int> links;  // every link the flow crosses
  double weight = 1;       // rate = level / weight
  double bound = kInf;     // rate <= bound
};

// Progressive filling: a common level rises for every unfrozen flow (flow f at rate level / w_f); a flow freezes
// when the level reaches its bound times its weight, or when one of its links is full, and then at the level at
// which that link filled.
inline std::vector<double> max_min(const std::vector<double>& capacity, const std::vector<Flow>& flows) {
  const std::size_t n = flows.size();
  std::vector<double> rate(n, 0);
  std::vector<bool> frozen(n, false);
  std::vector<bool> full(capacity.size(), false);
  std::size_t left = n;
  while (left > 0) {
    std::vector<double> used(capacity.size(), 0), share(capacity.size(), 0);
    for (std::size_t f = 0; f < n; ++f)
      for (int l : flows[f].links) {
        if (frozen[f])
          used[l] += rate[f];
        else
          share[l] += 1 / flows[f].weight;
      }
    double level = kInf;
    std::vector<double> link_level(capacity.size(), kInf);
    for (std::size_t l = 0; l < capacity.size(); ++l)
      if (!full[l] && share[l] > 0) {
        link_level[l] = std::max(0.0, capacity[l] - used[l]) / share[l];
        level = std::min(level, link_level[l]);
      }
    for (std::size_t f = 0; f < n; ++f)
      if (!frozen[f]) level = std::min(level, flows[f].bound * flows[f].weight);
    if (!std::isfinite(level)) throw std::logic_error("reference: a flow with neither a link nor a bound");
    const double tie = level * (1 + 1e-13);
    for (std::size_t f = 0; f < n; ++f)
      if (!frozen[f] && flows[f].bound * flows[f].weight <= tie) {
        rate[f] = flows[f].bound;
        frozen[f] = true;
        --left;
      }
    for (std::size_t l = 0; l < capacity.size(); ++l)
      if (!full[l] && link_level[l] <= tie) {
        full[l] = true;
        for (std::size_t f = 0; f < n; ++f)
          if (!frozen[f] &&
              std::find(flows[f].links.begin(), flows[f].links.end(), static_cast<int>(l)) != flows[f].links.end()) {
            rate[f] = level / flows[f].weight;
            frozen[f] = true;
            --left;
          }
      }
  }
  return rate;
}

// The same network, simulated the slow way.
class Simulator {
 public:
  struct Ended {
    double time;
    bool failed;
    double remaining;
  };

  Simulator(std::vector<double> capacity, std::vector<int> parent, bool bound_by_path_at_start = true)
      : capacity_(std::move(capacity)),
        parent_(std::move(parent)),
        on_(capacity_.size(), true),
        bound_by_path_(bound_by_path_at_start) {}

  // Same rules as the solver: bounded by the path's bandwidths at start (unless told otherwise); a flow fails at
  // once on a down path.
  void start(double now, int id, int leaf, double bytes, double weight, double bound, double latency) {
    advance(now);
    F f;
    for (int l = leaf; l >= 0; l = parent_[l]) {
      f.links.push_back(l);
      if (bound_by_path_) bound = std::min(bound, capacity_[l]);
    }
    f.weight = weight;
    f.bound = bound;
    f.remaining = bytes;
    f.activate_at = now + latency;
    for (int l : f.links)
      if (!on_[l]) {
        ended_[id] = {now, true, bytes};
        return;
      }
    flows_[id] = f;
    advance(now);
  }
  double cancel(double now, int id) {
    advance(now);
    auto it = flows_.find(id);
    if (it == flows_.end()) return 0;
    const double rem = it->second.remaining;
    flows_.erase(it);
    solve();
    return rem;
  }
  void set_bandwidth(double now, int link, double bw) {
    advance(now);
    capacity_[link] = bw;
    solve();
  }
  void turn_off(double now, int link) {
    advance(now);
    on_[link] = false;
    for (auto it = flows_.begin(); it != flows_.end();) {
      if (std::find(it->second.links.begin(), it->second.links.end(), link) != it->second.links.end()) {
        ended_[it->first] = {now, true, it->second.remaining};
        it = flows_.erase(it);
      } else {
        ++it;
      }
    }
    solve();
  }
  void turn_on(double now, int link) {
    advance(now);
    on_[link] = true;
  }

  double next_event_time() const {
    double t = kInf;
    for (const auto& [id, f] : flows_) {
      if (!f.active)
        t = std::min(t, f.activate_at);
      else if (f.rate > 0)
        t = std::min(t, now_ + f.remaining / f.rate);
    }
    return t;
  }

  void advance(double until) {
    for (;;) {
      // Activations within the time precision of `until` happen at `until` (SimGrid's latency rounding).
      double t = kInf;
      bool activation = false;
      for (const auto& [id, f] : flows_) {
        if (!f.active && f.activate_at - until < 1e-9 && std::min(f.activate_at, until) < t) {
          t = std::min(f.activate_at, until);
          activation = true;
        }
        if (f.active && f.rate > 0) {
          const double end = now_ + f.remaining / f.rate;
          if (end <= until && end < t) {
            t = end;
            activation = false;
          }
        }
      }
      if (!std::isfinite(t)) break;
      t = std::max(t, now_);
      move(t);
      if (activation) {
        for (auto& [id, f] : flows_)
          if (!f.active && f.activate_at - t < 1e-9) f.active = true;
      } else {
        // The flow that ends first; others ending within a relative 1e-12 of it end in their own steps.
        int first = -1;
        double best = kInf;
        for (const auto& [id, f] : flows_)
          if (f.active && f.rate > 0 && f.remaining / f.rate < best) {
            best = f.remaining / f.rate;
            first = id;
          }
        ended_[first] = {t, false, 0};
        flows_.erase(first);
      }
      solve();
    }
    move(std::max(now_, until));
  }

  double rate(int id) const {
    auto it = flows_.find(id);
    return it == flows_.end() ? 0 : it->second.rate;
  }
  double remaining(int id) const {
    auto it = flows_.find(id);
    return it == flows_.end() ? 0 : it->second.remaining;
  }
  bool running(int id) const { return flows_.count(id) != 0; }
  const std::map<int, Ended>& ended() const { return ended_; }
  double capacity(int link) const { return capacity_[link]; }

 private:
  struct F {
    std::vector<int> links;
    double weight = 1, bound = kInf, remaining = 0, activate_at = 0, rate = 0;
    bool active = false;
  };
  void move(double t) {
    const double dt = t - now_;
    if (dt > 0)
      for (auto& [id, f] : flows_)
        if (f.active) f.remaining = std::max(0.0, f.remaining - f.rate * dt);
    now_ = std::max(now_, t);
  }
  void solve() {
    std::vector<Flow> active;
    std::vector<int> ids;
    for (auto& [id, f] : flows_) {
      f.rate = 0;
      if (!f.active) continue;
      active.push_back({f.links, f.weight, f.bound});
      ids.push_back(id);
    }
    const auto rates = max_min(capacity_, active);
    for (std::size_t i = 0; i < ids.size(); ++i) flows_[ids[i]].rate = rates[i];
  }

  std::vector<double> capacity_;
  std::vector<int> parent_;
  std::vector<bool> on_;
  bool bound_by_path_;
  std::map<int, F> flows_;
  std::map<int, Ended> ended_;
  double now_ = 0;
};

}  // namespace fleetsim::testing::reference
