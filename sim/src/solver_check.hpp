// `--cfg fleetsim/check-solver:yes`: fleetsim's sharing solver and SimGrid's LMM side by side in one run, as a
// debugging aid (issue 11, docs/SOLVER.md "Checking a run against SimGrid's solver"). Every bulk transfer the solver
// moves is also started as a SimGrid communication between the same two hosts, of the same size, at the same instant:
// a shadow that changes nothing in the run (the run goes on by the solver's answers) but that SimGrid's own network
// model shares with every other shadow, on the same links, through the same faults. Each transfer is judged when
// both have ended (or when the run cancels it): the same outcome, ends within 1e-6 of the transfer's duration, the
// same bytes left at a cancel. A difference is a violation of "solver-agreement", which fails the run (exit code 1).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <simgrid/s4u.hpp>

#include "event_loop.hpp"
#include "fleetsim/reports/run_result.hpp"

namespace fleetsim::sim {

class SolverCheck {
 public:
  static constexpr const char* kInvariant = "solver-agreement";
  // Shadows are watched in `loop` (the bulk network's).
  SolverCheck(EventLoop& loop, double time_precision_s) : loop_(loop), time_precision_(time_precision_s) {}

  // A transfer the solver started: registered by started(), its shadow started by launch() once the bulk network
  // is done with its own work (starting a comm is a simcall, which lets the other actors of this instant run).
  void started(std::uint64_t handle, simgrid::s4u::Host* src, simgrid::s4u::Host* dst, double bytes, double now);
  void launch(std::uint64_t handle);
  // The solver's end of a transfer (ok = false: a link of its path went down).
  void solver_ended(std::uint64_t handle, double at, bool ok);
  // The run stopped a transfer at `now`, when the solver had `remaining` bytes of it left to move. Returns the
  // shadow for the caller to cancel once its own work is done (a cancel is a simcall), or null.
  simgrid::s4u::CommPtr cancelled(std::uint64_t handle, double now, double remaining);
  // At the end of the run: judges the transfers only one side ended. Returns what differed, in order of time.
  std::vector<reports::InvariantViolation> finish(double now);

  std::uint64_t compared() const { return compared_; }
  std::uint64_t differences() const { return differences_; }
  double largest_relative_difference() const { return largest_; }

 private:
  struct Pair {
    simgrid::s4u::CommPtr comm;
    std::string route;  // "src -> dst"
    double bytes = 0;
    double start = 0;
    bool solver_done = false, solver_ok = false;
    double solver_end = 0;
    bool simgrid_done = false, simgrid_ok = false;
    double simgrid_end = 0;
  };
  void simgrid_ended(std::uint64_t handle, bool ok);
  void judge_ends(std::uint64_t handle, const Pair& p);
  // One side ended at `ended_at`, the other was still moving at `now`.
  void judge_one_ended(std::uint64_t handle, const Pair& p, double now);
  double tolerance(double duration) const { return 1e-6 * duration + 10 * time_precision_; }
  void differ(double at, double relative, std::string detail);
  std::string describe(std::uint64_t handle, const Pair& p) const;

  EventLoop& loop_;
  double time_precision_;
  std::unordered_map<std::uint64_t, Pair> pairs_;
  std::vector<reports::InvariantViolation> found_;
  std::uint64_t compared_ = 0, differences_ = 0;
  double largest_ = 0;
};

}  // namespace fleetsim::sim
