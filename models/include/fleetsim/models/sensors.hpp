// Sensors and GPUs as the telemetry bus sees them. A sensor is a rate, not an event per reading: a SensorSource
// answers "how many readings did this sensor kind produce at this site in (t0, t1]", drawn exactly from the seed,
// so that a site with hundreds of sensors costs one draw per sensor kind per batch interval.
// A FrameQueue is the bounded queue of camera frames in front of a GPU inference app: frames wait in it while the
// GPU is busy or has failed, and beyond its limit they are dropped; both are counted.
#pragma once

#include <cstdint>
#include <string>

#include "fleetsim/models/rng.hpp"

namespace fleetsim::models {

enum class SensorProcess : std::uint8_t {
  periodic,  // one reading every 1/rate per node, exactly
  poisson,   // readings at random with the given mean rate
  bursty,    // Poisson at `rate` while on; on and off for exponential periods of mean on_s / off_s
};

struct SensorModel {
  SensorProcess process = SensorProcess::periodic;
  double rate_per_s = 1;  // per node (while on, for bursty)
  double on_mean_s = 0;   // bursty only
  double off_mean_s = 0;
  // Mean readings per second per node over a long time.
  double mean_rate() const {
    return process == SensorProcess::bursty ? rate_per_s * on_mean_s / (on_mean_s + off_mean_s) : rate_per_s;
  }
};

// One sensor kind on `nodes` nodes of one site. Bursty sensors of a site switch together (a line starts or stops).
class SensorSource {
 public:
  SensorSource(SensorModel model, std::uint64_t nodes, RandomStream random);
  // Readings produced in (t0, t1]; successive calls must cover successive intervals.
  std::uint64_t count(double t0, double t1);

 private:
  double on_time(double t0, double t1);  // bursty: how long the sensor was on in (t0, t1]

  SensorModel model_;
  double nodes_;
  RandomStream random_;
  bool on_ = false;
  double next_switch_ = 0;
};

// Frames in front of a GPU. arrive() admits what fits below the limit; take() hands the queued frames to the GPU;
// complete() / fail() settle them.
class FrameQueue {
 public:
  explicit FrameQueue(std::uint64_t limit) : limit_(limit) {}
  // n frames arrive spread over the coming interval, during which the GPU will still serve `service` frames beyond
  // the work it holds: they are admitted while the frames waiting stay within limit + service (what the GPU takes
  // during the interval frees its place in the queue). Returns how many were dropped because the queue was full.
  std::uint64_t arrive(std::uint64_t n, std::uint64_t service = 0);
  std::uint64_t take();  // every queued frame goes to the GPU
  void complete(std::uint64_t n) { processed_ += n; }
  void fail(std::uint64_t n) { lost_in_failure_ += n; }

  std::uint64_t queued() const { return queued_; }
  std::uint64_t arrived() const { return arrived_; }
  std::uint64_t processed() const { return processed_; }
  std::uint64_t dropped_full() const { return dropped_full_; }
  std::uint64_t lost_in_failure() const { return lost_in_failure_; }
  std::uint64_t peak() const { return peak_; }

 private:
  std::uint64_t limit_;
  std::uint64_t queued_ = 0, arrived_ = 0, processed_ = 0, dropped_full_ = 0, lost_in_failure_ = 0, peak_ = 0;
};

}  // namespace fleetsim::models
