// The telemetry bus of a site: a broker that stores sensor messages in bounded streams while the uplink is down
// and forwards them to the cloud in batches, at least once; and the cloud receiver that de-duplicates them.
// Sans-IO like the other agents: time, timers, randomness and the uplink are ports (ports.hpp, UplinkPort below).
//
// Messages are kept as runs: `count` consecutive messages of one stream, of equal size, produced evenly over a
// time interval, with consecutive sequence numbers. A sensor is a rate, so one production interval of one sensor
// kind at a site is one run however many readings it holds; every policy below (eviction, TTL, batching, crash
// loss) still acts on single messages by splitting and trimming runs. docs/TELEMETRY.md has the semantics and
// which real product each setting comes from.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fleetsim/agents/ports.hpp"

namespace fleetsim::agents::telemetry {

enum class Storage : std::uint8_t { memory, disk };
// drop_oldest: evict the oldest stored messages (Volga, Fluent Bit, stream manager OverwriteOldestData).
// reject_new: refuse what does not fit (Mosquitto, stream manager RejectNewData).
// priority_evict: evict QoS 0 messages and messages less urgent than the new one, least urgent and oldest first;
// refuse the new message if that is not enough (Greengrass spooler).
enum class Overflow : std::uint8_t { drop_oldest, reject_new, priority_evict };

// Why a message never reached the cloud. Every dropped message is counted under exactly one reason.
enum class DropReason : std::uint8_t {
  evicted,            // overflow: evicted to make room (drop_oldest, priority_evict)
  rejected,           // overflow: refused on arrival (reject_new, or priority_evict with nothing evictable)
  ttl_expired,        // older than the stream's TTL before it could be sent
  too_large,          // larger than the stream can ever hold
  crash_lost,         // lost by a broker crash (memory buffer, or disk writes not yet synced)
  broker_down,        // produced while the broker was down
  qos0_offline,       // QoS 0 produced while offline, not kept (keep_qos0_offline = false)
  retries_exhausted,  // a batch that failed more than retry_limit times is discarded (Fluent Bit Retry_Limit)
};
inline constexpr std::size_t kDropReasons = 8;
const char* to_string(DropReason reason);
const char* to_string(Overflow overflow);
const char* to_string(Storage storage);

struct StreamConfig {
  Storage storage = Storage::disk;
  std::uint64_t max_bytes = 256ULL << 20;
  std::uint64_t max_msgs = 0;       // 0: no message-count limit
  std::uint64_t segment_bytes = 0;  // drop_oldest deletes whole segments of this size (0: single messages)
  double ttl_s = 0;                 // 0: messages never expire
  Overflow overflow = Overflow::drop_oldest;
  int priority = 5;             // between streams: 0 is the most urgent
  double fsync_interval_s = 0;  // disk: writes reach the disk every this often (0: before they are acknowledged)
  bool keep_qos0_offline = true;
};

struct ForwarderConfig {
  double batch_interval_s = 10;             // how often the broker looks for data to send
  std::uint64_t max_batch_bytes = 1 << 20;  // per batch, before compression
  std::uint64_t max_batch_msgs = 0;         // 0: no count limit
  double compression = 1.0;                 // wire bytes / stored bytes
  double upload_cap_bytes_per_s = 0;        // 0: no cap; else batches are paced to this average (token bucket)
  double retry_initial_s = 5;               // back-off after a failed batch: doubles up to retry_max_s
  double retry_max_s = 300;
  unsigned retry_limit = 0;  // 0: retry forever; else a batch failing more times than this is discarded
};

struct BusConfig {
  std::string preset;  // the named preset it started from ("" if none)
  StreamConfig stream;
  ForwarderConfig forwarder;
};

// Documented defaults of real products (docs/TELEMETRY.md has the source of each number). nullopt: unknown name.
std::optional<BusConfig> preset(const std::string& name);
const std::vector<std::string>& preset_names();

// Consecutive messages [first_seq, first_seq + count) of one stream, msg_bytes each; message i was produced at
// t0 + (i + 1) * dt.
struct MessageRun {
  std::uint32_t stream = 0;
  std::uint64_t first_seq = 0;
  std::uint64_t count = 0;
  std::uint32_t msg_bytes = 0;
  double t0 = 0;
  double dt = 0;
  std::uint8_t priority = 5;
  std::uint8_t qos = 1;
  std::uint64_t bytes() const { return count * msg_bytes; }
  double event_time(std::uint64_t i) const { return t0 + static_cast<double>(i + 1) * dt; }
  double first_time() const { return event_time(0); }
  double last_time() const { return count ? event_time(count - 1) : t0; }
};

struct Batch {
  std::uint64_t id = 0;
  std::vector<MessageRun> runs;  // at most one run sequence per stream, in sequence order
  std::uint64_t messages = 0;
  std::uint64_t raw_bytes = 0;
  std::uint64_t wire_bytes = 0;
  Time sent_at = 0;
};

// The broker's uplink to the cloud. The runtime answers each send_batch with Broker::on_batch_result: acked = true
// once the cloud's acknowledgement is back, false if the transfer or the acknowledgement was lost.
class UplinkPort {
 public:
  virtual ~UplinkPort() = default;
  virtual void send_batch(const Batch& batch) = 0;
};

struct StreamStats {
  std::uint64_t produced = 0;
  std::uint64_t delivered = 0;  // acknowledged by the cloud
  std::uint64_t delivered_bytes = 0;
  std::array<std::uint64_t, kDropReasons> dropped{};
  std::uint64_t peak_bytes = 0;
  std::uint64_t peak_msgs = 0;
  std::uint64_t dropped_total() const;
};

struct BrokerPorts {
  Clock& clock;
  Timers& timers;
  Random& random;
  UplinkPort& uplink;
};

class Broker {
 public:
  // One stream per name, all with the bus's stream settings unless `per_stream` overrides them.
  Broker(BusConfig config, std::vector<std::string> streams, std::map<std::string, StreamConfig> per_stream,
         BrokerPorts ports);

