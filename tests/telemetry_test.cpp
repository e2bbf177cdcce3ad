// The telemetry broker and cloud receiver (agents/telemetry.hpp) through fake ports: the test owns time, the
// uplink (capacity, latency, up or down, lost acknowledgements) and the sensors' production. Expected values are
// closed forms of the scenario each test sets up: an outage of length T at live rate r with a cache of C drops
// r*T - C under drop-oldest; a backlog B drains in B / (c - r); reject-new keeps the oldest prefix, drop-oldest the
// newest suffix; and produced = delivered + buffered + dropped at every instant.
#include "fleetsim/agents/telemetry.hpp"

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fake_ports.hpp"

namespace fleetsim::agents::telemetry {
namespace {

using fakes::FakeClock;
using fakes::FakeRandom;
using fakes::FakeTimers;

std::uint64_t dropped(const StreamStats& s, DropReason r) { return s.dropped[static_cast<int>(r)]; }

// A site broker on a fake uplink of `capacity` bytes/s and one-way `latency`, fed by periodic sensors.
class Bus : public UplinkPort {
 public:
  explicit Bus(BusConfig config, std::vector<std::string> streams = {"s"},
               std::map<std::string, StreamConfig> per_stream = {})
      : timers(clock), random(1.0) {
    broker = std::make_unique<Broker>(std::move(config), std::move(streams), std::move(per_stream),
                                      BrokerPorts{clock, timers, random, *this});
    timers.fire = [this](TimerId id) {
      auto it = own.find(id);
      if (it == own.end()) return broker->on_timer(id);
      auto fn = std::move(it->second);
      own.erase(it);
      fn();
    };
    broker->start();
  }

  void send_batch(const Batch& batch) override {
    sent.push_back(batch);
    if (!link_up) {
      schedule(0, [this, id = batch.id] { broker->on_batch_result(id, false); });
      return;
    }
    transfer_ = schedule(latency + static_cast<double>(batch.wire_bytes) / capacity, [this, batch] {
      transfer_ = 0;
      auto result = cloud.receive(0, batch);
      duplicates += result.duplicates;
      for (const auto& r : result.accepted) {
        EXPECT_GT(r.first_seq, last_accepted[r.stream]) << "out of order";
        last_accepted[r.stream] = r.first_seq + r.count - 1;
        accepted[r.stream] += r.count;
        for (std::uint64_t i = 0; i < r.count; i += std::max<std::uint64_t>(1, r.count - 1))
          max_age_at_send = std::max(max_age_at_send, batch.sent_at - r.event_time(i));
      }
      const bool lose = lose_acks > 0;
      if (lose) --lose_acks;
      schedule(latency, [this, id = batch.id, lose] { broker->on_batch_result(id, !lose && link_up); });
    });
  }

  void down() {
    link_up = false;
    if (transfer_ != 0) {  // the transfer in flight fails now, as a socket would
      timers.cancel_timer(transfer_);
      own.erase(transfer_);
      transfer_ = 0;
      schedule(0, [this, id = sent.back().id] { broker->on_batch_result(id, false); });
    }
  }
  void up() { link_up = true; }

  // A periodic sensor: `rate` messages/s of `bytes` each into `stream`, handed over every `tick` seconds.
  void sensor(double rate, std::uint32_t bytes, double tick, std::size_t stream = 0, int priority = 5, int qos = 1) {
    arm_sensor(rate, bytes, tick, stream, priority, qos);
  }

  void run_to(double t) {
    timers.advance_to(t);
    check_conservation();
  }

  void check_conservation() {
    for (std::size_t s = 0; s < broker->stream_count(); ++s) {
      const auto& st = broker->stats(s);
      EXPECT_EQ(st.produced, st.delivered + broker->buffered_msgs(s) + st.dropped_total()) << "stream " << s;
      std::uint64_t walked = 0;
      for (const auto& r : broker->runs(s)) walked += r.count;
      EXPECT_EQ(walked, broker->buffered_msgs(s));
    }
  }

