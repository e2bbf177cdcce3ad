#include "telemetry_invariants.hpp"

#include <algorithm>
#include <iterator>

namespace fleetsim::checks {

bool SequenceSet::contains(std::uint64_t lo, std::uint64_t hi) const {
  auto it = ranges_.upper_bound(lo);
  if (it == ranges_.begin()) return false;
  --it;
  return it->first <= lo && it->second >= hi;
}

void SequenceSet::insert(std::uint64_t lo, std::uint64_t hi) {
  auto it = ranges_.upper_bound(lo);
  if (it != ranges_.begin()) {
    auto prev = std::prev(it);
    if (prev->second + 1 >= lo) {
      if (it == ranges_.end() || it->first > hi + 1) {  // extends the range before it and reaches no other
        prev->second = std::max(prev->second, hi);
        return;
      }
      lo = prev->first;
      hi = std::max(hi, prev->second);
      it = ranges_.erase(prev);
    }
  }
  while (it != ranges_.end() && it->first <= hi + 1) {
    hi = std::max(hi, it->second);
    it = ranges_.erase(it);
  }
  ranges_.emplace(lo, hi);
}

TelemetryInvariants::TelemetryInvariants(const FleetLayout& fleet, ViolationLog& log)
    : fleet_(fleet), log_(log), sites_(fleet.sites.size()) {
  for (std::size_t s = 0; s < fleet.sites.size(); ++s)
    if (fleet.sites[s].bus) sites_[s].streams.resize(fleet.sites[s].bus->streams.size());
}

void TelemetryInvariants::violation(std::size_t site, double t, const char* invariant, const std::string& detail) {
  log_.once(invariant, fleet_.sites[site].bus->broker_node, t, fleet_.sites[site].name + ": " + detail);
}

const StreamLayout& TelemetryInvariants::layout(std::size_t site, std::size_t stream) const {
  return fleet_.sites[site].bus->streams[stream];
}

void TelemetryInvariants::observe(const TelemetryProduced& r) {
  const StreamLayout& c = layout(r.site, r.stream);
  Stream& s = sites_[r.site].streams[r.stream];
  s.produced = r.produced_total;
  if ((c.max_bytes > 0 && r.buffered_bytes > c.max_bytes) || (c.max_msgs > 0 && r.buffered_msgs > c.max_msgs))
    violation(r.site, r.t, "telemetry-storage-limit",
              "stream " + c.name + " holds " + std::to_string(r.buffered_bytes) + " bytes in " +
                  std::to_string(r.buffered_msgs) + " messages");
  if (c.disk && c.fsync_interval_s > 0) {
    const double interval = fleet_.sites[r.site].bus->batch_interval_s;
    s.history.emplace_back(r.t, r.produced_total);
    while (s.history.size() > 2 && s.history[1].first < r.t - c.fsync_interval_s - interval) s.history.pop_front();
  }
}

// The upload cap is the broker's own pacing (a token bucket): a batch of w bytes may start only w / cap after the
// previous one started.
void TelemetryInvariants::observe(const BatchSent& r) {
  Site& site = sites_[r.site];
  const double cap = fleet_.sites[r.site].bus->upload_cap_bytes_per_s;
  if (cap > 0 && site.last_send >= 0 && r.t + 1e-9 < site.last_send + static_cast<double>(site.last_wire) / cap)
    violation(r.site, r.t, "telemetry-upload-cap",
              "a batch started " + format_3f(r.t - site.last_send) + " s after one of " +
                  std::to_string(site.last_wire) + " bytes, faster than the cap");
  site.last_send = r.t;
  site.last_wire = r.wire_bytes;
}

void TelemetryInvariants::observe(const BatchArrived& r) {
  // Parts of the batch at or below the cloud's mark are discarded as duplicates: they must have been accepted
  // before, or a message arrived after a later one of its stream and was lost.
  for (const auto& run : r.runs) {
    const Stream& s = sites_[r.site].streams[run.stream];
    if (run.count == 0 || run.first_seq > s.mark) continue;
    const std::uint64_t last = std::min(s.mark, run.first_seq + run.count - 1);
    if (!s.accepted.contains(run.first_seq, last))
      violation(r.site, r.t, "telemetry-order",
                "stream " + layout(r.site, run.stream).name + ": messages " + std::to_string(run.first_seq) + ".." +
                    std::to_string(last) + " arrived after later ones and were discarded as duplicates");
  }
  for (const auto& run : r.accepted) {
    if (run.count == 0) continue;
    Stream& s = sites_[r.site].streams[run.stream];
    s.accepted.insert(run.first_seq, run.first_seq + run.count - 1);
    s.mark = std::max(s.mark, run.first_seq + run.count - 1);
    const double ttl = layout(r.site, run.stream).ttl_s;
    if (ttl > 0 && run.first_time() < r.sent_at - ttl - 1e-6)
      violation(r.site, r.t, "telemetry-ttl",
                "stream " + layout(r.site, run.stream).name + ": message " + std::to_string(run.first_seq) +
                    " was sent " + format_3f(r.sent_at - run.first_time()) + " s after it was produced, TTL " +
                    format_3f(ttl) + " s");
  }
}

void TelemetryInvariants::observe(const BatchAcknowledged& r) {
  if (!r.delivered) return;
  for (const auto& run : r.runs)
    if (run.count > 0 &&
        !sites_[r.site].streams[run.stream].accepted.contains(run.first_seq, run.first_seq + run.count - 1))
      violation(r.site, r.t, "telemetry-at-least-once",
                "stream " + layout(r.site, run.stream).name + ": acknowledged messages " +
                    std::to_string(run.first_seq) + ".. are not at the cloud");
}

// A disk stream loses at most what was produced within one sync interval before the crash; a memory stream at most
// its buffer.
void TelemetryInvariants::observe(const BrokerCrashed& r) {
  const StreamLayout& c = layout(r.site, r.stream);
  const Stream& s = sites_[r.site].streams[r.stream];
  std::uint64_t bound = r.buffered_before;
  if (c.disk) {
    bound = 0;
    if (c.fsync_interval_s > 0) {
      const double interval = fleet_.sites[r.site].bus->batch_interval_s;
      std::uint64_t before = 0;  // produced up to the last tick at or before now - interval
      for (const auto& [t, cumulative] : s.history)
        if (t <= r.t - c.fsync_interval_s - interval) before = cumulative;
      bound = s.produced - before;
    }
  }
  if (r.lost > bound)
    violation(r.site, r.t, "telemetry-crash-loss",
              "stream " + c.name + " lost " + std::to_string(r.lost) + " messages in a crash, more than the " +
                  std::to_string(bound) + " its storage allows");
}

// produced = delivered + buffered + dropped for every stream (the buffer walked run by run), and every message the
// broker counts as delivered was accepted by the cloud.
void TelemetryInvariants::finish(const RunEnd& end) {
  for (const auto& s : end.streams) {
    const std::string& name = layout(s.site, s.stream).name;
    if (s.produced != s.broker_delivered + s.buffered_walked + s.dropped || s.buffered_walked != s.buffered_count)
      violation(s.site, end.t, "telemetry-conservation",
                "stream " + name + ": produced " + std::to_string(s.produced) + " != delivered " +
                    std::to_string(s.broker_delivered) + " + buffered " + std::to_string(s.buffered_walked) +
                    " + dropped " + std::to_string(s.dropped));
    if (s.cloud_accepted < s.broker_delivered)
      violation(s.site, end.t, "telemetry-at-least-once",
                "stream " + name + ": the broker counts " + std::to_string(s.broker_delivered) +
                    " delivered, the cloud accepted " + std::to_string(s.cloud_accepted));
  }
}

}  // namespace fleetsim::checks
