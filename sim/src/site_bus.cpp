#include "site_bus.hpp"

#include <algorithm>
#include <cmath>

#include "bulk_network.hpp"

namespace fleetsim::sim {

namespace sg4 = simgrid::s4u;
namespace telem = agents::telemetry;

SiteBus::SiteBus(World& world, std::size_t site, EventLoop& loop)
    : world_(world),
      site_index_(site),
      site_(world.platform.sites[site]),
      tpl_(*site_.site_template),
      streams_(tpl_.streams()),
      random_(world.options.seed, site_.name, "bus"),
      broker_(tpl_.bus->config, streams_, tpl_.bus->streams, telem::BrokerPorts{*this, *this, *this, *this}),
      loop_(loop) {
  broker_node_ = world.site_nodes[site].front();
  host_ = world.platform.nodes[broker_node_].host;
  add_sources();
  produced_.assign(streams_.size(), 0);
  delivered_.assign(streams_.size(), 0);
  uplink_on_ = site_.uplink_up->is_on() && site_.uplink_down->is_on();
  ack_latency_ = control_path(world.platform.ingest, host_).latency_s;
  measure_rates();
}

// The site's sensors (one source per sensor kind for all its nodes) and each GPU node's cameras.
void SiteBus::add_sources() {
  const std::size_t nodes = world_.site_nodes[site_index_].size();
  for (const auto& sensor : tpl_.sensors)
    sensors_.push_back(
        Sensor{&sensor, stream_index(sensor.stream),
               models::SensorSource(sensor.model, nodes,
                                    models::RandomStream(world_.options.seed, site_.name, "sensor/" + sensor.name))});
  if (!tpl_.inference) return;
  inference_stream_ = stream_index(tpl_.inference->stream);
  const double fps = tpl_.inference->fps.per_s * tpl_.inference->cameras;
  for (std::size_t node : world_.site_nodes[site_index_]) {
    const PlatformNode& n = world_.platform.nodes[node];
    if (n.gpu == nullptr) continue;
    gpus_.push_back(Gpu{node, n.gpu, models::FrameQueue(tpl_.inference->queue_frames),
                        models::SensorSource(models::SensorModel{models::SensorProcess::periodic, fps, 0, 0}, 1,
                                             models::RandomStream(world_.options.seed, n.name, "camera")),
                        false});
  }
}

// Capacity for telemetry: the uplink's up direction's payload rate, or the upload cap if lower; the live rate.
void SiteBus::measure_rates() {
  const std::size_t nodes = world_.site_nodes[site_index_].size();
  const auto& fw = tpl_.bus->config.forwarder;
  capacity_ = tpl_.uplink_up.bytes_per_s * site_.uplink_efficiency;  // payload rate (WireSpec)
  if (fw.upload_cap_bytes_per_s > 0) capacity_ = std::min(capacity_, fw.upload_cap_bytes_per_s);
  for (const auto& sensor : tpl_.sensors)
    live_rate_ += sensor.model.mean_rate() * static_cast<double>(nodes * sensor.size.count);
  if (tpl_.inference && tpl_.hardware.gpu) {
    const double frames = std::min(tpl_.inference->fps.per_s * tpl_.inference->cameras,
                                   tpl_.hardware.gpu->throughput.per_s * tpl_.hardware.gpu->count);
    live_rate_ += frames * static_cast<double>(gpus_.size() * tpl_.inference->result_size.count);
  }
  live_rate_ *= fw.compression;
}

checks::BusLayout SiteBus::layout() const {
  checks::BusLayout layout;
  layout.broker_node = broker_node_;
  layout.batch_interval_s = tpl_.bus->config.forwarder.batch_interval_s;
  layout.upload_cap_bytes_per_s = tpl_.bus->config.forwarder.upload_cap_bytes_per_s;
  for (std::size_t s = 0; s < streams_.size(); ++s) {
    const auto& c = broker_.stream_config(s);
    layout.streams.push_back(
        {streams_[s], c.max_bytes, c.max_msgs, c.ttl_s, c.storage == telem::Storage::disk, c.fsync_interval_s});
  }
  return layout;
}

void SiteBus::start() {
  interval_ = tpl_.bus->config.forwarder.batch_interval_s;
  // Sites do not tick in step: each bus starts at its own phase in [0, interval), drawn from the seed. (In step,
  // every site's batch would leave at the same instant and all of them would share one bandwidth-sharing
  // problem, as no real fleet does.) The production tick is armed before the broker starts: at equal times the
  // sensors hand over first.
  // Phases come in slots of the interval, one slot per 32 sites with a bus (at most 256): sites of a slot tick
  // together (one engine step for all of them) and about 32 uploads start together (docs/ENGINE.md,
  // "Telemetry transfers").
  const double slots = std::clamp(std::ceil(static_cast<double>(world_.bus_sites) / 32.0), 1.0, 256.0);
  const double slot =
      std::floor(models::RandomStream(world_.options.seed, site_.name, "bus-phase").uniform01() * slots);
  const double phase = (slot + 1) / slots * interval_;
  // The broker's batch interval is driven from here: one timer per site and interval hands the readings over
  // and then lets the broker send.
  loop_.add_timer(phase, [this] {
    broker_.start(/*external_tick=*/true);
    produce_tick();
  });
  sample_period_ = world_.scenario.simulation.telemetry_sample.seconds;
  // Every site's ticks, samples and acknowledgements share a few delays: each delay is a lane of the loop.
  tick_lane_ = loop_.lane(interval_);
  sample_lane_ = loop_.lane(sample_period_);
  if (ack_latency_ > 0) ack_lane_ = loop_.lane(ack_latency_);
  loop_.add_timer_in(sample_lane_, [this] { sample(); });
}

agents::Time SiteBus::now() const { return sg4::Engine::get_clock(); }

agents::TimerId SiteBus::set_timer(double delay_s) {
  auto id = std::make_shared<agents::TimerId>(0);
  *id = loop_.add_timer(delay_s, [this, id] {
    broker_.on_timer(*id);
    after();
  });
  return *id;
}

void SiteBus::send_batch(const telem::Batch& batch) {
  world_.record(checks::BatchSent{now(), site_index_, batch.wire_bytes});
  std::shared_ptr<const telem::Batch> b;
  for (auto& pooled : batch_pool_)
    if (pooled.use_count() == 1) {
      *pooled = batch;  // copy-assigning keeps the runs vector's capacity
      b = pooled;
      break;
    }
  if (!b) b = batch_pool_.emplace_back(std::make_shared<telem::Batch>(batch));
  if (world_.bulk != nullptr) {
    world_.bulk->start(host_, world_.platform.ingest, static_cast<double>(batch.wire_bytes), loop_,
                       [this, b](bool ok, double /*remaining*/) { transfer_done(b, ok); });
    return;
  }
  auto comm = world_.sendto(host_, world_.platform.ingest, batch.wire_bytes);
  loop_.watch(comm, [this, b](bool ok) { transfer_done(b, ok); });
}

void SiteBus::crash() {
  loop_.post_at(now(), [this] {
    std::vector<std::uint64_t> lost_before(streams_.size());
    for (std::size_t s = 0; s < streams_.size(); ++s) lost_before[s] = lost(s);
    std::vector<std::uint64_t> buffered(streams_.size());
    for (std::size_t s = 0; s < streams_.size(); ++s) buffered[s] = broker_.buffered_msgs(s);
    broker_.on_crash();
    for (std::size_t s = 0; s < streams_.size(); ++s)
      world_.record(checks::BrokerCrashed{now(), site_index_, s, lost(s) - lost_before[s], buffered[s]});
    world_.events.push_back({now(), "bus.crash", "", "broker", site_.name});
  });
}

void SiteBus::boot() {
  loop_.post_at(now(), [this] {
    broker_.on_boot();
    world_.events.push_back({now(), "bus.boot", "", "broker", site_.name});
    after();
  });
}

void SiteBus::uplink_changed(bool up) {
  uplink_on_ = up;  // at once, as the links' own state: an acknowledgement due at this instant reads it
  loop_.post_at(now(), [this, up] {
    if (up) {
      if (!broker_.caught_up()) {
        std::uint64_t backlog = 0;
        for (std::size_t s = 0; s < streams_.size(); ++s) backlog += broker_.buffered_bytes(s);
        drains_.push_back({now(), backlog, std::nullopt});
        drain_open_ = true;
      }
    } else {
      drain_open_ = false;  // a drain the next outage interrupts stays unfinished
    }
  });
}

void SiteBus::gpu_changed(std::size_t node, bool failed) {
  for (std::size_t g = 0; g < gpus_.size(); ++g) {
    if (gpus_[g].node != node) continue;
    if (failed) {
      gpus_[g].host->turn_off();  // the execution in progress fails; its frames are lost
    } else {
      gpus_[g].host->turn_on();
      loop_.post_at(now(), [this, g] { start_exec(g); });
    }
  }
}

reports::TelemetrySite SiteBus::site_result() const {
  reports::TelemetrySite r;
  r.site = site_.name;
  r.scope = tpl_.name;
  for (std::size_t s = 0; s < streams_.size(); ++s) {
    const auto& st = broker_.stats(s);
    r.produced += produced_[s];
    r.delivered += delivered_[s];
    r.dropped += st.dropped_total();
    for (std::size_t reason = 0; reason < telem::kDropReasons; ++reason)
      r.dropped_by_reason[telem::to_string(static_cast<telem::DropReason>(reason))] += st.dropped[reason];
  }
  r.duplicates = duplicates_;
  r.peak_buffer_bytes = peak_bytes_;
  r.live_bytes_per_s = live_rate_;
  r.capacity_bytes_per_s = capacity_;
  r.drains = drains_;
  return r;
}

std::vector<checks::StreamAtEnd> SiteBus::streams_at_end() const {
  std::vector<checks::StreamAtEnd> out;
  for (std::size_t s = 0; s < streams_.size(); ++s) {
    const auto& st = broker_.stats(s);
    std::uint64_t walked = 0;
    for (const auto& r : broker_.runs(s)) walked += r.count;
    out.push_back({site_index_, s, produced_[s], st.delivered, walked, broker_.buffered_msgs(s), st.dropped_total(),
                   delivered_[s]});
  }
  return out;
}

std::uint64_t SiteBus::buffered_msgs() const {
  std::uint64_t n = 0;
  for (std::size_t s = 0; s < streams_.size(); ++s) n += broker_.buffered_msgs(s);
  return n;
}

std::vector<const models::FrameQueue*> SiteBus::frame_queues() const {
  std::vector<const models::FrameQueue*> out;
  for (const auto& g : gpus_) out.push_back(&g.queue);
  return out;
}

std::size_t SiteBus::stream_index(const std::string& name) const {
  return static_cast<std::size_t>(std::find(streams_.begin(), streams_.end(), name) - streams_.begin());
}

std::uint64_t SiteBus::lost(std::size_t s) const {
  return broker_.stats(s).dropped[static_cast<int>(telem::DropReason::crash_lost)];
}

void SiteBus::produce(std::size_t stream, std::uint64_t count, std::uint32_t size, double t0, double t1, int priority,
                      int qos) {
  produced_[stream] += count;
  broker_.produce(stream, count, size, t0, t1, priority, qos);
  world_.record(checks::TelemetryProduced{t1, site_index_, stream, produced_[stream], broker_.buffered_bytes(stream),
                                          broker_.buffered_msgs(stream)});
}

void SiteBus::produce_tick() {
  const double t1 = now();
  const double t0 = last_tick_;
  last_tick_ = t1;
  for (auto& sensor : sensors_)
    produce(sensor.stream, sensor.source.count(t0, t1), static_cast<std::uint32_t>(sensor.spec->size.count), t0, t1,
            sensor.spec->priority, sensor.spec->qos);
  for (std::size_t g = 0; g < gpus_.size(); ++g) {
    // What the GPU will process in the next interval beyond the work it already holds.
    Gpu& gpu = gpus_[g];
    double service = gpu.host->is_on() ? gpu.host->get_speed() * interval_ : 0.0;
    if (gpu.exec) service -= gpu.exec->get_remaining();
    gpu.queue.arrive(gpu.cameras.count(t0, t1), service > 0 ? static_cast<std::uint64_t>(service) : 0);
    start_exec(g);
  }
  if (tpl_.inference) {
    produce(inference_stream_, results_pending_, static_cast<std::uint32_t>(tpl_.inference->result_size.count), t0, t1,
            tpl_.inference->priority, 1);
    results_pending_ = 0;
  }
  broker_.tick();
  loop_.add_timer_in(tick_lane_, [this] { produce_tick(); });
  after();
}

// The GPU works through every queued frame in one execution; frames arriving meanwhile wait for the next one.
void SiteBus::start_exec(std::size_t g) {
  Gpu& gpu = gpus_[g];
  if (gpu.busy || !gpu.host->is_on() || gpu.queue.queued() == 0) return;
  const std::uint64_t frames = gpu.queue.take();
  gpu.busy = true;
  auto exec = sg4::this_actor::exec_init(static_cast<double>(frames));
  exec->set_host(gpu.host);
  exec->start();
  gpu.exec = exec;
  loop_.watch_activity(exec, [this, g, frames](bool ok) {
        Gpu& done = gpus_[g];
        done.busy = false;
        done.exec = nullptr;
        if (ok) {
          done.queue.complete(frames);
          results_pending_ += frames;
        } else {
          done.queue.fail(frames);
        }
        start_exec(g);
      });
}

void SiteBus::transfer_done(const std::shared_ptr<const telem::Batch>& batch, bool ok) {
  if (!ok) {
    broker_.on_batch_result(batch->id, false);
    after();
    return;
  }
  world_.site_uplink_bytes[site_index_] += batch->wire_bytes;
  world_.site_up_bytes[site_index_] += batch->wire_bytes;
  // The records are members, filled in place: their vectors keep their capacity from batch to batch.
  world_.cloud.receive(static_cast<std::uint32_t>(site_index_), *batch, received_);
  accepted(received_);  // the bus's own counts: the checks below see none of them
  arrived_.t = now();
  arrived_.site = site_index_;
  arrived_.sent_at = batch->sent_at;
  arrived_.runs = batch->runs;
  arrived_.accepted = received_.accepted;
  world_.record(arrived_);
  auto acknowledge = [this, batch] {
    const bool up = uplink_on_;
    acknowledged_.t = now();
    acknowledged_.site = site_index_;
    acknowledged_.runs = batch->runs;
    acknowledged_.delivered = up;
    world_.record(acknowledged_);
    broker_.on_batch_result(batch->id, up);
    after();
  };
  if (ack_lane_ != 0)
    loop_.add_timer_in(ack_lane_, std::move(acknowledge));
  else
    loop_.add_timer(0, std::move(acknowledge));
}

// What the cloud accepted: delivered counts and delays (each run in up to 8 slices, each at its middle message's
// age).
void SiteBus::accepted(const telem::CloudReceiver::Result& result) {
  duplicates_ += result.duplicates;
  const double t = now();
  for (const auto& r : result.accepted) {
    delivered_[r.stream] += r.count;
    // Oldest first, so the delays do not increase (DelayHistogram::add_descending).
    double delay[8], count[8];
    std::size_t n = 0;
    if (r.count < 8) {  // a slice per message
      for (std::uint64_t i = 0; i < r.count; ++i, ++n) {
        delay[n] = t - r.event_time(i);
        count[n] = 1.0;
      }
    } else {
      std::uint64_t lo = 0;
      for (std::uint64_t k = 1; k <= 8; ++k) {
        const std::uint64_t hi = r.count * k / 8;  // a shift: a division by a variable was most of this loop
        if (hi > lo) {
          delay[n] = t - r.event_time((lo + hi - 1) / 2);
          count[n++] = static_cast<double>(hi - lo);
        }
        lo = hi;
      }
    }
    delays_.add_descending(delay, count, n);
  }
}

// Bookkeeping after anything happened: drains, peaks, backlog age.
void SiteBus::after() {
  std::uint64_t bytes = 0, msgs = 0;
  for (std::size_t s = 0; s < streams_.size(); ++s) {
    bytes += broker_.buffered_bytes(s);
    msgs += broker_.buffered_msgs(s);
    max_backlog_age_ = std::max(max_backlog_age_, broker_.backlog_age(s));
  }
  peak_bytes_ = std::max(peak_bytes_, bytes);
  peak_msgs_ = std::max(peak_msgs_, msgs);
  if (drain_open_ && broker_.caught_up()) {
    drains_.back().drained_after_s = now() - drains_.back().up_at_s;
    drain_open_ = false;
  }
}

void SiteBus::sample() {
  const auto k = static_cast<std::size_t>(std::llround(now() / sample_period_)) - 1;
  std::uint64_t bytes = 0, msgs = 0, delivered = 0, dropped = 0;
  double age = 0;
  for (std::size_t s = 0; s < streams_.size(); ++s) {
    bytes += broker_.buffered_bytes(s);
    msgs += broker_.buffered_msgs(s);
    delivered += delivered_[s];
    dropped += broker_.stats(s).dropped_total();
    age = std::max(age, broker_.backlog_age(s));
  }
  for (const std::string& scope : {tpl_.name, std::string("fleet")}) {
    auto& smp = world_.sample(k, scope);
    smp.at_s = now();
    smp.buffered_bytes += bytes;
    smp.buffered_msgs += msgs;
    smp.max_site_bytes = std::max(smp.max_site_bytes, bytes);
    smp.max_backlog_age_s = std::max(smp.max_backlog_age_s, age);
    smp.sites_behind += broker_.caught_up() ? 0 : 1;
    smp.delivered += delivered;
    smp.dropped += dropped;
  }
  loop_.add_timer_in(sample_lane_, [this] { sample(); });
}

}  // namespace fleetsim::sim
