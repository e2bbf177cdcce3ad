// Statistics across the seeds of a sweep point: the statistics expectations name (p95(upgrade.time_to_100)), and
// the rank test fleetsim compare uses to tell a change from the spread of seeds (docs/SWEEPS.md).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace fleetsim::sim::across_seeds {

// The p-th percentile (0 < p <= 100) of values by nearest rank: the smallest value with at least p % of the values
// at or below it (p95 of 20 values is the 19th smallest). values need not be sorted; empty: nullopt.
std::optional<double> nearest_rank(std::vector<double> values, double p);

// mean, median (= p50), min, max or pN of values (which may hold +infinity: a time never reached); nullopt for an
// unknown statistic or no values.
std::optional<double> statistic(const std::string& stat, const std::vector<double>& values);

// A time an operation never reached (a time_to_<p> or duration when a node never became healthy) is later than any
// bound: across seeds it counts as +infinity. Any other metric without a value (no drain without an outage) is not
// a value at all.
bool unreached_is_infinite(const std::string& metric);

// One-sided p-value of the Mann-Whitney U (Wilcoxon rank-sum) test that `current` tends to be larger than
// `baseline`: the probability, if both were drawn from one distribution, of a rank sum of `current` at least as
// large as the one seen. Ties take mid-ranks; the distribution is exact (all splits of the pooled values) up to 24
// values in all, the normal approximation with tie and continuity corrections above. 1 when either side is empty.
double rank_sum_p_greater(const std::vector<double>& baseline, const std::vector<double>& current);

}  // namespace fleetsim::sim::across_seeds
