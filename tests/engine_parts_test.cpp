// Parts of the simulation runtime that have a contract of their own: the event loop's callable (InlineFunction) and
// the delivery-delay histogram's binning.
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include <simgrid/s4u.hpp>

#include "delay_histogram.hpp"
#include "event_loop.hpp"
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

// The event loop runs its callbacks in (time, creation) order, however they were made: with a delay, in a lane (a
// queue per fixed delay), posted for a date, or for the current instant (which skips the heap); cancelled ones never
// run. A seeded random program of timers, some made by callbacks as they run, against that order computed apart.
// (The only test here with a SimGrid engine: one per process.)
TEST(EventLoop, CallbacksRunInTimeThenCreationOrderWhateverTheirKind) {
  int argc = 1;
  char name[] = "engine_parts_test";
  char* argv[] = {name, nullptr};
  simgrid::s4u::Engine engine(&argc, argv);
  auto* zone = simgrid::s4u::create_full_zone("zone");
  simgrid::s4u::Host* host = zone->create_host("host", 1e9)->seal();
  zone->seal();

  struct Made {
    double at;
    std::uint64_t seq;  // creation order
    int label;
    bool cancelled;
  };
  std::vector<Made> made;
  std::vector<std::pair<double, int>> ran;
  EventLoop loop;
  std::mt19937_64 rng(3);
  int next_label = 0;
  std::uint64_t seq = 0;
  std::vector<EventLoop::TimerId> ids;
  std::vector<EventLoop::Lane> lanes;
  std::function<void(int)> make;  // makes `n` timers of random kinds now
  make = [&](int n) {
    for (int k = 0; k < n; ++k) {
      const double now = simgrid::s4u::Engine::get_clock();
      const int label = next_label++;
      const int kind = static_cast<int>(rng() % 4);
      const bool spawn = label < 400 && rng() % 2 == 0;  // its callback makes more timers
      auto body = [&, label, spawn] {
        ran.emplace_back(simgrid::s4u::Engine::get_clock(), label);
        if (spawn) make(2);
      };
      // Delays from a few values, so that times tie often.
      const double delays[] = {0.0, 0.5, 1.0, 1.5, 2.0};
      const double delay = delays[rng() % 5];
      EventLoop::TimerId id = 0;
      double at = now + delay;
      if (kind == 0) {
        id = loop.add_timer(delay, body);
      } else if (kind == 1 && delay > 0) {
        id = loop.add_timer_in(loop.lane(delay), body);
      } else if (kind == 2) {
        id = loop.post_at(at, body);
      } else {
        at = now;
        id = loop.add_timer(0, body);
      }
      made.push_back({at, seq++, label, false});
      ids.push_back(id);
      if (rng() % 7 == 0 && !ids.empty()) {  // cancel one made before, if it has not run
        const std::size_t victim = rng() % ids.size();
        const bool already = std::any_of(ran.begin(), ran.end(),
                                         [&](const auto& r) { return r.second == made[victim].label; });
        if (!already && !made[victim].cancelled) {
          loop.cancel_timer(ids[victim]);
          made[victim].cancelled = true;
        }
      }
    }
  };
  simgrid::s4u::Actor::create("loop", host, [&] {
    loop.add_timer(0, [&] { make(100); });
    loop.add_timer(50, [&] { loop.stop(); });
    loop.run();
  });
  engine.run();

  // What must have run, in order: every timer not cancelled, by (time, creation).
  std::vector<Made> expected;
  for (const Made& m : made)
    if (!m.cancelled) expected.push_back(m);
  std::sort(expected.begin(), expected.end(),
            [](const Made& a, const Made& b) { return std::tie(a.at, a.seq) < std::tie(b.at, b.seq); });
  ASSERT_GT(expected.size(), 200u);
  ASSERT_EQ(ran.size(), expected.size());
  for (std::size_t i = 0; i < ran.size(); ++i) {
    ASSERT_EQ(ran[i].second, expected[i].label) << "position " << i;
    ASSERT_DOUBLE_EQ(ran[i].first, expected[i].at) << "position " << i;
  }
}

}  // namespace
}  // namespace fleetsim::sim
