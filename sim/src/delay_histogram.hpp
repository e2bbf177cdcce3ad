// Delivery delays, in a histogram of 20 logarithmic bins per decade from 1 ms: percentiles without keeping a value
// per message. A percentile reads as its bin's upper edge (at most 12 % above the true value).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <cmath>
#include <optional>
#include <vector>

namespace fleetsim::sim {

struct DelayHistogram {
  static constexpr int kBins = 200;
  std::vector<double> weight = std::vector<double>(kBins, 0.0);
  double total = 0;
  double max = 0;
  void add(double delay_s, double count) {
    weight[static_cast<std::size_t>(bin_of(delay_s))] += count;
    total += count;
    max = std::max(max, delay_s);
  }
  // floor(20 · log10(delay / 1 ms)), clamped to the bins: a guess from the binary exponent and mantissa (within
  // one bin), corrected against the bins' edges. (std::log10 per call was a tenth of a telemetry-heavy run.)
  static const std::vector<double>& edges() {  // the lower edge of each bin, and the upper edge of the last
    static const std::vector<double> e = [] {
      std::vector<double> v(kBins + 1);
      for (int i = 0; i <= kBins; ++i) v[static_cast<std::size_t>(i)] = 1e-3 * std::pow(10.0, i / 20.0);
      return v;
    }();
    return e;
  }
  static int bin_of(double delay_s) {
    const std::vector<double>& edges = DelayHistogram::edges();
    if (!(delay_s >= edges[1])) return 0;  // below 1 ms, the first bin; NaN too
    if (delay_s >= edges[kBins - 1]) return kBins - 1;
    // log2(x) ~ exponent + (mantissa - 1), within 0.09, read from the bits of x (x >= 1 here)
    const double x = delay_s / 1e-3;
    std::uint64_t bits = 0;
    std::memcpy(&bits, &x, sizeof bits);
    const int exponent = static_cast<int>((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & 0xfffffffffffffULL) | 0x3ff0000000000000ULL;
    double mantissa = 0;  // in [1, 2)
    std::memcpy(&mantissa, &bits, sizeof mantissa);
    const double log2_guess = exponent + (mantissa - 1);
    int bin = std::clamp(static_cast<int>(20 * 0.30102999566398120 * log2_guess), 0, kBins - 1);
    while (bin + 1 < kBins && delay_s >= edges[static_cast<std::size_t>(bin + 1)]) ++bin;
    while (bin > 0 && delay_s < edges[static_cast<std::size_t>(bin)]) --bin;
    return bin;
  }
  // Adds n delays given in non-increasing order (a run's slices, oldest message first), with their counts: each
  // bin is found by walking down from the one before.
  void add_descending(const double* delays, const double* counts, std::size_t n) {
    if (n == 0) return;
    const std::vector<double>& e = edges();
    int bin = bin_of(delays[0]);
    max = std::max(max, delays[0]);
    for (std::size_t i = 0; i < n; ++i) {
      while (bin > 0 && delays[i] < e[static_cast<std::size_t>(bin)]) --bin;
      weight[static_cast<std::size_t>(bin)] += counts[i];
      total += counts[i];
    }
  }
  void merge(const DelayHistogram& other) {
    for (int i = 0; i < kBins; ++i) weight[static_cast<std::size_t>(i)] += other.weight[static_cast<std::size_t>(i)];
    total += other.total;
    max = std::max(max, other.max);
  }
  std::optional<double> percentile(double p) const {
    if (!(total > 0)) return std::nullopt;
    double seen = 0;
    for (int i = 0; i < kBins; ++i) {
      seen += weight[static_cast<std::size_t>(i)];
      if (seen >= p / 100.0 * total - 1e-9) return std::min(max, 1e-3 * std::pow(10.0, (i + 1) / 20.0));
    }
    return max;
  }
};

}  // namespace fleetsim::sim
