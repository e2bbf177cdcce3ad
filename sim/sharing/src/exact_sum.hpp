#pragma once
// Exact sums of doubles for the aggregates the solver adds to and subtracts from millions of times: each term is
// rounded once to a fixed-point number (64 fraction bits, in a 128-bit integer) and the sum of those is exact, so
// it never drifts, never depends on the order of operations, and is exactly 0 when every term has left.

#include <cmath>
#include <cstdint>
#include <stdexcept>

namespace fleetsim::sharing::detail {

__extension__ typedef __int128 Int128;  // NOLINT: a GCC/Clang extension, hence __extension__ for -Wpedantic

class ExactSum {
 public:
  static constexpr double kScale = 18446744073709551616.0;  // 2^64
  static constexpr double kMax = 4.6e18;                    // |term| < 2^62

  static ExactSum of(double x) {
    if (!(std::fabs(x) < kMax)) throw std::domain_error("sharing: value out of the exact-sum range");
    ExactSum s;
    s.v_ = static_cast<Int128>(x * kScale);  // exact scaling by 2^64, then truncation of what is below 2^-64
    return s;
  }
  double value() const { return static_cast<double>(v_) / kScale; }
  bool is_zero() const { return v_ == 0; }
  bool positive() const { return v_ > 0; }

  ExactSum& operator+=(const ExactSum& o) {
    v_ += o.v_;
    return *this;
  }
  ExactSum& operator-=(const ExactSum& o) {
    v_ -= o.v_;
    return *this;
  }
  friend ExactSum operator+(ExactSum a, const ExactSum& b) { return a += b; }
  friend ExactSum operator-(ExactSum a, const ExactSum& b) { return a -= b; }
  ExactSum operator-() const {
    ExactSum s;
    s.v_ = -v_;
    return s;
  }
  friend bool operator==(const ExactSum& a, const ExactSum& b) { return a.v_ == b.v_; }
  friend bool operator!=(const ExactSum& a, const ExactSum& b) { return a.v_ != b.v_; }
  friend bool operator<=(const ExactSum& a, const ExactSum& b) { return a.v_ <= b.v_; }

 private:
  Int128 v_ = 0;
};

}  // namespace fleetsim::sharing::detail
