// A node's HTTP connections to the registry, for the round trips a pull pays before its first byte: a new
// connection costs its handshakes (TCP, then TLS), every layer its request; an idle connection is reused for the
// next layer while it is younger than the keep-alive (Go's net/http, which containerd and dockerd use, closes idle
// connections after 90 s). A fault that cuts the node's path closes them all. docs/ENGINE.md, "Connection set-up".
#pragma once

#include <vector>

namespace fleetsim::models {

class PullConnections {
 public:
  // setup_rtts: round trips of a new connection's handshakes; keep_alive_s: how long an idle one stays open.
  PullConnections(double setup_rtts, double keep_alive_s) : setup_rtts_(setup_rtts), keep_alive_s_(keep_alive_s) {}

  // A layer request at `now` on a path of round-trip time `rtt_s`: takes an idle connection if one is open, else
  // opens one. Returns how long after `now` the response starts: the handshakes of a new connection plus the
  // request's way to the registry. (The response's own way back is the transfer's latency, paid by the network.)
  double open_request(double now, double rtt_s);
  // A request's transfer ended at `now` and its connection stays open, idle (a failed one is not handed back).
  void finish_request(double now);
  // A fault cut the path: every idle connection is closed (the busy ones fail with their transfers).
  void close_all() { idle_since_.clear(); }

 private:
  double setup_rtts_;
  double keep_alive_s_;
  std::vector<double> idle_since_;  // when each idle connection last finished a request
};

}  // namespace fleetsim::models
