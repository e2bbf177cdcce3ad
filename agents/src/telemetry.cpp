#include "fleetsim/agents/telemetry.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace fleetsim::agents::telemetry {

namespace {

// Eviction classes of priority_evict: QoS 0 messages are the least urgent of all (class 10), then priority 9..0.
constexpr int kQos0Class = 10;
int eviction_class(const MessageRun& r) { return r.qos == 0 ? kQos0Class : r.priority; }

}  // namespace

const char* to_string(DropReason reason) {
  switch (reason) {
    case DropReason::evicted:
      return "evicted";
    case DropReason::rejected:
      return "rejected";
    case DropReason::ttl_expired:
      return "ttl_expired";
    case DropReason::too_large:
      return "too_large";
    case DropReason::crash_lost:
      return "crash_lost";
    case DropReason::broker_down:
      return "broker_down";
    case DropReason::qos0_offline:
      return "qos0_offline";
    case DropReason::retries_exhausted:
      return "retries_exhausted";
  }
  return "?";
}

const char* to_string(Overflow overflow) {
  switch (overflow) {
    case Overflow::drop_oldest:
      return "drop_oldest";
    case Overflow::reject_new:
      return "reject_new";
    case Overflow::priority_evict:
      return "priority_evict";
  }
  return "?";
}

const char* to_string(Storage storage) { return storage == Storage::memory ? "memory" : "disk"; }

std::uint64_t StreamStats::dropped_total() const {
  return std::accumulate(dropped.begin(), dropped.end(), std::uint64_t{0});
}

const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> names{"greengrass_spool", "greengrass_stream_manager", "azure_edgehub",
                                              "avassa_volga",     "mosquitto_bridge",          "fluentbit_fs"};
  return names;
}

// Each number is the product's documented default (docs/TELEMETRY.md, "Presets", cites the source); where the
// product documents none, the value is marked there as fleetsim's choice.
std::optional<BusConfig> preset(const std::string& name) {
  constexpr std::uint64_t MiB = 1ULL << 20;
  BusConfig c;
  c.preset = name;
  if (name == "greengrass_spool") {
    // Nucleus MQTT spooler: memory, maxSizeInBytes 2,621,440; on full evict QoS 0 oldest first, then reject the new
    // message; QoS 0 is not kept while offline (keepQos0WhenOffline = false).
    c.stream = {Storage::memory, 2621440, 0, 0, 0, Overflow::priority_evict, 5, 0, false};
    c.forwarder = {5, 128 * 1024, 0, 1.0, 0, 5, 300, 0};
  } else if (name == "greengrass_stream_manager") {
    // Stream manager: file storage, maxSize 256 MB, streamSegmentSize 16 MB, OverwriteOldestData; exports in
    // batches of up to 500 messages; failed exports retried at intervals up to 5 min, unlimited attempts.
    c.stream = {Storage::disk, 256 * MiB, 0, 16 * MiB, 0, Overflow::drop_oldest, 5, 0, true};
    c.forwarder = {10, 16 * MiB, 500, 1.0, 0, 5, 300, 0};
  } else if (name == "azure_edgehub") {
    // edgeHub: RocksDB on disk, persisted before ack, timeToLiveSecs 7200; MaxUpstreamBatchSize 10 with
    // UpstreamFanOutFactor 10 (100 messages per round trip); ConnectivityCheckFrequencySecs 300.
    c.stream = {Storage::disk, 8192 * MiB, 0, 0, 7200, Overflow::reject_new, 5, 0, true};
    c.forwarder = {5, 16 * MiB, 100, 1.0, 0, 5, 300, 0};
  } else if (name == "avassa_volga") {
    // Volga topic: persistence disk, a ring of 1 MB chunks (num-chunks is per topic; 100 here), drop oldest chunk.
    c.stream = {Storage::disk, 100 * MiB, 0, 1 * MiB, 0, Overflow::drop_oldest, 5, 0, true};
    c.forwarder = {5, 4 * MiB, 0, 1.0, 0, 5, 300, 0};
  } else if (name == "mosquitto_bridge") {
    // Mosquitto bridge: in memory (persistence false), max_queued_messages 1000, later messages dropped,
    // queue_qos0_messages false, max_inflight_messages 20, restart_timeout 5 s base / 30 s cap.
    c.stream = {Storage::memory, 0, 1000, 0, 0, Overflow::reject_new, 5, 0, false};
    c.forwarder = {5, 16 * MiB, 20, 1.0, 0, 5, 30, 0};
  } else if (name == "fluentbit_fs") {
    // Fluent Bit filesystem buffering: 2 MB chunks, storage.total_limit_size (256 MB here) discards the oldest chunk;
    // flush 1 s; scheduler.base 5 s, scheduler.cap 2000 s; Retry_Limit 1.
    c.stream = {Storage::disk, 256 * MiB, 0, 2 * MiB, 0, Overflow::drop_oldest, 5, 0, true};
    c.forwarder = {1, 2 * MiB, 0, 1.0, 0, 5, 2000, 1};
  } else {
    return std::nullopt;
  }
  return c;
}

