// Where the checkers put what they find: once per (invariant, node) for findings made while records arrive.
#pragma once

#include <cstdio>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "fleetsim/reports/run_result.hpp"

namespace fleetsim::checks {

class ViolationLog {
 public:
  // A finding about one node (or the broker node of a site): reported the first time only.
  void once(const std::string& invariant, std::size_t node, double at_s, const std::string& detail) {
    if (!keys_.insert({invariant, node}).second) return;
    add({invariant, detail, at_s});
  }
  // A finding of an end-of-run check: always reported.
  void add(reports::InvariantViolation violation) {
    violations_.push_back(std::move(violation));
    if (callback_) callback_(violations_.back());
  }
  void on_violation(std::function<void(const reports::InvariantViolation&)> callback) {
    callback_ = std::move(callback);
  }
  const std::vector<reports::InvariantViolation>& violations() const { return violations_; }

 private:
  std::vector<reports::InvariantViolation> violations_;
  std::set<std::pair<std::string, std::size_t>> keys_;
  std::function<void(const reports::InvariantViolation&)> callback_;
};

// Numbers in messages: "%g" for times, "%.3f" for the bus's seconds.
inline std::string format_g(double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", value);
  return buf;
}
inline std::string format_3f(double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", value);
  return buf;
}

}  // namespace fleetsim::checks