  // external_tick: the runtime calls tick() every batch interval itself (when it hands over the sensors' data at
  // the same instants), instead of the broker arming a timer of its own.
  void start(bool external_tick = false);
  // The batch interval elapsed: look for data to send.
  void tick();
  // `count` messages of `msg_bytes` each, produced evenly in (t0, t1], arrive at the broker.
  void produce(std::size_t stream, std::uint64_t count, std::uint32_t msg_bytes, double t0, double t1, int priority,
               int qos);
  // A message a runtime kept on disk across a restart of its process (a real broker's store; a simulated one keeps
  // its runs in memory across on_crash/on_boot instead): stored again under its own sequence number, which must be
  // above every stored one. Called before start(), oldest first. It counts as produced (this broker's counts start
  // with it: produced = delivered + buffered + dropped holds in each process); a message the stream no longer holds
  // room for (its limits were lowered) is dropped as evicted. Returns whether it was kept.
  bool restore(std::size_t stream, std::uint64_t seq, std::uint32_t msg_bytes, double t, int priority, int qos);
  // The next message of the stream gets sequence number `next` (a runtime restarting its process goes on above every
  // number it ever gave, so the cloud's high-water mark never takes new messages for duplicates). Never goes back.
  void resume_at(std::size_t stream, std::uint64_t next);
  void on_timer(TimerId id);
  void on_batch_result(std::uint64_t batch_id, bool acked);
  // Power loss of the broker's host and its restart.
  void on_crash();
  void on_boot();

