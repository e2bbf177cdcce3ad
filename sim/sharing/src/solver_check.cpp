// Solver::check_invariants: the solver recomputes its aggregates and classifications from scratch and compares.
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "solver_impl.hpp"

namespace fleetsim::sharing {

void Solver::check_invariants(double now) const {
  const Impl& s = *impl_;
  auto fail = [](const std::string& what) { throw std::logic_error("sharing invariant: " + what); };
  const std::size_t n = s.links.size();
  std::vector<ExactSum> a(n), w(n);
  // Aggregates from scratch, children before parents (a child's id is larger than its parent's).
  for (std::size_t i = n; i-- > 0;) {
    const LinkRec& l = s.links[i];
    for (std::uint32_t k = 0; k < l.beta_u.size(); ++k) w[i] += ExactSum::of(1.0 / s.flows[l.beta_u.id_at(k)].w);
    for (std::uint32_t k = 0; k < l.beta_c.size(); ++k) a[i] += ExactSum::of(s.flows[l.beta_c.id_at(k)].b);
    for (LinkId c : l.children) {
      if (s.links[c].head) {
        a[i] += ExactSum::of(s.links[c].capacity);
      } else {
        a[i] += a[c];
        w[i] += w[c];
      }
    }
    if (a[i] != l.a || w[i] != l.w) fail("aggregates of link " + std::to_string(i));
  }
  const double rel = 1e-9;
  for (std::size_t i = 0; i < n; ++i) {
    const LinkRec& l = s.links[i];
    const double level = s.level_of(static_cast<LinkId>(i));
    if (l.parent == kNone && !l.head) fail("a root is linked");
    if (l.head) {
      if (l.parent != kNone && !(l.level < s.level_of(l.parent) * (1 + rel)))
        fail("head " + std::to_string(i) + " above its parent's level");
      if (!l.w.is_zero()) {
        const double t = Impl::tau(l);
        if (std::fabs(t - l.level) > rel * std::max(std::fabs(t), 1e-300) + 1e-300)
          fail("head " + std::to_string(i) + " level " + std::to_string(l.level) + " != " + std::to_string(t));
      } else if (l.parent != kNone || std::isfinite(l.level)) {
        fail("head " + std::to_string(i) + " with nothing uncapped");
      }
    } else {
      const double t = Impl::tau(l);
      if (t < level * (1 - rel)) fail("linked link " + std::to_string(i) + " over its bandwidth");
    }
    for (std::uint32_t k = 0; k < l.beta_u.size(); ++k)
      if (s.flows[l.beta_u.id_at(k)].beta < level * (1 - rel)) fail("uncapped flow above its bound");
    for (std::uint32_t k = 0; k < l.beta_c.size(); ++k)
      if (s.flows[l.beta_c.id_at(k)].beta > level * (1 + rel)) fail("capped flow below its level");
  }
  (void)now;
}

}  // namespace fleetsim::sharing
