#include "across_seeds.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>

namespace fleetsim::sim::across_seeds {

bool unreached_is_infinite(const std::string& metric) {
  const std::string field = metric.substr(metric.rfind('.') + 1);
  return field.rfind("time_to_", 0) == 0 || field == "duration";
}

std::optional<double> nearest_rank(std::vector<double> values, double p) {
  if (values.empty() || !(p > 0) || p > 100) return std::nullopt;
  std::sort(values.begin(), values.end());
  const auto n = static_cast<double>(values.size());
  // ceil(p/100 * n), computed so that p95 of 20 is exactly 19 despite 0.95 * 20 = 19.000000000000004.
  auto rank = static_cast<std::size_t>(std::ceil(p * n / 100.0 - 1e-9));
  rank = std::clamp<std::size_t>(rank, 1, values.size());
  return values[rank - 1];
}

std::optional<double> statistic(const std::string& stat, const std::vector<double>& values) {
  if (values.empty()) return std::nullopt;
  if (stat == "mean") return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  if (stat == "min") return *std::min_element(values.begin(), values.end());
  if (stat == "max") return *std::max_element(values.begin(), values.end());
  if (stat == "median") return nearest_rank(values, 50);
  if (stat.size() >= 2 && stat[0] == 'p' && stat.find_first_not_of("0123456789", 1) == std::string::npos) {
    const int p = std::atoi(stat.c_str() + 1);
    if (p >= 1 && p <= 100) return nearest_rank(values, p);
  }
  return std::nullopt;
}

double rank_sum_p_greater(const std::vector<double>& baseline, const std::vector<double>& current) {
  const std::size_t nb = baseline.size(), nc = current.size(), n = nb + nc;
  if (nb == 0 || nc == 0) return 1.0;
  // Pool, sort, and give each value twice its mid-rank (an integer: ranks of a tie group i..j average to (i+j)/2).
  std::vector<std::pair<double, bool>> pooled;  // value, from current
  for (double v : baseline) pooled.emplace_back(v, false);
  for (double v : current) pooled.emplace_back(v, true);
  std::sort(pooled.begin(), pooled.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<long> twice_rank(n);
  double tie_term = 0;  // sum of t^3 - t over tie groups
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j + 1 < n && pooled[j + 1].first == pooled[i].first) ++j;
    for (std::size_t k = i; k <= j; ++k) twice_rank[k] = static_cast<long>(i + 1 + j + 1);
    const auto t = static_cast<double>(j - i + 1);
    tie_term += t * t * t - t;
    i = j + 1;
  }
  long observed = 0;  // twice the rank sum of current
  for (std::size_t k = 0; k < n; ++k)
    if (pooled[k].second) observed += twice_rank[k];

  if (n <= 24) {
    // ways[c][s]: subsets of c of the values seen so far whose doubled ranks sum to s.
    const long max_sum = std::accumulate(twice_rank.begin(), twice_rank.end(), 0L);
    std::vector<std::vector<double>> ways(nc + 1, std::vector<double>(static_cast<std::size_t>(max_sum) + 1, 0.0));
    ways[0][0] = 1;
    for (std::size_t k = 0; k < n; ++k)
      for (std::size_t c = std::min(k + 1, nc); c >= 1; --c)
        for (long s = max_sum; s >= twice_rank[k]; --s)
          ways[c][static_cast<std::size_t>(s)] += ways[c - 1][static_cast<std::size_t>(s - twice_rank[k])];
    double at_least = 0, all = 0;
    for (long s = 0; s <= max_sum; ++s) {
      all += ways[nc][static_cast<std::size_t>(s)];
      if (s >= observed) at_least += ways[nc][static_cast<std::size_t>(s)];
    }
    return at_least / all;
  }
  const double u = static_cast<double>(observed) / 2.0 - static_cast<double>(nc * (nc + 1)) / 2.0;
  const double mean = static_cast<double>(nb * nc) / 2.0;
  const double nn = static_cast<double>(n);
  const double variance = static_cast<double>(nb * nc) / 12.0 * ((nn + 1) - tie_term / (nn * (nn - 1)));
  if (!(variance > 0)) return 1.0;  // every value equal: nothing tells the two apart
  const double z = (u - mean - 0.5) / std::sqrt(variance);
  return 0.5 * std::erfc(z / std::sqrt(2.0));
}

}  // namespace fleetsim::sim::across_seeds
