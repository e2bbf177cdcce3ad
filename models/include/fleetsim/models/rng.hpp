// Seeded random streams. Every stochastic choice in fleetsim draws from a stream derived from
// (scenario seed, stable entity id, purpose), so adding an unrelated entity never changes another's draws.
// The generator (xoshiro256**) and the distributions are implemented here, not taken from <random>:
// std::*_distribution output differs between standard libraries, and reports must be byte-identical.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace fleetsim::models {

// 64-bit FNV-1a followed by a SplitMix64 finalizer; stable across platforms and releases.
std::uint64_t stable_hash(std::string_view text, std::uint64_t salt = 0);

class RandomStream {
 public:
  // Derives an independent stream for (seed, entity, purpose), e.g. (7, "site-12/node-3", "start-jitter").
  RandomStream(std::uint64_t seed, std::string_view entity, std::string_view purpose);
  explicit RandomStream(std::uint64_t state_seed);

  std::uint64_t next_u64();
  // Uniform in [0, 1) with 53 bits of resolution.
  double uniform01();
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform01(); }
  // Uniform integer in [0, n) without modulo bias (Lemire's method); n must be > 0.
  std::uint64_t below(std::uint64_t n);
  bool bernoulli(double p) { return uniform01() < p; }
  // Exponential with the given mean (inverse CDF).
  double exponential(double mean);
  // Weibull with shape k and scale lambda (inverse CDF).
  double weibull(double shape, double scale);
  // Poisson with the given mean: multiplication of uniforms below mean 10, Hormann's PTRS (transformed rejection
  // with squeeze, 1993) above; exact in distribution for any mean.
  std::uint64_t poisson(double mean);

 private:
  std::array<std::uint64_t, 4> s_{};
};

}  // namespace fleetsim::models