  TimerId schedule(double delay, std::function<void()> fn) {
    TimerId id = timers.set_timer(delay);
    own[id] = std::move(fn);
    return id;
  }

  FakeClock clock;
  FakeTimers timers;
  FakeRandom random;
  std::unique_ptr<Broker> broker;
  CloudReceiver cloud;
  std::map<TimerId, std::function<void()>> own;
  std::vector<Batch> sent;
  std::map<std::uint32_t, std::uint64_t> last_accepted, accepted;
  std::uint64_t duplicates = 0;
  double max_age_at_send = 0;
  bool link_up = true;
  double capacity = 1e6;
  double latency = 0.01;
  int lose_acks = 0;

 private:
  void arm_sensor(double rate, std::uint32_t bytes, double tick, std::size_t stream, int priority, int qos) {
    schedule(tick, [=] {
      const double t1 = clock.now();
      const double t0 = t1 - tick;
      const auto count = static_cast<std::uint64_t>(std::floor(rate * t1 + 1e-9) - std::floor(rate * t0 + 1e-9));
      broker->produce(stream, count, bytes, t0, t1, priority, qos);
      arm_sensor(rate, bytes, tick, stream, priority, qos);
    });
  }
  TimerId transfer_ = 0;
};

BusConfig config(Overflow overflow, std::uint64_t max_bytes, double interval = 10) {
  BusConfig c;
  c.stream.overflow = overflow;
  c.stream.max_bytes = max_bytes;
  c.stream.storage = Storage::disk;
  c.forwarder.batch_interval_s = interval;
  c.forwarder.retry_initial_s = 1;
  c.forwarder.retry_max_s = 1;
  return c;
}

TEST(TelemetryBroker, DeliversLiveDataInOrderWithinOneBatchInterval) {
  Bus bus(config(Overflow::drop_oldest, 1 << 20));
  bus.sensor(10, 100, 10);
  bus.run_to(3601);
  const auto& st = bus.broker->stats(0);
  EXPECT_EQ(st.produced, 36000U);
  EXPECT_EQ(st.dropped_total(), 0U);
  // Data waits at most one batch interval: at most the last interval's 100 messages can still be stored.
  EXPECT_GE(st.delivered, 36000U - 100U);
  EXPECT_TRUE(bus.broker->caught_up());
  EXPECT_EQ(bus.accepted[0], st.delivered);
  EXPECT_EQ(bus.duplicates, 0U);
}

// An outage of T at live rate r with a cache of C under drop-oldest drops max(0, r*T - C) within one batch, and
// keeps the newest suffix.
TEST(TelemetryBroker, DropOldestOutageDropsRateTimesOutageMinusCache) {
  const double r = 20;          // messages/s
  const std::uint32_t b = 500;  // bytes: 10 kB/s
  const std::uint64_t cache = 16ULL << 20;
  const double T = 3 * 3600;
  Bus bus(config(Overflow::drop_oldest, cache));
  bus.sensor(r, b, 10);
  bus.run_to(600);
  bus.down();
  // What was not yet acknowledged when the link went down needs room too.
  const double pending = static_cast<double>(bus.broker->buffered_msgs(0));
  bus.run_to(600 + T);
  const auto& st = bus.broker->stats(0);
  const double expected = std::max(0.0, pending + r * T - static_cast<double>(cache / b));
  EXPECT_NEAR(static_cast<double>(dropped(st, DropReason::evicted)), expected, r * 10);
  // The newest suffix: contiguous sequence numbers ending with the newest message.
  const auto& runs = bus.broker->runs(0);
  std::uint64_t expect_seq = bus.broker->first_unacked_seq(0);
  for (const auto& run : runs) {
    if (run.count == 0) continue;
    EXPECT_EQ(run.first_seq, expect_seq);
    expect_seq = run.first_seq + run.count;
  }
  EXPECT_EQ(expect_seq, bus.broker->next_seq(0));
  EXPECT_LE(bus.broker->buffered_bytes(0), cache);
  EXPECT_GE(st.peak_bytes, cache - b);
  bus.up();
  bus.run_to(600 + T + 3600);
  // An hour later everything retained was delivered; only the last tick's data can still be on its way.
  EXPECT_LE(bus.broker->buffered_msgs(0), static_cast<std::uint64_t>(r * 10));
  EXPECT_EQ(bus.accepted[0], st.delivered);
}

TEST(TelemetryBroker, DropOldestWithinCacheDropsNothing) {
  Bus bus(config(Overflow::drop_oldest, 64ULL << 20));
  bus.sensor(20, 500, 10);
  bus.down();
  bus.run_to(3600);  // 36 MB < 64 MiB
  EXPECT_EQ(bus.broker->stats(0).dropped_total(), 0U);
  EXPECT_EQ(bus.broker->buffered_msgs(0), 72000U);
}

// Reject-new keeps the oldest prefix: sequence numbers 1..C/b, the rest refused.
TEST(TelemetryBroker, RejectNewKeepsTheOldestPrefix) {
  const std::uint64_t cache = 1'000'000;
  Bus bus(config(Overflow::reject_new, cache));
  bus.sensor(20, 500, 10);
  bus.down();
  bus.run_to(3600);
  const auto& st = bus.broker->stats(0);
  EXPECT_EQ(bus.broker->buffered_msgs(0), cache / 500);
  EXPECT_EQ(bus.broker->first_unacked_seq(0), 1U);
  EXPECT_EQ(bus.broker->next_seq(0), cache / 500 + 1);
  EXPECT_EQ(dropped(st, DropReason::rejected), 72000U - cache / 500);
  EXPECT_EQ(dropped(st, DropReason::evicted), 0U);
}

// Drop-oldest with segments deletes whole segments: the cache holds between C - segment and C.
TEST(TelemetryBroker, DropOldestDeletesWholeSegments) {
  auto c = config(Overflow::drop_oldest, 10'000'000);
  c.stream.segment_bytes = 1'000'000;
  Bus bus(c);
  bus.sensor(20, 500, 10);
  bus.down();
  bus.run_to(7200);
  const auto evicted = dropped(bus.broker->stats(0), DropReason::evicted);
  EXPECT_EQ(evicted % 2000, 0U) << "whole segments of 2000 messages";
  EXPECT_GE(bus.broker->buffered_bytes(0), 10'000'000U - 1'000'000U);
  EXPECT_LE(bus.broker->buffered_bytes(0), 10'000'000U);
  // The oldest go, never the new: what is left is the newest messages, sequence numbers up to the last one without a
  // gap. (Rounding what must be freed down to whole segments instead of up frees nothing while less than a segment
  // is missing, and the new messages are dropped instead: the mutant bus-segment-round-down, docs/MUTATION.md.)
  const std::uint64_t buffered = bus.broker->buffered_msgs(0);
  EXPECT_EQ(evicted + buffered, bus.broker->next_seq(0) - 1) << "every message produced is buffered or evicted";
  EXPECT_EQ(bus.broker->first_unacked_seq(0), bus.broker->next_seq(0) - buffered) << "the newest are kept";
}

// A backlog B with link capacity c > r drains in B / (c - r) within one batch interval.
TEST(TelemetryBroker, BacklogDrainsInBacklogOverSpareCapacity) {
  const double r = 20, b = 1000;  // 20 kB/s live
  auto c = config(Overflow::drop_oldest, 1ULL << 30);
  c.forwarder.max_batch_bytes = 1 << 20;
  Bus bus(c);
  bus.capacity = 100e3;  // 100 kB/s
  bus.latency = 0.02;
  bus.sensor(r, static_cast<std::uint32_t>(b), 10);
  bus.run_to(600);
  bus.down();
  bus.run_to(600 + 3600);
  const double backlog = static_cast<double>(bus.broker->buffered_bytes(0));
  EXPECT_NEAR(backlog, r * b * 3600, 2 * r * b * 10);  // the outage and what was pending when it began
  bus.up();
  const double reconnect = bus.clock.now();
  // Step until the broker has caught up with live data: the backlog and what arrived while it drained are sent.
  double drained_at = -1;
  for (double t = reconnect; t < reconnect + 4 * 3600; t += 1) {
    bus.timers.advance_to(t);
    if (bus.broker->caught_up()) {
      drained_at = t;
      break;
    }
  }
  ASSERT_GT(drained_at, 0);
  const double expected = backlog / (bus.capacity - r * b);
  EXPECT_NEAR(drained_at - reconnect, expected, 10.0) << "backlog " << backlog;
  bus.check_conservation();
}

// The upload cap limits the drain: B / (cap - r).
TEST(TelemetryBroker, UploadCapLimitsTheReplay) {
  const double r = 10, b = 1000;
  auto c = config(Overflow::drop_oldest, 1ULL << 30);
  c.forwarder.upload_cap_bytes_per_s = 50e3;
  c.forwarder.max_batch_bytes = 256 * 1024;  // 5 s at the cap: below one batch interval
  Bus bus(c);
  bus.capacity = 1e6;
  bus.sensor(r, static_cast<std::uint32_t>(b), 10);
  bus.down();
  bus.run_to(1800);
  const double backlog = static_cast<double>(bus.broker->buffered_bytes(0));
  bus.up();
  double drained_at = -1;
  for (double t = 1800; t < 3 * 3600; t += 1) {
    bus.timers.advance_to(t);
    if (bus.broker->caught_up()) {
      drained_at = t;
      break;
    }
  }
  EXPECT_NEAR(drained_at - 1800, backlog / (50e3 - r * b), 10.0);
  // A batch of w bytes holds the next one back by w / cap.
  for (std::size_t i = 1; i < bus.sent.size(); ++i)
    EXPECT_GE(bus.sent[i].sent_at + 1e-9,
              bus.sent[i - 1].sent_at + static_cast<double>(bus.sent[i - 1].wire_bytes) / 50e3);
}

// When the link is slower than the live rate the backlog never drains.
TEST(TelemetryBroker, BacklogGrowsWhenLinkIsBelowLiveRate) {
  Bus bus(config(Overflow::drop_oldest, 1ULL << 30));
  bus.capacity = 5e3;  // below 10 kB/s live
  bus.sensor(10, 1000, 10);
  bus.run_to(600);
  const auto b1 = bus.broker->buffered_bytes(0);
  bus.run_to(1200);
  const auto b2 = bus.broker->buffered_bytes(0);
  EXPECT_NEAR(static_cast<double>(b2 - b1), (10e3 - 5e3) * 600, 10e3 * 10 + (1 << 20));
}

// Nothing older than its TTL is sent; what expired is counted once.
TEST(TelemetryBroker, TtlExpiresInsteadOfDelivering) {
  auto c = config(Overflow::drop_oldest, 1ULL << 30);
  c.stream.ttl_s = 1800;
  Bus bus(c);
  bus.sensor(10, 100, 10);
  bus.down();
  bus.run_to(7200);
  bus.up();
  bus.run_to(9000);
  const auto& st = bus.broker->stats(0);
  // Messages produced before 7200 - 1800 (plus what expired while waiting for the first send) are gone.
  EXPECT_NEAR(static_cast<double>(dropped(st, DropReason::ttl_expired)), 10.0 * (7200 - 1800), 10.0 * 10 + 10);
  EXPECT_LE(bus.max_age_at_send, 1800.0 + 1e-6);
}

// A message exactly as old as the TTL, or younger, is never expired: at every instant the TTL drops are at most the
// messages strictly older than now - ttl (100 messages at 1, 2, ..., 100 s; TTL 100 s; the link down so that they
// wait). (Killed mutant: bus-ttl-one-more.)
TEST(TelemetryBroker, TtlExpiresOnlyWhatIsOlderThanTheTtl) {
  auto c = config(Overflow::drop_oldest, 1ULL << 30, 1);
  c.stream.ttl_s = 100;
  Bus bus(c);
  bus.down();
  bus.timers.advance_to(100);
  bus.broker->produce(0, 100, 100, 0, 100, 5, 1);  // message k at k seconds
  for (double t = 100; t <= 230; t += 0.25) {
    bus.timers.advance_to(t);
    std::uint64_t older = 0;
    for (int k = 1; k <= 100; ++k)
      if (k < t - 100) ++older;
    ASSERT_LE(dropped(bus.broker->stats(0), DropReason::ttl_expired), older) << "at " << t << " s";
  }
  EXPECT_EQ(dropped(bus.broker->stats(0), DropReason::ttl_expired), 100u);
  bus.check_conservation();
}

// With compression the upload cap paces by wire bytes: a backlog B (stored bytes) drains in B·k / (cap − r·b·k) for a
// compression ratio k (here 0.5), not in B / (cap − r·b). (Killed mutant: bus-upload-cap-raw-bytes.)
TEST(TelemetryBroker, UploadCapPacesByWireBytes) {
  const double r = 10, b = 1000, k = 0.5, cap = 50e3;
  auto c = config(Overflow::drop_oldest, 1ULL << 30);
  c.forwarder.upload_cap_bytes_per_s = cap;
  c.forwarder.compression = k;
  c.forwarder.max_batch_bytes = 256 * 1024;
  Bus bus(c);
  bus.capacity = 1e6;
  bus.sensor(r, static_cast<std::uint32_t>(b), 10);
  bus.down();
  bus.run_to(1800);
  const double backlog = static_cast<double>(bus.broker->buffered_bytes(0));
  bus.up();
  double drained_at = -1;
  for (double t = 1800; t < 3 * 3600; t += 1) {
    bus.timers.advance_to(t);
    if (bus.broker->caught_up()) {
      drained_at = t;
      break;
    }
  }
  EXPECT_NEAR(drained_at - 1800, backlog * k / (cap - r * b * k), 10.0);
}

// retry_limit counts retries after the first try: with retry_limit = 2 a batch is sent three times before it is
// discarded. (Killed mutant: bus-retry-limit-off-by-one.)
TEST(TelemetryBroker, RetryLimitAllowsThatManyRetriesAfterTheFirstTry) {
  auto c = config(Overflow::drop_oldest, 1ULL << 30, 1);
  c.forwarder.retry_limit = 2;
  Bus bus(c);
  bus.down();
  bus.timers.advance_to(10);
  bus.broker->produce(0, 10, 100, 0, 10, 5, 1);
  std::size_t sends_before_drop = 0;
  for (double t = 10; t <= 120 && dropped(bus.broker->stats(0), DropReason::retries_exhausted) == 0; t += 0.5) {
    sends_before_drop = bus.sent.size();
    bus.timers.advance_to(t);
  }
  EXPECT_EQ(dropped(bus.broker->stats(0), DropReason::retries_exhausted), 10u);
  EXPECT_EQ(bus.sent.size(), 3u) << "the first try and two retries";
  EXPECT_LE(sends_before_drop, 3u);
  bus.check_conservation();
}

// Greengrass spooler: QoS 0 is evicted first; QoS 1 is never evicted; then new messages are rejected.
TEST(TelemetryBroker, PriorityEvictTakesQos0FirstAndNeverQos1) {
  auto c = config(Overflow::priority_evict, 100'000);
  c.stream.keep_qos0_offline = true;
  Bus bus(c);
  bus.sensor(1, 100, 10, 0, 5, 0);  // QoS 0: 100 B/s
  bus.sensor(1, 100, 10, 0, 5, 1);  // QoS 1: 100 B/s
  bus.down();
  bus.run_to(400);  // 80 kB: fits
  EXPECT_EQ(bus.broker->stats(0).dropped_total(), 0U);
  bus.run_to(1000);  // 200 kB offered: QoS 0 evicted to make room for QoS 1
  const auto& st = bus.broker->stats(0);
  EXPECT_GT(dropped(st, DropReason::evicted), 0U);
  std::uint64_t qos1 = 0;
  for (const auto& r : bus.broker->runs(0))
    if (r.qos == 1) qos1 += r.count;
  EXPECT_EQ(qos1, 1000U) << "every QoS 1 message is still stored";
  bus.run_to(2000);  // the spool is all QoS 1 now: new messages are rejected, QoS 1 stays
  EXPECT_GT(dropped(st, DropReason::rejected), 0U);
  double oldest_qos1 = -1;
  for (const auto& r : bus.broker->runs(0))
    if (r.qos == 1 && r.count > 0) {
      oldest_qos1 = r.first_time();
      break;
    }
  EXPECT_DOUBLE_EQ(oldest_qos1, 1.0) << "the first QoS 1 message ever produced is still stored";
}

TEST(TelemetryBroker, Qos0IsDroppedOfflineUnlessKept) {
  auto c = config(Overflow::drop_oldest, 1 << 20);
  c.stream.keep_qos0_offline = false;
  Bus bus(c);
  bus.sensor(1, 100, 10, 0, 5, 0);
  bus.run_to(100);
  bus.down();
  bus.run_to(200);  // the broker learns it is offline at its first failed send
  bus.run_to(1200);
  // Offline from the moment the batch in flight failed (100 s): what is produced in (100, 1200] is dropped.
  EXPECT_EQ(dropped(bus.broker->stats(0), DropReason::qos0_offline), 1100U);
}

// A memory stream loses its buffer in a crash; a disk stream loses at most one sync interval; with sync on every
// write, nothing. Everything is counted.
TEST(TelemetryBroker, CrashLosesMemoryBufferOrOneSyncInterval) {
  for (auto [storage, fsync] : {std::pair{Storage::memory, 0.0}, {Storage::disk, 60.0}, {Storage::disk, 0.0}}) {
    auto c = config(Overflow::drop_oldest, 1ULL << 30);
    c.stream.storage = storage;
    c.stream.fsync_interval_s = fsync;
    Bus bus(c);
    bus.sensor(10, 100, 10);
    bus.down();
    bus.run_to(1000);
    const auto before = bus.broker->buffered_msgs(0);
    bus.broker->on_crash();
    const auto lost = dropped(bus.broker->stats(0), DropReason::crash_lost);
    if (storage == Storage::memory) {
      EXPECT_EQ(lost, before);
    } else if (fsync > 0) {
      EXPECT_LE(lost, static_cast<std::uint64_t>(10 * fsync));
      EXPECT_GT(lost, 0U);
    } else {
      EXPECT_EQ(lost, 0U);
    }
    bus.run_to(1100);  // down: production counted as broker_down
    EXPECT_EQ(dropped(bus.broker->stats(0), DropReason::broker_down), 1000U);
    bus.broker->on_boot();
    bus.up();
    bus.run_to(3000);
    bus.check_conservation();
    EXPECT_EQ(bus.accepted[0], bus.broker->stats(0).delivered);
  }
}

// At least once: a lost acknowledgement makes the broker send the batch again; the cloud de-duplicates by sequence
// number and sees every message once, in order.
TEST(TelemetryBroker, LostAcksAreReplayedAndDeduplicatedBySequence) {
  Bus bus(config(Overflow::drop_oldest, 1 << 24));
  bus.sensor(10, 100, 10);
  bus.run_to(100);
  bus.lose_acks = 3;
  bus.run_to(1000);
  const auto& st = bus.broker->stats(0);
  EXPECT_GT(bus.duplicates, 0U);
  // Every message the cloud accepted was acknowledged, or is still stored because its acknowledgement was lost.
  const std::uint64_t hwm = bus.cloud.high_water_mark(0, 0);
  std::uint64_t stored_but_accepted = 0;
  for (const auto& r : bus.broker->runs(0))
    if (r.count > 0 && r.first_seq <= hwm) stored_but_accepted += std::min(r.count, hwm - r.first_seq + 1);
  EXPECT_EQ(bus.accepted[0], st.delivered + stored_but_accepted);
  EXPECT_EQ(st.dropped_total(), 0U);
}

// Fluent Bit: Retry_Limit 1 discards a batch after its second failure.
TEST(TelemetryBroker, RetryLimitDiscardsTheBatch) {
  auto c = config(Overflow::drop_oldest, 1ULL << 30, 1);
  c.forwarder.retry_limit = 1;
  c.forwarder.max_batch_bytes = 1000;
  Bus bus(c);
  bus.sensor(10, 100, 1);
  bus.down();
  bus.run_to(60);
  EXPECT_GT(dropped(bus.broker->stats(0), DropReason::retries_exhausted), 0U);
  bus.check_conservation();
}

// Strict priority between streams: the urgent stream's backlog goes first after reconnect.
TEST(TelemetryBroker, UrgentStreamDrainsFirst) {
  auto c = config(Overflow::drop_oldest, 1ULL << 30);
  c.forwarder.max_batch_bytes = 100'000;
  StreamConfig urgent = c.stream;
  urgent.priority = 0;
  Bus bus(c, {"bulk", "alarms"}, {{"alarms", urgent}});
  bus.capacity = 50e3;
  bus.sensor(10, 1000, 10, 0);
  bus.sensor(1, 1000, 10, 1);
  bus.down();
  bus.run_to(3600);
  bus.up();
  bus.run_to(3600 + 100);
  // 3.6 MB of alarms at 50 kB/s take 72 s; the bulk backlog (36 MB) is still far behind.
  EXPECT_LE(bus.broker->backlog_age(1), 20.0) << "alarms caught up within 100 s";
  EXPECT_GT(bus.broker->backlog_age(0), 3000.0);
}

// What a real broker read back from its disk after its process restarted (fleetsim-bus): the messages keep their own
// sequence numbers (gaps and all) and go out first, counted as this process's produced (so produced = delivered +
// buffered + dropped still holds); what the stream has no room for now is dropped as evicted; a sequence at or below
// a stored one is refused.
TEST(TelemetryBroker, RestoredMessagesKeepTheirSequenceAndGoFirst) {
  BusConfig c = config(Overflow::drop_oldest, 0, 1);
  c.stream.max_msgs = 3;
  Bus bus(c);
  EXPECT_TRUE(bus.broker->restore(0, 5, 100, 0.5, 5, 1));
  EXPECT_TRUE(bus.broker->restore(0, 6, 100, 0.6, 5, 1));
  EXPECT_TRUE(bus.broker->restore(0, 9, 100, 0.9, 5, 1));
  EXPECT_FALSE(bus.broker->restore(0, 12, 100, 1.2, 5, 1));  // a fourth: no room for it
  EXPECT_THROW(bus.broker->restore(0, 12, 100, 1.2, 5, 1), std::invalid_argument);
  EXPECT_EQ(bus.broker->stats(0).produced, 4u);
  EXPECT_EQ(dropped(bus.broker->stats(0), DropReason::evicted), 1u);
  EXPECT_EQ(bus.broker->buffered_msgs(0), 3u);
  EXPECT_EQ(bus.broker->next_seq(0), 13u);
  bus.run_to(1.5);
  ASSERT_FALSE(bus.sent.empty());
  std::vector<std::uint64_t> seqs;
  for (const auto& r : bus.sent[0].runs)
    for (std::uint64_t q = r.first_seq; q < r.first_seq + r.count; ++q) seqs.push_back(q);
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{5, 6, 9}));
  EXPECT_EQ(bus.accepted[0], 3u);
  EXPECT_EQ(bus.broker->stats(0).delivered, 3u);
  bus.broker->produce(0, 1, 100, 1.5, 1.5, 5, 1);
  EXPECT_EQ(bus.broker->runs(0).back().first_seq, 13u);  // after every restored one
}

TEST(TelemetryPresets, ReproduceDocumentedDefaults) {
  for (const auto& name : preset_names()) EXPECT_TRUE(preset(name).has_value()) << name;
  EXPECT_FALSE(preset("kafka").has_value());
  auto spool = *preset("greengrass_spool");
  EXPECT_EQ(spool.stream.max_bytes, 2621440U);
  EXPECT_EQ(spool.stream.storage, Storage::memory);
  EXPECT_EQ(spool.stream.overflow, Overflow::priority_evict);
  auto sm = *preset("greengrass_stream_manager");
  EXPECT_EQ(sm.stream.max_bytes, 256ULL << 20);
  EXPECT_EQ(sm.stream.segment_bytes, 16ULL << 20);
  EXPECT_EQ(preset("azure_edgehub")->stream.ttl_s, 7200);
  EXPECT_EQ(preset("mosquitto_bridge")->stream.max_msgs, 1000U);
  EXPECT_EQ(preset("mosquitto_bridge")->stream.overflow, Overflow::reject_new);
  EXPECT_EQ(preset("avassa_volga")->stream.segment_bytes, 1ULL << 20);
  EXPECT_EQ(preset("fluentbit_fs")->forwarder.retry_limit, 1U);
  EXPECT_EQ(preset("fluentbit_fs")->forwarder.retry_max_s, 2000);
}

// A spool of 2.5 MB at 10 kB/s fills in about 4 minutes (edge-platforms.md 3.2); Mosquitto keeps 1000 messages.
TEST(TelemetryPresets, SmallDefaultsFillFast) {
  Bus spool(*preset("greengrass_spool"));
  spool.sensor(100, 100, 5);  // 10 kB/s, QoS 1
  spool.down();
  spool.run_to(240);
  EXPECT_EQ(spool.broker->stats(0).dropped_total(), 0U);
  spool.run_to(300);
  EXPECT_GT(dropped(spool.broker->stats(0), DropReason::rejected), 0U);
  Bus mosquitto(*preset("mosquitto_bridge"));
  mosquitto.sensor(100, 100, 5);
  mosquitto.down();
  mosquitto.run_to(600);
  EXPECT_EQ(mosquitto.broker->buffered_msgs(0), 1000U);
}

// A replay that straddles the cloud's mark: 1..10 accepted, then 6..15 arrives: only 11..15 is new, and it is
// accepted once, with its first message's time moved along with it; a whole replay of 1..15 is all duplicates.
TEST(CloudReceiver, AcceptsOnlyThePartOfAStraddlingBatchAboveItsMark) {
  CloudReceiver cloud;
  auto batch = [](std::uint64_t first, std::uint64_t count) {
    Batch b;
    MessageRun r;
    r.stream = 2;
    r.first_seq = first;
    r.count = count;
    r.msg_bytes = 100;
    r.t0 = static_cast<double>(first - 1);
    r.dt = 1;
    b.runs.push_back(r);
    return b;
  };
  auto first = cloud.receive(4, batch(1, 10));
  ASSERT_EQ(first.accepted.size(), 1u);
  EXPECT_EQ(first.accepted[0].count, 10u);
  EXPECT_EQ(cloud.high_water_mark(4, 2), 10u);
  auto straddling = cloud.receive(4, batch(6, 10));
  EXPECT_EQ(straddling.duplicates, 5u);
  ASSERT_EQ(straddling.accepted.size(), 1u);
  EXPECT_EQ(straddling.accepted[0].first_seq, 11u);
  EXPECT_EQ(straddling.accepted[0].count, 5u);
  EXPECT_DOUBLE_EQ(straddling.accepted[0].first_time(), 11.0);  // message 11 was produced at t = 11
  EXPECT_EQ(cloud.high_water_mark(4, 2), 15u);
  auto replay = cloud.receive(4, batch(1, 15));
  EXPECT_TRUE(replay.accepted.empty());
  EXPECT_EQ(replay.duplicates, 15u);
  EXPECT_EQ(cloud.high_water_mark(3, 2), 0u) << "another site's stream is its own";
}

}  // namespace
}  // namespace fleetsim::agents::telemetry
