// Delivery delays, in a histogram of 20 logarithmic bins per decade from 1 ms: percentiles without keeping a value
// per message. A percentile reads as its bin's upper edge (at most 12 % above the true value).
#pragma once

#include <algorithm>
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
    const double d = std::max(delay_s, 1e-3);
    const int bin = std::clamp(static_cast<int>(std::floor(20 * std::log10(d / 1e-3))), 0, kBins - 1);
    weight[static_cast<std::size_t>(bin)] += count;
    total += count;
    max = std::max(max, delay_s);
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