Broker::Broker(BusConfig config, std::vector<std::string> streams, std::map<std::string, StreamConfig> per_stream,
               BrokerPorts ports)
    : config_(std::move(config)), ports_(ports) {
  streams_.resize(streams.size());
  for (std::size_t i = 0; i < streams.size(); ++i) {
    streams_[i].name = streams[i];
    auto it = per_stream.find(streams[i]);
    streams_[i].config = it != per_stream.end() ? it->second : config_.stream;
  }
  send_order_.resize(streams_.size());
  std::iota(send_order_.begin(), send_order_.end(), std::size_t{0});
  std::stable_sort(send_order_.begin(), send_order_.end(), [this](std::size_t a, std::size_t b) {
    return streams_[a].config.priority < streams_[b].config.priority;
  });
}

void Broker::start(bool external_tick) {
  started_ = true;
  external_tick_ = external_tick;
  if (!external_tick_) arm_tick();
  for (std::size_t s = 0; s < streams_.size(); ++s) arm_fsync(s);
}

void Broker::arm_tick() { tick_timer_ = ports_.timers.set_timer(config_.forwarder.batch_interval_s); }

void Broker::arm_fsync(std::size_t s) {
  const auto& c = streams_[s].config;
  if (c.storage != Storage::disk || !(c.fsync_interval_s > 0)) return;
  TimerId id = ports_.timers.set_timer(c.fsync_interval_s);
  streams_[s].fsync_timer = id;
  fsync_timers_[id] = s;
}

bool Broker::fits(const Stream& s, std::uint64_t count, std::uint32_t msg_bytes) const {
  const auto& c = s.config;
  if (c.max_bytes > 0 && s.bytes + count * msg_bytes > c.max_bytes) return false;
  if (c.max_msgs > 0 && s.msgs + count > c.max_msgs) return false;
  return true;
}

namespace {
// How many more messages of msg_bytes fit in a stream holding `bytes` / `msgs`.
std::uint64_t room(const StreamConfig& c, std::uint64_t bytes, std::uint64_t msgs, std::uint32_t msg_bytes) {
  std::uint64_t n = std::numeric_limits<std::uint64_t>::max();
  if (c.max_bytes > 0) n = bytes >= c.max_bytes ? 0 : (c.max_bytes - bytes) / msg_bytes;
  if (c.max_msgs > 0) n = std::min(n, msgs >= c.max_msgs ? 0 : c.max_msgs - msgs);
  return n;
}
}  // namespace

std::uint64_t Broker::trim_front(Stream& s, std::size_t i, std::uint64_t count, DropReason reason) {
  MessageRun& r = s.runs[i];
  const std::uint64_t k = std::min(count, r.count);
  r.first_seq += k;
  r.t0 += static_cast<double>(k) * r.dt;
  r.count -= k;
  s.bytes -= k * r.msg_bytes;
  s.msgs -= k;
  drop(s, reason, k);
  return k;
}

void Broker::pop_empty_front(Stream& s) {
  while (s.inflight_runs == 0 && !s.runs.empty() && s.runs.front().count == 0) s.runs.pop_front();
}

