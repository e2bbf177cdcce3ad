// A link's bandwidth, emulated in the application: the pulls that share a TokenBucket (the node agents of one site)
// read no faster together than its rate, as they would behind the site's uplink. The fallback `fleetsim emulate`
// and fleetsim-agent use where kernel shaping (tc in network namespaces) is not available. Bytes are scheduled in
// the order they are asked for; up to `burst` bytes may go at once after an idle period.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

#include <boost/asio/io_context.hpp>

namespace fleetsim::net {

class TokenBucket {
 public:
  TokenBucket(boost::asio::io_context& io, double bytes_per_s, double burst_bytes);
  // `bytes` were just received: `go` runs (later, from the io_context) when the link would have carried them.
  void consume(std::size_t bytes, std::function<void()> go);
  double rate() const { return rate_; }
  // The link's rate changes from now on (fleetsim emulate's fault.degrade); what it carried so far stays carried.
  void set_rate(double bytes_per_s);

 private:
  boost::asio::io_context& io_;
  double rate_;
  double burst_bytes_;
  std::chrono::steady_clock::duration burst_;
  std::chrono::steady_clock::time_point free_at_;  // when the link has carried every byte consumed so far
};

}  // namespace fleetsim::net
