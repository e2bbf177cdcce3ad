#include "fleetsim/net/token_bucket.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

namespace fleetsim::net {

using Clock = std::chrono::steady_clock;

namespace {
double checked_rate(double bytes_per_s, double burst_bytes) {
  if (!(bytes_per_s > 0) || !(burst_bytes >= 0) || !std::isfinite(bytes_per_s) || !std::isfinite(burst_bytes))
    throw std::invalid_argument("a token bucket needs a finite rate above 0 and a burst of at least 0");
  return bytes_per_s;
}
}  // namespace

TokenBucket::TokenBucket(boost::asio::io_context& io, double bytes_per_s, double burst_bytes)
    : io_(io), rate_(checked_rate(bytes_per_s, burst_bytes)), burst_bytes_(burst_bytes),
      burst_(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(std::min(burst_bytes / rate_, 1e9)))),
      free_at_(Clock::now()) {}

void TokenBucket::set_rate(double bytes_per_s) {
  rate_ = checked_rate(bytes_per_s, burst_bytes_);
  burst_ = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(std::min(burst_bytes_ / rate_, 1e9)));
}

void TokenBucket::consume(std::size_t bytes, std::function<void()> go) {
  const auto now = Clock::now();
  // An idle link has carried everything: it may take a burst at once, no more.
  free_at_ = std::max(free_at_, now - burst_) +
             std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(static_cast<double>(bytes) / rate_));
  if (free_at_ <= now) {
    boost::asio::post(io_, std::move(go));
    return;
  }
  auto timer = std::make_shared<boost::asio::steady_timer>(io_, free_at_);
  timer->async_wait([timer, go = std::move(go)](const boost::system::error_code& ec) {
    if (!ec) go();
  });
}

}  // namespace fleetsim::net
