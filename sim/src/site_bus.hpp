// A site's telemetry on SimGrid: the broker (agents/telemetry.hpp) in its own actor on the site's first node, fed by
// the site's sensors (one draw per sensor kind per batch interval) and GPU inference results, uploading batches to
// the cloud's ingest host as SimGrid communications over the site uplink. It measures buffers, drains and delays,
// and records what the broker does for the checks (checks/telemetry invariants).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "delay_histogram.hpp"
#include "fleetsim/agents/telemetry.hpp"
#include "fleetsim/models/rng.hpp"
#include "fleetsim/models/sensors.hpp"
#include "world.hpp"

namespace fleetsim::sim {

class SiteBus final : public agents::Clock,
                      public agents::Random,
                      public agents::Timers,
                      public agents::telemetry::UplinkPort {
 public:
  // The bus's events run in `loop` (its own, or the one every site's agents and bus share: see run.cpp).
  SiteBus(World& world, std::size_t site, EventLoop& loop);

  EventLoop& loop() { return loop_; }
  std::size_t broker_node() const { return broker_node_; }
  // What the checks need to know of this bus: its streams' limits, its interval and cap.
  checks::BusLayout layout() const;
  // Arms the bus's first timers; its loop's actor runs them.
  void start();

  // Clock, Random, Timers
  agents::Time now() const override;
  double uniform01() override { return random_.uniform01(); }
  agents::TimerId set_timer(double delay_s) override;
  void cancel_timer(agents::TimerId id) override { loop_.cancel_timer(id); }
  // UplinkPort: the batch crosses the site uplink to the ingest host; the cloud's acknowledgement comes back after
  // the route's latency, and is lost if the uplink is down by then.
  void send_batch(const agents::telemetry::Batch& batch) override;

  // Faults, called from the fault injector's actor; the work runs in this bus's actor.
  void crash();
  void boot();
  void uplink_changed(bool up);
  void gpu_changed(std::size_t node, bool failed);

  // Results, once the simulation ended.
  reports::TelemetrySite site_result() const;
  std::vector<checks::StreamAtEnd> streams_at_end() const;
  std::uint64_t buffered_msgs() const;
  std::uint64_t peak_msgs() const { return peak_msgs_; }
  double max_backlog_age() const { return max_backlog_age_; }
  const DelayHistogram& delays() const { return delays_; }
  std::vector<const models::FrameQueue*> frame_queues() const;

 private:
  struct Sensor {
    const SensorSpec* spec;
    std::size_t stream;
    models::SensorSource source;
  };
  struct Gpu {
    std::size_t node;
    simgrid::s4u::Host* host;
    models::FrameQueue queue;
    models::SensorSource cameras;
    bool busy;
    simgrid::s4u::ExecPtr exec = nullptr;
  };

  void add_sources();
  void measure_rates();
  std::size_t stream_index(const std::string& name) const;
  std::uint64_t lost(std::size_t s) const;
  void produce(std::size_t stream, std::uint64_t count, std::uint32_t size, double t0, double t1, int priority,
               int qos);
  void produce_tick();
  void start_exec(std::size_t g);
  void transfer_done(const std::shared_ptr<const agents::telemetry::Batch>& batch, bool ok);
  void accepted(const agents::telemetry::CloudReceiver::Result& result);
  void after();
  void sample();

  World& world_;
  std::size_t site_index_;
  const PlatformSite& site_;
  const SiteTemplate& tpl_;
  std::vector<std::string> streams_;
  models::RandomStream random_;
  agents::telemetry::Broker broker_;
  EventLoop& loop_;
  simgrid::s4u::Host* host_ = nullptr;
  std::size_t broker_node_ = 0;
  std::vector<Sensor> sensors_;
  std::vector<Gpu> gpus_;
  std::size_t inference_stream_ = 0;
  std::uint64_t results_pending_ = 0;
  std::vector<std::uint64_t> produced_, delivered_;
  // Copies of the batches in flight, reused once no transfer or acknowledgement holds them (one per batch was two
  // allocations, a vector's and a shared_ptr's).
  std::vector<std::shared_ptr<agents::telemetry::Batch>> batch_pool_;
  agents::telemetry::CloudReceiver::Result received_;  // transfer_done's, kept for its buffer
  checks::BatchArrived arrived_;
  checks::BatchAcknowledged acknowledged_;
  bool uplink_on_ = true;  // both directions of the site's uplink (the fault injector tells: uplink_changed)
  double ack_latency_ = 0;
  EventLoop::Lane tick_lane_ = 0, sample_lane_ = 0, ack_lane_ = 0;  // lanes of the loop (start())
  double interval_ = 10;
  double sample_period_ = 60;
  double last_tick_ = 0;
  double capacity_ = 0;
  double live_rate_ = 0;
  std::uint64_t duplicates_ = 0;
  std::uint64_t peak_bytes_ = 0, peak_msgs_ = 0;
  double max_backlog_age_ = 0;
  DelayHistogram delays_;
  std::vector<reports::TelemetryDrain> drains_;
  bool drain_open_ = false;
};

}  // namespace fleetsim::sim
