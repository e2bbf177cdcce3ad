// One edge node on SimGrid: the node agent (agents/node_agent.hpp), driven by its site's event loop (one actor per
// site runs every node of the site: the agents are sans-IO, they need no stack of their own), with its ports on S4U: layer pulls are communications from the registry host, container starts are timers, the release's behaviour
// (crashes, exits) is drawn from the seed. It records what the node is told and does for the checks.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fleetsim/agents/node_agent.hpp"
#include "fleetsim/checks/node_recorder.hpp"
#include "fleetsim/models/rng.hpp"
#include "fleetsim/models/pull_connections.hpp"
#include "world.hpp"

namespace fleetsim::sim {

class SimNode final : public Receiver,
                      public agents::Clock,
                      public agents::Random,
                      public agents::Timers,
                      public agents::NodeChannel,
                      public agents::Registry,
                      public agents::ContainerRuntime {
 public:
  // `loop` is the site's: every node of a site shares one loop and one actor.
  SimNode(World& world, std::size_t index, EventLoop& loop);

  // Starts the agent (in the site's actor, before its loop runs).
  void start();
  EventLoop& loop() override { return loop_; }
  void receive(const Envelope& envelope) override;

  // Clock, Random
  agents::Time now() const override;
  double uniform01() override { return random_.uniform01(); }
  // Timers
  agents::TimerId set_timer(double delay_s) override;
  void cancel_timer(agents::TimerId id) override;
  // NodeChannel
  void send_to_orchestrator(const agents::Message& message) override;
  // Registry: layer bytes flow from the registry host through the registry egress and the site uplink.
  agents::TransferId start_fetch(const agents::Layer& layer, std::uint64_t offset) override;
  void cancel_fetch(agents::TransferId id) override;
  // The simulated store is the agent's own bookkeeping (bytes_stored): nothing to delete.
  void remove_layer(const std::string&) override {}
  // ContainerRuntime: the process runs start_s after start(); the release's behaviour hooks in here.
  void start_container(const agents::Release& release) override;
  void stop_container(const std::string& app) override;

  // Faults. Power loss: transfers, timers and containers stop; what arrived so far is accounted; the agent keeps
  // only what it had on disk. Crash and boot run in the node's own actor (the fault injector posts them), so that
  // the transfers the agent starts after a boot belong to this node.
  bool accepting() const override { return !down_; }
  void crash() override;
  void boot() override;
  // Other data takes the disk: only `free_bytes` more fit beside the layers stored now. Never above the disk.
  void fill_disk(std::uint64_t free_bytes) override;
  void free_disk() override;
  void send_failed(std::size_t node, const agents::Message& message) override;
  void before_uplink_down() override;
  // The site's uplink is the only link on this node's paths that faults turn off.
  std::function<bool()> path_to_cloud_up() const override;

  // Measurements: the version whose process runs (or is starting) for each app; node time accrues to it while
  // powered.
  void observe();
  void flush_node_time();
  // The node's state for an app, for the states time series: (version, state).
  // (version or "-", state): views valid until the node next changes (the sampler copies what it keeps)
  std::pair<std::string_view, std::string_view> state_of(const std::string& app) const;
  // Bytes of the pulls in flight that have arrived so far (the bytes pulled count them only once each ends).
  double pull_bytes_arrived_in_flight() const;
  std::size_t site_index() const { return node_.site_index; }
  const agents::NodeAgent& agent() const { return agent_; }

 private:
  struct Fetch {
    simgrid::s4u::CommPtr comm;  // under SimGrid's sharing; null on fleetsim's solver (World::bulk)
    std::uint64_t bytes;
    double remaining_before_fault = -1;  // bytes left when a fault took the uplink down (-1: no fault)
    std::uint64_t bulk = 0;              // the transfer's handle on fleetsim's solver
    // Set while the request is on its way (handshakes, then the request): the timer that starts the transfer.
    std::optional<EventLoop::TimerId> connecting;
  };

  agents::NodeAgentConfig make_config() const;
  void power_off();
  void power_on();
  static std::uint64_t received_bytes(const Fetch& f);
  void begin_transfer(agents::TransferId id, simgrid::s4u::Host* endpoint);
  double pull_rtt();
  // Stops a request still on its way: no byte of it arrived.
  void drop_connecting(Fetch& fetch);
  simgrid::s4u::Host* take_download_endpoint(agents::TransferId id);
  void release_slot(agents::TransferId id);
  void account_fetch(std::uint64_t bytes);
  void account_control(const agents::Message& message);
  void fetch_done(agents::TransferId id, bool ok);
  void bulk_fetch_done(agents::TransferId id, bool ok, double remaining);
  static std::uint64_t received_of(std::uint64_t bytes, double remaining);
  void handed_fetch_result(agents::TransferId id, const agents::FetchResult& result);
  bool crashes_on_start(const agents::Release& release, double& fail_after);
  void record(const agents::StatusReport& status);
  void after_agent();
  void record_disk();

  World& world_;
  std::size_t index_;
  const PlatformNode& node_;
  EventLoop& loop_;
  models::RandomStream random_;
  agents::NodeAgent agent_;
  std::map<agents::TransferId, Fetch> fetches_;
  std::map<std::string, EventLoop::TimerId> containers_;
  std::set<agents::TimerId> agent_timers_;
  std::map<std::string, unsigned> starts_;  // per app/version: container starts so far (crash draws)
  std::vector<bool> slot_busy_;             // download endpoints in use (packet loss only)
  std::map<agents::TransferId, std::size_t> slot_of_;
  bool down_ = false;
  std::map<std::string, std::pair<std::string, double>> active_;  // per app: (active version, since)
  checks::NodeRecorder recorder_;  // the history's records of this node, as every runtime makes them
  agents::TransferId next_transfer_ = 1;
  models::PullConnections connections_;
  double pull_rtt_s_ = -1;  // registry <-> node round trip (read from the routes on first use)
};

}  // namespace fleetsim::sim
