#include "fleetsim/net/asio_ports.hpp"

#include <algorithm>
#include <cmath>

namespace fleetsim::net {

AsioTimers::~AsioTimers() {
  *alive_ = false;
  for (auto& [id, timer] : timers_) timer->cancel();
}

agents::TimerId AsioTimers::set_timer(double delay_s) {
  const agents::TimerId id = next_++;
  // Within what the clock can count (a day-long deadline is fine; 1e12 s would overflow nanoseconds and fire at once).
  const double s = std::isfinite(delay_s) ? std::clamp(delay_s, 0.0, 1e9) : 1e9;
  auto timer = std::make_unique<boost::asio::steady_timer>(
      io_, std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s)));
  timer->async_wait([this, id, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive) return;  // cancelled, or the timers are gone
    auto it = timers_.find(id);
    if (it == timers_.end()) return;
    timers_.erase(it);
    fire_(id);
  });
  timers_.emplace(id, std::move(timer));
  return id;
}

void AsioTimers::cancel_timer(agents::TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  it->second->cancel();
  timers_.erase(it);  // the handler, run with operation_aborted, finds nothing
}

}  // namespace fleetsim::net
