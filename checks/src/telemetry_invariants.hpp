// Invariants of every site's telemetry bus (docs/TELEMETRY.md): storage limits, the upload cap, order within a
// stream after de-duplication, TTL, at-least-once delivery, crash loss within one sync interval, and at the end
// produced = delivered + buffered + dropped for every stream.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <utility>
#include <vector>

#include "fleetsim/checks/history.hpp"
#include "violation_log.hpp"

namespace fleetsim::checks {

// Closed intervals of sequence numbers, merged.
class SequenceSet {
 public:
  bool contains(std::uint64_t lo, std::uint64_t hi) const;
  void insert(std::uint64_t lo, std::uint64_t hi);

 private:
  std::map<std::uint64_t, std::uint64_t> ranges_;  // first -> last
};

class TelemetryInvariants {
 public:
  TelemetryInvariants(const FleetLayout& fleet, ViolationLog& log);

  void observe(const TelemetryProduced& r);
  void observe(const BatchSent& r);
  void observe(const BatchArrived& r);
  void observe(const BatchAcknowledged& r);
  void observe(const BrokerCrashed& r);
  void finish(const RunEnd& end);

 private:
  struct Stream {
    std::uint64_t produced = 0;
    std::deque<std::pair<double, std::uint64_t>> history;  // disk streams with fsync: (t, produced so far)
    SequenceSet accepted;                                  // what the cloud accepted
    std::uint64_t mark = 0;                                // the highest sequence number accepted
  };
  struct Site {
    std::vector<Stream> streams;
    double last_send = -1;
    std::uint64_t last_wire = 0;
  };
  void violation(std::size_t site, double t, const char* invariant, const std::string& detail);
  const StreamLayout& layout(std::size_t site, std::size_t stream) const;

  const FleetLayout& fleet_;
  ViolationLog& log_;
  std::vector<Site> sites_;
};

}  // namespace fleetsim::checks