bool Broker::evict(Stream& s, std::uint64_t need_bytes, std::uint64_t need_msgs, int new_priority) {
  const bool by_priority = s.config.overflow == Overflow::priority_evict;
  if (!by_priority && s.config.segment_bytes > 0 && need_bytes > 0)
    need_bytes = (need_bytes + s.config.segment_bytes - 1) / s.config.segment_bytes * s.config.segment_bytes;
  std::uint64_t freed_bytes = 0;
  std::uint64_t freed_msgs = 0;
  auto done = [&] { return freed_bytes >= need_bytes && freed_msgs >= need_msgs; };
  auto take_from = [&](std::size_t i) {
    MessageRun& r = s.runs[i];
    const std::uint64_t for_bytes =
        freed_bytes >= need_bytes ? 0 : (need_bytes - freed_bytes + r.msg_bytes - 1) / r.msg_bytes;
    const std::uint64_t for_msgs = freed_msgs >= need_msgs ? 0 : need_msgs - freed_msgs;
    const std::uint32_t size = r.msg_bytes;
    const std::uint64_t k = trim_front(s, i, std::max(for_bytes, for_msgs), DropReason::evicted);
    freed_bytes += k * size;
    freed_msgs += k;
  };
  if (!by_priority) {
    for (std::size_t i = s.inflight_runs; i < s.runs.size() && !done(); ++i)
      if (s.runs[i].count > 0) take_from(i);
  } else {
    // Least urgent class first, oldest first within it; QoS 0 always, QoS 1 only if less urgent than the new one.
    for (int cls = kQos0Class; cls >= 0 && !done(); --cls) {
      if (cls != kQos0Class && cls <= new_priority) break;
      for (std::size_t i = s.inflight_runs; i < s.runs.size() && !done(); ++i)
        if (s.runs[i].count > 0 && eviction_class(s.runs[i]) == cls) take_from(i);
    }
  }
  pop_empty_front(s);
  return done();
}

void Broker::expire(Stream& s) {
  if (!(s.config.ttl_s > 0)) return;
  const double cutoff = ports_.clock.now() - s.config.ttl_s;
  // Runs are appended with non-decreasing t0: past the first run starting at or after the cutoff, nothing expired.
  for (std::size_t i = s.inflight_runs; i < s.runs.size() && s.runs[i].t0 < cutoff; ++i) {
    const MessageRun& r = s.runs[i];
    if (r.count == 0) continue;
    // Message j expired if t0 + (j + 1) dt < cutoff, i.e. j + 1 <= ceil((cutoff - t0) / dt) - 1.
    std::uint64_t expired = r.count;
    if (r.dt > 0) {
      const double x = std::ceil((cutoff - r.t0) / r.dt) - 1;
      expired = x <= 0 ? 0 : std::min<std::uint64_t>(r.count, static_cast<std::uint64_t>(x));
    }
    if (expired > 0) trim_front(s, i, expired, DropReason::ttl_expired);
  }
  pop_empty_front(s);
}

