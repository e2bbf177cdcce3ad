// Sensor sources and the GPU frame queue (models/sensors.hpp), and the Poisson sampler behind them, against their
// closed forms: a Poisson count has mean and variance equal to its parameter; a periodic sensor produces exactly
// floor(N f T) readings by time T however the time is cut; an on/off sensor averages rate * on / (on + off).
#include "fleetsim/models/sensors.hpp"

#include <cmath>

#include <gtest/gtest.h>

namespace fleetsim::models {
namespace {

TEST(Poisson, MeanAndVarianceEqualTheParameter) {
  for (double mean : {0.3, 4.0, 9.99, 10.0, 57.0, 4000.0}) {
    RandomStream random(11, "poisson", std::to_string(mean));
    const int n = 200000;
    double sum = 0, sum2 = 0;
    for (int i = 0; i < n; ++i) {
      const auto k = static_cast<double>(random.poisson(mean));
      sum += k;
      sum2 += k * k;
    }
    const double m = sum / n;
    const double var = sum2 / n - m * m;
    // Standard error of the mean is sqrt(mean / n); of the variance about mean * sqrt(2 / n).
    EXPECT_NEAR(m, mean, 5 * std::sqrt(mean / n)) << "mean " << mean;
    EXPECT_NEAR(var, mean, 5 * mean * std::sqrt(2.0 / n) + 0.01) << "mean " << mean;
  }
}

TEST(Poisson, SmallProbabilitiesMatchTheMassFunction) {
  RandomStream random(3, "poisson", "pmf");
  const double mean = 12.5;
  const int n = 400000;
  std::vector<int> hist(60, 0);
  for (int i = 0; i < n; ++i) {
    auto k = random.poisson(mean);
    if (k < hist.size()) ++hist[k];
  }
  for (int k : {3, 8, 12, 13, 20, 25}) {
    const double p = std::exp(-mean + k * std::log(mean) - std::lgamma(k + 1.0));
    EXPECT_NEAR(hist[k] / static_cast<double>(n), p, 5 * std::sqrt(p / n) + 1e-5) << "k = " << k;
  }
}

TEST(SensorSource, PeriodicCountsAreExactWhateverTheTicks) {
  SensorModel model{SensorProcess::periodic, 0.7, 0, 0};
  SensorSource a(model, 13, RandomStream(1, "s", "a"));
  SensorSource b(model, 13, RandomStream(1, "s", "b"));
  std::uint64_t total_a = 0, total_b = 0;
  for (double t = 0; t < 3600; t += 10) total_a += a.count(t, t + 10);
  for (double t = 0; t < 3600; t += 7.2) total_b += b.count(t, std::min(3600.0, t + 7.2));
  EXPECT_EQ(total_a, static_cast<std::uint64_t>(std::floor(13 * 0.7 * 3600)));
  EXPECT_EQ(total_b, total_a);
}

TEST(SensorSource, PoissonAndBurstyAverageTheirMeanRate) {
  SensorModel poisson{SensorProcess::poisson, 2.0, 0, 0};
  SensorModel bursty{SensorProcess::bursty, 10.0, 120, 480};  // on 20 % of the time: mean 2/s per node
  EXPECT_DOUBLE_EQ(bursty.mean_rate(), 2.0);
  for (const auto& model : {poisson, bursty}) {
    SensorSource source(model, 10, RandomStream(5, "site-1", "sensor"));
    const double T = 30 * 86400.0;
    double total = 0;
    for (double t = 0; t < T; t += 10) total += static_cast<double>(source.count(t, t + 10));
    EXPECT_NEAR(total / T, 20.0, 20.0 * 0.03);
  }
}

TEST(SensorSource, SameSeedSameCounts) {
  SensorModel model{SensorProcess::bursty, 5.0, 60, 60};
  SensorSource a(model, 4, RandomStream(9, "site-3", "sensor/door"));
  SensorSource b(model, 4, RandomStream(9, "site-3", "sensor/door"));
  for (double t = 0; t < 3600; t += 10) ASSERT_EQ(a.count(t, t + 10), b.count(t, t + 10));
}

TEST(FrameQueue, DropsWhatExceedsTheLimitAndAccountsEveryFrame) {
  FrameQueue q(100);
  EXPECT_EQ(q.arrive(60), 0U);
  EXPECT_EQ(q.arrive(60), 20U);
  EXPECT_EQ(q.queued(), 100U);
  EXPECT_EQ(q.take(), 100U);
  q.complete(70);
  q.fail(30);
  EXPECT_EQ(q.arrived(), q.processed() + q.dropped_full() + q.lost_in_failure() + q.queued());
  EXPECT_EQ(q.peak(), 100U);
}

}  // namespace
}  // namespace fleetsim::models
