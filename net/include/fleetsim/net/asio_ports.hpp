// The agents' clock, timers and randomness on Boost.Asio: real time, one io_context for any number of agents.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "fleetsim/agents/ports.hpp"
#include "fleetsim/models/rng.hpp"

namespace fleetsim::net {

// Seconds since the clock was made, from std::chrono::steady_clock (never the wall clock: it can jump).
class SteadyClock final : public agents::Clock {
 public:
  SteadyClock() : start_(std::chrono::steady_clock::now()) {}
  agents::Time now() const override {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// One-shot timers on an io_context; `fire` (the owner's on_timer) runs in the io_context, never within set_timer.
// Destroying it cancels every timer it armed.
class AsioTimers final : public agents::Timers {
 public:
  AsioTimers(boost::asio::io_context& io, std::function<void(agents::TimerId)> fire)
      : io_(io), fire_(std::move(fire)) {}
  ~AsioTimers() override;
  AsioTimers(const AsioTimers&) = delete;
  AsioTimers& operator=(const AsioTimers&) = delete;

  agents::TimerId set_timer(double delay_s) override;
  void cancel_timer(agents::TimerId id) override;
  std::size_t armed() const { return timers_.size(); }

 private:
  boost::asio::io_context& io_;
  std::function<void(agents::TimerId)> fire_;
  std::map<agents::TimerId, std::unique_ptr<boost::asio::steady_timer>> timers_;
  agents::TimerId next_ = 1;  // 0 is "no timer" to the agents
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// The agents' randomness from fleetsim's seeded streams: (seed, entity, purpose) as in a simulated run.
class SeededRandom final : public agents::Random {
 public:
  SeededRandom(std::uint64_t seed, std::string_view entity) : stream_(seed, entity, "agent") {}
  double uniform01() override { return stream_.uniform01(); }

 private:
  models::RandomStream stream_;
};

}  // namespace fleetsim::net