  std::size_t stream_count() const { return streams_.size(); }
  const StreamConfig& stream_config(std::size_t s) const { return streams_[s].config; }
  const StreamStats& stats(std::size_t s) const { return streams_[s].stats; }
  std::uint64_t buffered_msgs(std::size_t s) const { return streams_[s].msgs; }
  std::uint64_t buffered_bytes(std::size_t s) const { return streams_[s].bytes; }
  const std::deque<MessageRun>& runs(std::size_t s) const { return streams_[s].runs; }
  // The event time of the oldest message not yet acknowledged (nullopt: nothing stored).
  std::optional<double> oldest_unacked(std::size_t s) const;
  // How far the stream is behind: the age of its oldest unacknowledged message (0 when nothing is stored).
  double backlog_age(std::size_t s) const;
  // Caught up with live data: every stream's backlog is at most two batch intervals old (data waits up to one
  // interval for its batch, and up to one more behind the batch in flight). A drain after an outage ends here.
  bool caught_up() const;
  // The sequence number the next stored message will get; and that of the oldest stored one (= next if empty).
  std::uint64_t next_seq(std::size_t s) const { return streams_[s].next_seq; }
  std::uint64_t first_unacked_seq(std::size_t s) const;

 private:
  struct Stream {
    std::string name;
    StreamConfig config;
    std::deque<MessageRun> runs;  // in sequence order; runs_[0 .. inflight_runs) are in the batch in flight
    std::size_t inflight_runs = 0;
    std::uint64_t bytes = 0;
    std::uint64_t msgs = 0;
    std::uint64_t next_seq = 1;
    std::uint64_t synced_seq = 0;  // disk: every message with seq <= this is on disk
    StreamStats stats;
    TimerId fsync_timer = 0;
  };

  void drop(Stream& s, DropReason reason, std::uint64_t count) { s.stats.dropped[static_cast<int>(reason)] += count; }
  // Removes up to `count` messages from the front of run i (not in flight); returns how many it removed.
  std::uint64_t trim_front(Stream& s, std::size_t i, std::uint64_t count, DropReason reason);
  // Frees room for `need_bytes` / `need_msgs` by evicting; returns false if it could not free that much.
  bool evict(Stream& s, std::uint64_t need_bytes, std::uint64_t need_msgs, int new_priority);
  void expire(Stream& s);
  void pop_empty_front(Stream& s);
  bool fits(const Stream& s, std::uint64_t count, std::uint32_t msg_bytes) const;
  void try_send();
  void arm_tick();
  void arm_fsync(std::size_t s);
  double backoff_delay();

  BusConfig config_;
  BrokerPorts ports_;
  std::vector<Stream> streams_;
  std::vector<std::size_t> send_order_;  // stream indices by priority, then declaration
  std::optional<Batch> inflight_;
  std::vector<MessageRun> spare_runs_;  // the last batch's runs buffer, for the next batch (no allocation per batch)
  unsigned batch_failures_ = 0;  // failures of the batch being retried (retry_limit)
  TimerId tick_timer_ = 0;
  TimerId retry_timer_ = 0;
  TimerId pace_timer_ = 0;
  double next_send_at_ = 0;  // upload cap: a batch of w bytes holds the next one back by w / cap
  std::map<TimerId, std::size_t> fsync_timers_;
  std::uint64_t next_batch_ = 1;
  bool offline_ = false;
  bool down_ = false;
  bool started_ = false;
  bool external_tick_ = false;
};

// The cloud side: accepts each (site, stream, seq) once, by a high-water mark per (site, stream). A message at or
// below the mark is a duplicate (a replay after a lost acknowledgement or a crash); never de-duplicates by time.
class CloudReceiver {
 public:
  struct Result {
    std::vector<MessageRun> accepted;  // the parts of the batch's runs above the mark, in order
    std::uint64_t duplicates = 0;
  };
  Result receive(std::uint32_t site, const Batch& batch);
  void receive(std::uint32_t site, const Batch& batch, Result& out);  // the same into `out`, reusing its buffer
  std::uint64_t high_water_mark(std::uint32_t site, std::uint32_t stream) const;

 private:
  std::vector<std::vector<std::uint64_t>> hwm_;  // by site, then stream (sites and streams are small indices)
};

}  // namespace fleetsim::agents::telemetry