void Broker::produce(std::size_t stream, std::uint64_t count, std::uint32_t msg_bytes, double t0, double t1,
                     int priority, int qos) {
  Stream& s = streams_.at(stream);
  s.stats.produced += count;
  if (count == 0) return;
  if (down_) return drop(s, DropReason::broker_down, count);
  if (qos == 0 && offline_ && !s.config.keep_qos0_offline) return drop(s, DropReason::qos0_offline, count);
  if (msg_bytes == 0 || (s.config.max_bytes > 0 && msg_bytes > s.config.max_bytes))
    return drop(s, DropReason::too_large, count);
  if (!s.runs.empty()) t0 = std::max(t0, s.runs.back().t0);  // keeps t0 non-decreasing (see expire)
  t1 = std::max(t1, t0);
  expire(s);  // what expired frees its room before anything is evicted for the new messages

  const double dt = (t1 - t0) / static_cast<double>(count);
  std::uint64_t keep = count;
  double first_t0 = t0;
  // Under drop_oldest the oldest of the new messages go first when they alone exceed the stream.
  auto drop_oldest_new = [&](std::uint64_t n, DropReason reason) {
    drop(s, reason, n);
    first_t0 += static_cast<double>(n) * dt;
    keep -= n;
  };
  if (!fits(s, keep, msg_bytes)) {
    const auto& c = s.config;
    if (c.overflow == Overflow::drop_oldest) {
      const std::uint64_t alone = room(c, 0, 0, msg_bytes);
      if (keep > alone) drop_oldest_new(keep - alone, DropReason::evicted);
    }
    if (c.overflow != Overflow::reject_new) {
      const std::uint64_t want_bytes = s.bytes + keep * msg_bytes;
      const std::uint64_t need_bytes = c.max_bytes > 0 && want_bytes > c.max_bytes ? want_bytes - c.max_bytes : 0;
      const std::uint64_t need_msgs = c.max_msgs > 0 && s.msgs + keep > c.max_msgs ? s.msgs + keep - c.max_msgs : 0;
      evict(s, need_bytes, need_msgs, priority);
    }
    const std::uint64_t fit = room(c, s.bytes, s.msgs, msg_bytes);
    if (keep > fit) {
      if (c.overflow == Overflow::drop_oldest) {
        drop_oldest_new(keep - fit, DropReason::evicted);  // only messages in flight are left, and they are pinned
      } else {
        drop(s, DropReason::rejected, keep - fit);  // the newest are refused: the stream keeps the oldest prefix
        keep = fit;
      }
    }
  }
  if (keep == 0) return;
  MessageRun r;
  r.stream = static_cast<std::uint32_t>(stream);
  r.first_seq = s.next_seq;
  r.count = keep;
  r.msg_bytes = msg_bytes;
  r.t0 = first_t0;
  r.dt = dt;
  r.priority = static_cast<std::uint8_t>(std::clamp(priority, 0, 9));
  r.qos = static_cast<std::uint8_t>(qos == 0 ? 0 : 1);
  s.runs.push_back(r);
  s.next_seq += keep;
  s.bytes += keep * msg_bytes;
  s.msgs += keep;
  if (s.config.storage == Storage::disk && !(s.config.fsync_interval_s > 0)) s.synced_seq = s.next_seq - 1;
  s.stats.peak_bytes = std::max(s.stats.peak_bytes, s.bytes);
  s.stats.peak_msgs = std::max(s.stats.peak_msgs, s.msgs);
}

bool Broker::restore(std::size_t stream, std::uint64_t seq, std::uint32_t msg_bytes, double t, int priority, int qos) {
  Stream& s = streams_.at(stream);
  if (seq < s.next_seq) throw std::invalid_argument("Broker::restore: sequence " + std::to_string(seq) +
                                                    " is not above the stored ones (next " + std::to_string(s.next_seq) + ")");
  s.next_seq = seq + 1;
  ++s.stats.produced;
  if (msg_bytes == 0 || !fits(s, 1, msg_bytes)) {
    drop(s, DropReason::evicted, 1);
    return false;
  }
  MessageRun r;
  r.stream = static_cast<std::uint32_t>(stream);
  r.first_seq = seq;
  r.count = 1;
  r.msg_bytes = msg_bytes;
  r.t0 = s.runs.empty() ? t : std::max(t, s.runs.back().t0);  // non-decreasing t0 (see expire)
  r.dt = 0;
  r.priority = static_cast<std::uint8_t>(std::clamp(priority, 0, 9));
  r.qos = static_cast<std::uint8_t>(qos == 0 ? 0 : 1);
  s.runs.push_back(r);
  s.bytes += msg_bytes;
  s.msgs += 1;
  s.synced_seq = seq;  // it was read from the disk
  s.stats.peak_bytes = std::max(s.stats.peak_bytes, s.bytes);
  s.stats.peak_msgs = std::max(s.stats.peak_msgs, s.msgs);
  return true;
}

void Broker::resume_at(std::size_t stream, std::uint64_t next) {
  Stream& s = streams_.at(stream);
  s.next_seq = std::max(s.next_seq, next);
}

double Broker::backoff_delay() {
  const auto& f = config_.forwarder;
  // Each batch has its own schedule (Fluent Bit retries each chunk on its own): the exponent counts its failures.
  const double exp = std::ldexp(f.retry_initial_s, static_cast<int>(std::min(batch_failures_, 40U)) - 1);
  const double d = std::min(f.retry_max_s, exp);
  return d * (0.5 + 0.5 * ports_.random.uniform01());  // "equal jitter": between half and all of the back-off
}

