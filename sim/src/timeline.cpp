#include "timeline.hpp"

#include <algorithm>
#include <memory>

#include <simgrid/Exception.hpp>

#include "logging.hpp"

namespace fleetsim::sim {

namespace sg4 = simgrid::s4u;

agents::Release make_release(const Scenario& scenario, const std::string& app_name, const std::string& version) {
  agents::Release release;
  release.app = app_name;
  release.version = version;
  for (const auto& app : scenario.apps) {
    if (app.name != app_name) continue;
    const AppVersionSpec* v = app.find(version);
    for (const auto& layer : v->layers) release.layers.push_back({layer.digest, layer.size.count});
    release.start_s = v->start_time.seconds;
    release.ready_s = v->ready_time.seconds;
    release.requires = v->requires;
  }
  return release;
}

namespace {

agents::Strategy make_strategy(const ActionSpec& action) {
  agents::Strategy s;
  if (action.strategy == "exponential") {
    s.kind = agents::Strategy::Kind::exponential;
    s.base_per_minute = action.base_per_minute;
    s.increment_factor = action.increment_factor;
    s.increase_after = action.increase_after;
    s.count_succeeded = action.count_succeeded;
    s.maximum_per_minute = action.maximum_per_minute;
  }
  if (action.strategy == "rolling") {
    s.kind = agents::Strategy::Kind::rolling;
    s.max_unavailable = action.max_unavailable;
    s.max_unavailable_percent = action.max_unavailable_percent;
    s.max_surge = action.max_surge;
    s.max_surge_percent = action.max_surge_percent;
  }
  if (action.strategy == "batches" || action.strategy == "canary") {
    s.kind = action.strategy == "canary" ? agents::Strategy::Kind::canary : agents::Strategy::Kind::batches;
    s.canary_size = action.canary_size;
    s.canary_percent = action.canary_percent;
    s.canary_selector = action.canary_selector;
    s.canary_time_s = action.canary_time.seconds;
    s.batch_size = action.batch_size;
    s.batch_percent = action.batch_percent;
    s.sites_in_parallel = action.sites_in_parallel;
    s.healthy_time_s = action.healthy_time.seconds;
  }
  return s;
}

}  // namespace

agents::Command make_command(const Scenario& scenario, const ActionSpec& action) {
  agents::Command c;
  c.kind = action.kind == ActionSpec::Kind::deploy ? agents::Command::Kind::deploy : agents::Command::Kind::rollout;
  c.release = make_release(scenario, action.app, action.version);
  c.selector = action.selector;
  c.node_deadline_s = action.node_deadline.seconds;
  c.abort_threshold_percent = action.abort_threshold_percent;
  c.abort_min_executed = action.abort_min_executed;
  c.abort_failure_type = action.abort_failure_type == "failed"      ? agents::Command::FailureType::failed
                         : action.abort_failure_type == "timed_out" ? agents::Command::FailureType::timed_out
                                                                    : agents::Command::FailureType::all;
  c.rollback =
      action.rollback == "revert_all" ? agents::Command::Rollback::revert_all : agents::Command::Rollback::none;
  c.strategy = make_strategy(action);
  return c;
}

void run_timeline(World& world, bool& hit_max_time) {
  world.admin_inbox->set_receiver(sg4::Actor::self());
  for (const auto& action : world.scenario.timeline) {
    auto envelope = std::make_shared<Envelope>();
    envelope->kind = Envelope::Kind::command;
    envelope->operation_name = action.name;
    envelope->command = make_command(world.scenario, action);
    Receiver* orchestrator = world.orchestrator;
    orchestrator->loop().post_at(action.at_s, [orchestrator, envelope] { orchestrator->receive(*envelope); });
  }
  const double max_time = world.scenario.simulation.max_time.seconds;
  if (!world.scenario.timeline.empty()) {
    try {
      std::unique_ptr<Envelope> done(
          world.admin_inbox->get<Envelope>(std::max(max_time - sg4::Engine::get_clock(), 0.0)));
    } catch (const simgrid::TimeoutException&) {
      hit_max_time = true;
      logger("sim")->warn("simulation.max_time ({}) reached before every operation finished",
                          models::format_duration(max_time));
    }
  }
  // A scenario may ask for a minimum duration (outage statistics, telemetry): run on until then.
  sg4::this_actor::sleep_until(std::min(world.scenario.simulation.duration.seconds, max_time));
  world.admin_inbox->set_receiver(nullptr);
  if (world.last_sample) world.last_sample();
  if (world.close_faults) world.close_faults();
  // Stop every actor's loop so that the simulation ends with no actor blocked.
  world.stop_every_loop();
}

}  // namespace fleetsim::sim
