#include "fleetsim/models/pull_connections.hpp"

#include <algorithm>

namespace fleetsim::models {

double PullConnections::open_request(double now, double rtt_s) {
  // Idle connections past the keep-alive were closed by the client: forget them.
  idle_since_.erase(std::remove_if(idle_since_.begin(), idle_since_.end(),
                                   [&](double since) { return now - since > keep_alive_s_; }),
                    idle_since_.end());
  const double request = rtt_s / 2;
  if (!idle_since_.empty()) {
    idle_since_.pop_back();  // the most recently used: the one least likely to be closed
    return request;
  }
  return setup_rtts_ * rtt_s + request;
}

void PullConnections::finish_request(double now) {
  if (keep_alive_s_ > 0) idle_since_.push_back(now);
}

}  // namespace fleetsim::models