void Broker::try_send() {
  if (down_ || inflight_ || retry_timer_ != 0 || pace_timer_ != 0) return;
  const auto& f = config_.forwarder;
  if (f.upload_cap_bytes_per_s > 0 && ports_.clock.now() < next_send_at_) {
    pace_timer_ = ports_.timers.set_timer(next_send_at_ - ports_.clock.now());
    return;
  }
  Batch b;
  b.runs.swap(spare_runs_);
  b.runs.clear();
  bool full = false;
  for (std::size_t idx : send_order_) {
    Stream& s = streams_[idx];
    expire(s);
    std::size_t i = 0;
    for (; i < s.runs.size() && !full; ++i) {
      MessageRun& r = s.runs[i];
      if (r.count == 0) continue;
      std::uint64_t take = r.count;
      if (f.max_batch_bytes > 0) {
        const std::uint64_t left = b.raw_bytes >= f.max_batch_bytes ? 0 : f.max_batch_bytes - b.raw_bytes;
        take = std::min(take, left / r.msg_bytes);
        if (take == 0 && b.messages == 0) take = 1;  // a message larger than a batch goes alone
      }
      if (f.max_batch_msgs > 0) take = std::min(take, f.max_batch_msgs - b.messages);
      if (take == 0) {
        full = true;
        break;
      }
      if (take < r.count) {
        MessageRun rest = r;
        rest.first_seq += take;
        rest.t0 += static_cast<double>(take) * r.dt;
        rest.count -= take;
        r.count = take;
        s.runs.insert(s.runs.begin() + static_cast<std::ptrdiff_t>(i) + 1, rest);
        full = true;
      }
      b.runs.push_back(s.runs[i]);
      b.messages += take;
      b.raw_bytes += take * s.runs[i].msg_bytes;
      if (f.max_batch_msgs > 0 && b.messages >= f.max_batch_msgs) full = true;
    }
    s.inflight_runs = i;
    if (full) break;
  }
  if (b.messages == 0) {
    for (auto& s : streams_) s.inflight_runs = 0;
    spare_runs_.swap(b.runs);
    return;
  }
  b.id = next_batch_++;
  b.wire_bytes = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(static_cast<double>(b.raw_bytes) * f.compression)));
  b.sent_at = ports_.clock.now();
  if (f.upload_cap_bytes_per_s > 0)
    next_send_at_ = b.sent_at + static_cast<double>(b.wire_bytes) / f.upload_cap_bytes_per_s;
  inflight_ = std::move(b);
  ports_.uplink.send_batch(*inflight_);
}

void Broker::on_batch_result(std::uint64_t batch_id, bool acked) {
  if (!inflight_ || inflight_->id != batch_id || down_) return;  // a batch from before a crash
  spare_runs_.swap(inflight_->runs);
  inflight_.reset();
  if (acked) {
    offline_ = false;
    batch_failures_ = 0;
    for (auto& s : streams_) {
      for (std::size_t i = 0; i < s.inflight_runs; ++i) {
        const MessageRun& r = s.runs.front();
        s.stats.delivered += r.count;
        s.stats.delivered_bytes += r.bytes();
        s.bytes -= r.bytes();
        s.msgs -= r.count;
        s.runs.pop_front();
      }
      s.inflight_runs = 0;
      pop_empty_front(s);
    }
    try_send();  // a backlog goes out batch after batch
    return;
  }
  offline_ = true;
  ++batch_failures_;
  const bool discard = config_.forwarder.retry_limit > 0 && batch_failures_ > config_.forwarder.retry_limit;
  for (auto& s : streams_) {
    const std::size_t n = s.inflight_runs;
    s.inflight_runs = 0;
    if (discard)
      for (std::size_t i = 0; i < n; ++i) trim_front(s, i, s.runs[i].count, DropReason::retries_exhausted);
    pop_empty_front(s);
  }
  if (discard) {
    batch_failures_ = 0;  // the next batch goes at the next tick, as a new chunk would
    return;
  }
  retry_timer_ = ports_.timers.set_timer(backoff_delay());
}

