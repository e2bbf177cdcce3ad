#include "solver_check.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "logging.hpp"

namespace fleetsim::sim {

namespace sg4 = simgrid::s4u;

namespace {

constexpr std::size_t kDetailed = 20;  // differences described one by one; the rest are counted

std::string seconds(double t) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.9g s", t);
  return buf;
}

std::string outcome(bool ok) { return ok ? "completes" : "fails"; }

}  // namespace

void SolverCheck::started(std::uint64_t handle, sg4::Host* src, sg4::Host* dst, double bytes, double now) {
  Pair p;
  p.route = src->get_name() + " -> " + dst->get_name();
  p.bytes = bytes;
  p.start = now;
  p.comm = sg4::Comm::sendto_init(src, dst);
  p.comm->set_payload_size(static_cast<std::uint64_t>(std::llround(bytes)));
  pairs_.emplace(handle, std::move(p));
}

void SolverCheck::launch(std::uint64_t handle) {
  auto it = pairs_.find(handle);
  if (it == pairs_.end()) return;
  sg4::CommPtr comm = it->second.comm;
  comm->start();  // a simcall: the other actors of this instant may run before it returns
  loop_.watch(comm, [this, handle](bool ok) { simgrid_ended(handle, ok); });
}

void SolverCheck::solver_ended(std::uint64_t handle, double at, bool ok) {
  auto it = pairs_.find(handle);
  if (it == pairs_.end()) return;
  Pair& p = it->second;
  p.solver_done = true;
  p.solver_ok = ok;
  p.solver_end = at;
  if (!p.simgrid_done) return;
  judge_ends(handle, p);
  pairs_.erase(it);
}

void SolverCheck::simgrid_ended(std::uint64_t handle, bool ok) {
  auto it = pairs_.find(handle);
  if (it == pairs_.end()) return;
  Pair& p = it->second;
  p.simgrid_done = true;
  p.simgrid_ok = ok;
  p.simgrid_end = sg4::Engine::get_clock();
  if (!p.solver_done) return;
  judge_ends(handle, p);
  pairs_.erase(it);
}

sg4::CommPtr SolverCheck::cancelled(std::uint64_t handle, double now, double remaining) {
  auto it = pairs_.find(handle);
  if (it == pairs_.end()) return nullptr;
  Pair& p = it->second;
  if (p.solver_done && p.simgrid_done) {
    judge_ends(handle, p);
  } else if (p.solver_done || p.simgrid_done) {
    judge_one_ended(handle, p, now);
  } else {
    // Both still moving: the same bytes left, within 1e-6 of the transfer's size (SimGrid's remains are those of its
    // last step, which is this instant under optim:Full).
    ++compared_;
    const double simgrid_remaining = p.comm->get_remaining();
    const double relative = std::abs(remaining - simgrid_remaining) / std::max(p.bytes, 1.0);
    largest_ = std::max(largest_, relative);
    if (relative > 1e-6)
      differ(now, relative,
             describe(handle, p) + ": cancelled at " + seconds(now) + " with " + std::to_string(remaining) +
                 " B left by fleetsim's solver, " + std::to_string(simgrid_remaining) + " B by SimGrid's LMM");
  }
  sg4::CommPtr comm = p.simgrid_done ? nullptr : p.comm;
  pairs_.erase(it);
  if (comm) loop_.unwatch(comm);
  return comm;
}

void SolverCheck::judge_ends(std::uint64_t handle, const Pair& p) {
  ++compared_;
  const double duration = std::max({p.solver_end - p.start, p.simgrid_end - p.start, 0.0});
  const double gap = std::abs(p.solver_end - p.simgrid_end);
  const double relative = duration > 0 ? gap / duration : gap;
  if (p.solver_ok == p.simgrid_ok) largest_ = std::max(largest_, relative);
  if (p.solver_ok != p.simgrid_ok || gap > tolerance(duration))
    differ(std::min(p.solver_end, p.simgrid_end), p.solver_ok != p.simgrid_ok ? 1.0 : relative,
           describe(handle, p) + ": fleetsim's solver " + outcome(p.solver_ok) + " it at " + seconds(p.solver_end) +
               ", SimGrid's LMM " + outcome(p.simgrid_ok) + " it at " + seconds(p.simgrid_end));
}

void SolverCheck::judge_one_ended(std::uint64_t handle, const Pair& p, double now) {
  ++compared_;
  const double end = p.solver_done ? p.solver_end : p.simgrid_end;
  const double duration = std::max(now - p.start, 0.0);
  if (now - end <= tolerance(duration)) return;  // the other ends at this instant too, a step later
  const double relative = duration > 0 ? (now - end) / duration : 1.0;
  largest_ = std::max(largest_, relative);
  const std::string ended = p.solver_done ? "fleetsim's solver" : "SimGrid's LMM";
  const std::string running = p.solver_done ? "SimGrid's LMM" : "fleetsim's solver";
  differ(end, relative,
         describe(handle, p) + ": " + ended + " " + outcome(p.solver_done ? p.solver_ok : p.simgrid_ok) + " it at " +
             seconds(end) + ", " + running + " still moved it at " + seconds(now));
}

std::vector<reports::InvariantViolation> SolverCheck::finish(double now) {
  std::vector<std::uint64_t> handles;
  for (const auto& [handle, p] : pairs_)
    if (p.solver_done != p.simgrid_done) handles.push_back(handle);
  std::sort(handles.begin(), handles.end());  // in start order: the report does not depend on the map's order
  for (auto handle : handles) judge_one_ended(handle, pairs_.at(handle), now);
  pairs_.clear();
  std::vector<reports::InvariantViolation> out = found_;
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.at_s < b.at_s; });
  if (differences_ > out.size())
    out.push_back({kInvariant,
                   std::to_string(differences_ - out.size()) + " more transfers differed (the first " +
                       std::to_string(kDetailed) + " are described)",
                   now});
  return out;
}

void SolverCheck::differ(double at, double relative, std::string detail) {
  ++differences_;
  largest_ = std::max(largest_, relative);
  if (found_.size() >= kDetailed) return;
  logger("invariants")->error("{}: {}", kInvariant, detail);
  found_.push_back({kInvariant, std::move(detail), at});
}

std::string SolverCheck::describe(std::uint64_t handle, const Pair& p) const {
  return "transfer " + std::to_string(handle >> 32) + " (" + p.route + ", " +
         std::to_string(static_cast<std::uint64_t>(std::llround(p.bytes))) + " B, started at " + seconds(p.start) + ")";
}

}  // namespace fleetsim::sim
