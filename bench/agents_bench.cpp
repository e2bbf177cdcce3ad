// Hot paths of the code under test, driven through minimal in-memory ports: what one simulated event costs
// the agents themselves (the simulator's own cost is measured by the scale run, bench/scale_run).
#include <deque>
#include <vector>

#include <benchmark/benchmark.h>

#include "fleetsim/agents/node_agent.hpp"
#include "fleetsim/agents/orchestrator.hpp"
#include "fleetsim/agents/telemetry.hpp"

namespace {

using namespace fleetsim::agents;

// Ports that do nothing but hand out ids and remember what must be completed.
struct NullPorts final : Clock, Random, Timers, NodeChannel, OrchestratorChannel, Registry, ContainerRuntime {
  Time t = 0;
  TimerId next_timer = 1;
  TransferId next_transfer = 1;
  std::vector<std::pair<TransferId, std::uint64_t>> fetches;
  std::vector<std::string> started;
  std::size_t sent = 0;
  Time now() const override { return t; }
  double uniform01() override { return 0.5; }
  TimerId set_timer(double) override { return next_timer++; }
  void cancel_timer(TimerId) override {}
  void send_to_orchestrator(const Message&) override { ++sent; }
  void send_to_node(NodeId, const Message&) override { ++sent; }
  TransferId start_fetch(const Layer& layer, std::uint64_t offset) override {
    fetches.emplace_back(next_transfer, layer.size_bytes - offset);
    return next_transfer++;
  }
  void cancel_fetch(TransferId) override {}
  void remove_layer(const std::string&) override {}
  void start_container(const Release& release) override { started.push_back(release.app); }
  void stop_container(const std::string&) override {}
};

Release make_release(Revision revision) {
  Release r;
  r.app = "pos";
  r.revision = revision;
  r.version = std::to_string(revision);
  r.layers = {{"base", 30 << 20}, {"app-" + r.version, 80 << 20}, {"cfg-" + r.version, 1 << 20}};
  return r;
}

// One node agent taking a full update: desired state, three layer fetches, start, healthy report.
void BM_NodeAgent_UpdateCycle(benchmark::State& state) {
  NullPorts ports;
  NodeAgentConfig config;
  config.disk_bytes = 1ULL << 40;
  NodeAgent agent(config, {ports, ports, ports, ports, ports, ports});
  std::uint64_t generation = 0;
  for (auto _ : state) {
    ++generation;
    agent.on_message(DesiredState{generation, make_release(static_cast<Revision>(generation))});
    while (!ports.fetches.empty()) {
      auto fetches = std::move(ports.fetches);
      ports.fetches.clear();
      for (auto [id, bytes] : fetches) agent.on_fetch_done(id, FetchResult{true, bytes, {}, {}});
    }
    agent.on_container_event("pos", ContainerEvent::started);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NodeAgent_UpdateCycle);

// The orchestrator notifying N nodes and digesting one healthy report from each (status dispatch).
void BM_Orchestrator_RolloutDispatch(benchmark::State& state) {
  const auto n = static_cast<NodeId>(state.range(0));
  std::vector<NodeInfo> inventory;
  for (NodeId i = 0; i < n; ++i) inventory.push_back({i, "n" + std::to_string(i), "s", {{"role", "pos"}}, {}});
  for (auto _ : state) {
    NullPorts ports;
    Orchestrator orchestrator(inventory, {ports, ports, ports});
    Command deploy;
    deploy.release = make_release(0);
    deploy.selector = {{"role", "pos"}};
    orchestrator.submit(deploy);
    for (NodeId i = 0; i < n; ++i) orchestrator.on_message(StatusReport{i, "pos", 1, 1, NodeAppState::healthy, {}, FailureReason::none});
    benchmark::DoNotOptimize(orchestrator.all_operations_finished());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Orchestrator_RolloutDispatch)->Arg(1000)->Arg(10000);

// Wire-size computation, done for every message the simulator moves.
void BM_Protocol_WireSize(benchmark::State& state) {
  Message m = DesiredState{1, make_release(1)};
  for (auto _ : state) benchmark::DoNotOptimize(wire_size(m));
}
BENCHMARK(BM_Protocol_WireSize);

// One batch interval of a site's telemetry bus: 10 sensor kinds hand over their readings, the broker builds a
// batch, the cloud de-duplicates it, and the acknowledgement frees the buffer.
struct BusPorts final : Clock, Random, Timers, telemetry::UplinkPort {
  Time t = 0;
  TimerId next_timer = 1;
  std::vector<telemetry::Batch> sent;
  Time now() const override { return t; }
  double uniform01() override { return 0.5; }
  TimerId set_timer(double) override { return next_timer++; }
  void cancel_timer(TimerId) override {}
  void send_batch(const telemetry::Batch& batch) override { sent.push_back(batch); }
};

void BM_Broker_BatchInterval(benchmark::State& state) {
  BusPorts ports;
  telemetry::BusConfig config = *telemetry::preset("greengrass_stream_manager");
  telemetry::Broker broker(config, {"telemetry", "events"}, {}, {ports, ports, ports, ports});
  telemetry::CloudReceiver cloud;
  broker.start();
  const TimerId tick = 1;  // the broker's first timer is its tick
  for (auto _ : state) {
    const double t0 = ports.t;
    ports.t += 10;
    for (int k = 0; k < 10; ++k)
      broker.produce(k < 8 ? 0 : 1, 50, static_cast<std::uint32_t>(100 + 20 * k), t0, ports.t, 5, 1);
    broker.on_timer(ports.next_timer - 1 >= tick ? ports.next_timer - 1 : tick);
    for (auto& batch : ports.sent) {
      benchmark::DoNotOptimize(cloud.receive(0, batch));
      broker.on_batch_result(batch.id, true);
    }
    ports.sent.clear();
  }
}
BENCHMARK(BM_Broker_BatchInterval);

}  // namespace
