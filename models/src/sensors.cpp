#include "fleetsim/models/sensors.hpp"

#include <algorithm>
#include <cmath>

namespace fleetsim::models {

SensorSource::SensorSource(SensorModel model, std::uint64_t nodes, RandomStream random)
    : model_(model), nodes_(static_cast<double>(nodes)), random_(random) {
  if (model_.process == SensorProcess::bursty) {
    // Start in the stationary state: on with probability on / (on + off); periods are memoryless.
    on_ = random_.uniform01() < model_.on_mean_s / (model_.on_mean_s + model_.off_mean_s);
    next_switch_ = random_.exponential(on_ ? model_.on_mean_s : model_.off_mean_s);
  }
}

double SensorSource::on_time(double t0, double t1) {
  double on = 0;
  double t = t0;
  while (t < t1) {
    const double end = std::min(t1, next_switch_);
    if (on_) on += end - t;
    t = end;
    if (t >= next_switch_) {
      on_ = !on_;
      next_switch_ += random_.exponential(on_ ? model_.on_mean_s : model_.off_mean_s);
    }
  }
  return on;
}

std::uint64_t SensorSource::count(double t0, double t1) {
  if (!(t1 > t0)) return 0;
  const double rate = nodes_ * model_.rate_per_s;
  switch (model_.process) {
    case SensorProcess::periodic: {
      // Readings at k / rate for k = 1, 2, ...: exactly floor(rate t1) - floor(rate t0) fall in (t0, t1].
      const double a = std::floor(rate * t0 + 1e-9);
      const double b = std::floor(rate * t1 + 1e-9);
      return b > a ? static_cast<std::uint64_t>(b - a) : 0;
    }
    case SensorProcess::poisson:
      return random_.poisson(rate * (t1 - t0));
    case SensorProcess::bursty:
      return random_.poisson(rate * on_time(t0, t1));
  }
  return 0;
}

std::uint64_t FrameQueue::arrive(std::uint64_t n, std::uint64_t service) {
  arrived_ += n;
  const std::uint64_t room = limit_ + service > queued_ ? limit_ + service - queued_ : 0;
  const std::uint64_t admitted = std::min(n, room);
  queued_ += admitted;
  peak_ = std::max(peak_, queued_);
  dropped_full_ += n - admitted;
  return n - admitted;
}

std::uint64_t FrameQueue::take() {
  const std::uint64_t n = queued_;
  queued_ = 0;
  return n;
}

}  // namespace fleetsim::models
