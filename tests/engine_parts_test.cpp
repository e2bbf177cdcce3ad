// Parts of the simulation runtime that have a contract of their own: the event loop's callable (InlineFunction) and
// the delivery-delay histogram's binning.
#include <cmath>
#include <memory>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "delay_histogram.hpp"
#include "task.hpp"

namespace fleetsim::sim {
namespace {

// The bin is floor(20 · log10(delay / 1 ms)), clamped to [0, 199], computed from the bits of the delay; it must agree
// with the formula wherever the formula is not within rounding of a bin edge.
TEST(DelayHistogram, BinIsTwentyPerDecadeFromOneMillisecond) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> decades(-5.0, 12.0);
  int checked = 0;
  for (int i = 0; i < 200000; ++i) {
    const double d = std::pow(10.0, decades(rng));
    const double exact = 20 * std::log10(std::max(d, 1e-3) / 1e-3);
    if (d > 1e-3 && std::abs(exact - std::round(exact)) < 1e-9) continue;  // on an edge: either side is right
    const int expected = std::clamp(static_cast<int>(std::floor(exact)), 0, DelayHistogram::kBins - 1);
    ASSERT_EQ(DelayHistogram::bin_of(d), expected) << "delay " << d << " s";
    ++checked;
  }
  EXPECT_GT(checked, 199000);
  // Edges by construction: 1 ms starts bin 0, 10 ms starts bin 20, 1 s bin 60; below 1 ms, and NaN, are bin 0.
  EXPECT_EQ(DelayHistogram::bin_of(1e-3 * 1.0000001), 0);
  EXPECT_EQ(DelayHistogram::bin_of(10e-3 * 1.0000001), 20);
  EXPECT_EQ(DelayHistogram::bin_of(1.0000001), 60);
  EXPECT_EQ(DelayHistogram::bin_of(0.999999), 59);
  EXPECT_EQ(DelayHistogram::bin_of(1e-6), 0);
  EXPECT_EQ(DelayHistogram::bin_of(-3), 0);
  EXPECT_EQ(DelayHistogram::bin_of(std::nan("")), 0);
  EXPECT_EQ(DelayHistogram::bin_of(1e30), DelayHistogram::kBins - 1);
}

TEST(DelayHistogram, PercentileIsTheUpperEdgeOfItsBin) {
  DelayHistogram h;
  h.add(0.5, 90);  // bin floor(20 · log10(500)) = 53
  h.add(30, 10);   // bin floor(20 · log10(30000)) = 89
  EXPECT_NEAR(*h.percentile(50), 1e-3 * std::pow(10.0, 54 / 20.0), 1e-12);
  EXPECT_NEAR(*h.percentile(95), 30.0, 1e-12);  // the bin's edge is above the largest delay seen: the largest
  EXPECT_FALSE(DelayHistogram{}.percentile(50));
}

// A run's slices, added together by walking down the bins, land where adding them one by one puts them.
TEST(DelayHistogram, DescendingRunsLandInTheBinsOfSingleAdds) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> decades(-4.0, 6.0), unit(0.0, 1.0);
  DelayHistogram together, one_by_one;
  for (int run = 0; run < 2000; ++run) {
    double delay[8], count[8];
    double d = std::pow(10.0, decades(rng));
    for (int i = 0; i < 8; ++i) {
      delay[i] = d;
      count[i] = 1 + std::floor(unit(rng) * 5);
      one_by_one.add(delay[i], count[i]);
      d *= (i % 3 == 0) ? 1.0 : unit(rng);  // equal neighbours too
    }
    together.add_descending(delay, count, 8);
  }
  EXPECT_EQ(together.weight, one_by_one.weight);
  EXPECT_EQ(together.total, one_by_one.total);
  EXPECT_EQ(together.max, one_by_one.max);
}

TEST(InlineFunction, SmallCallablesStayInlineAndLargeOnesWork) {
  auto owner = std::make_shared<int>(41);
  int calls = 0;
  Task small = [owner, &calls] { calls += *owner; };  // 24 bytes: inline
  EXPECT_EQ(owner.use_count(), 2);
  small();
  EXPECT_EQ(calls, 41);
  std::string big(200, 'x');
  struct Large {
    double pad[10];
    std::string* out;
    void operator()() const { *out += "!"; }
  };
  Task large = Large{{}, &big};  // 88 bytes: on the heap
  large();
  EXPECT_EQ(big.size(), 201u);
}

TEST(InlineFunction, MovingTransfersTheCallableAndDestroysItOnce) {
  auto owner = std::make_shared<int>(1);
  {
    Task a = [owner] { ++*owner; };
    Task b = std::move(a);
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): the contract under test
    ASSERT_TRUE(b);
    EXPECT_EQ(owner.use_count(), 2);
    b();
    Task c;
    c = std::move(b);
    c();
    EXPECT_EQ(*owner, 3);
    c = nullptr;
    EXPECT_EQ(owner.use_count(), 1);
    EXPECT_FALSE(c);
  }
  EXPECT_EQ(owner.use_count(), 1);
}

TEST(InlineFunction, ArgumentsAndResultsPass) {
  InlineFunction<double(bool, double)> f = [](bool ok, double x) { return ok ? x * 2 : -x; };
  EXPECT_EQ(f(true, 1.5), 3.0);
  EXPECT_EQ(f(false, 1.5), -1.5);
  auto moved_in = std::make_unique<int>(5);
  InlineFunction<int(int)> g = [p = std::move(moved_in)](int x) { return *p + x; };  // move-only capture
  EXPECT_EQ(g(2), 7);
}

}  // namespace
}  // namespace fleetsim::sim