void Broker::on_timer(TimerId id) {
  if (down_) return;
  if (id == tick_timer_ && !external_tick_) {
    arm_tick();
    try_send();
  } else if (id == retry_timer_) {
    retry_timer_ = 0;
    try_send();
  } else if (id == pace_timer_) {
    pace_timer_ = 0;
    try_send();
  } else if (auto it = fsync_timers_.find(id); it != fsync_timers_.end()) {
    const std::size_t s = it->second;
    fsync_timers_.erase(it);
    streams_[s].synced_seq = streams_[s].next_seq - 1;
    arm_fsync(s);
  }
}

void Broker::on_crash() {
  if (down_) return;
  down_ = true;
  inflight_.reset();
  for (TimerId t : {tick_timer_, retry_timer_, pace_timer_})
    if (t != 0) ports_.timers.cancel_timer(t);
  for (const auto& [t, s] : fsync_timers_) ports_.timers.cancel_timer(t);
  fsync_timers_.clear();
  tick_timer_ = retry_timer_ = pace_timer_ = 0;
  for (auto& s : streams_) {
    s.inflight_runs = 0;
    // Memory loses everything; disk loses what was written after its last sync (always the newest messages).
    const std::uint64_t keep_upto = s.config.storage == Storage::memory ? 0 : s.synced_seq;
    while (!s.runs.empty()) {
      MessageRun& r = s.runs.back();
      if (r.count > 0) {
        const std::uint64_t last = r.first_seq + r.count - 1;
        if (last <= keep_upto) break;
        const std::uint64_t k = keep_upto >= r.first_seq ? last - keep_upto : r.count;
        r.count -= k;
        s.bytes -= k * r.msg_bytes;
        s.msgs -= k;
        drop(s, DropReason::crash_lost, k);
      }
      if (r.count == 0) s.runs.pop_back();
    }
  }
}

void Broker::tick() {
  if (!down_) try_send();
}

void Broker::on_boot() {
  if (!down_) return;
  down_ = false;
  batch_failures_ = 0;
  if (started_) start(external_tick_);
}

std::optional<double> Broker::oldest_unacked(std::size_t s) const {
  for (const auto& r : streams_[s].runs)
    if (r.count > 0) return r.first_time();
  return std::nullopt;
}

double Broker::backlog_age(std::size_t s) const {
  auto oldest = oldest_unacked(s);
  return oldest ? std::max(0.0, ports_.clock.now() - *oldest) : 0.0;
}

bool Broker::caught_up() const {
  for (std::size_t s = 0; s < streams_.size(); ++s)
    if (backlog_age(s) > 2 * config_.forwarder.batch_interval_s) return false;
  return true;
}

std::uint64_t Broker::first_unacked_seq(std::size_t s) const {
  for (const auto& r : streams_[s].runs)
    if (r.count > 0) return r.first_seq;
  return streams_[s].next_seq;
}

CloudReceiver::Result CloudReceiver::receive(std::uint32_t site, const Batch& batch) {
  Result result;
  result.accepted.reserve(batch.runs.size());
  receive(site, batch, result);
  return result;
}

void CloudReceiver::receive(std::uint32_t site, const Batch& batch, Result& result) {
  result.accepted.clear();
  result.duplicates = 0;
  for (MessageRun r : batch.runs) {
    if (r.count == 0) continue;
    if (hwm_.size() <= site) hwm_.resize(site + 1);
    std::vector<std::uint64_t>& marks = hwm_[site];
    if (marks.size() <= r.stream) marks.resize(r.stream + 1, 0);
    std::uint64_t& hwm = marks[r.stream];
    const std::uint64_t last = r.first_seq + r.count - 1;
    if (last <= hwm) {
      result.duplicates += r.count;
      continue;
    }
    if (r.first_seq <= hwm) {
      const std::uint64_t k = hwm - r.first_seq + 1;
      result.duplicates += k;
      r.first_seq += k;
      r.t0 += static_cast<double>(k) * r.dt;
      r.count -= k;
    }
    hwm = last;
    result.accepted.push_back(r);
  }
}

std::uint64_t CloudReceiver::high_water_mark(std::uint32_t site, std::uint32_t stream) const {
  if (site >= hwm_.size() || stream >= hwm_[site].size()) return 0;
  return hwm_[site][stream];
}

}  // namespace fleetsim::agents::telemetry
