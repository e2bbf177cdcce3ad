// One process hosting many node agents (fleetsim-agent): each with its own identity, layer store directory, control
// connection to the orchestrator, registry client and process runtime, all on one io_context. The agents library's
// NodeAgent is linked unchanged; this file only wires its ports to net/'s real ones and reads the configuration.
#pragma once

#include <cstdint>
#include <functional>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <nlohmann/json.hpp>

#include "fleetsim/agents/node_agent.hpp"
#include "fleetsim/checks/history.hpp"
#include "fleetsim/net/http_registry.hpp"
#include "fleetsim/net/process_runtime.hpp"
#include "fleetsim/net/token_bucket.hpp"

namespace fleetsim::net {

// A configuration that cannot be used: the message names the file and the key.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct AppCommand {
  std::vector<std::string> argv;
  std::string probe_url;  // empty: ready when the process runs
  bool ready_file = false;  // ready once the process creates the file named by FLEETSIM_READY_FILE (polled, 50 ms)
  std::map<std::string, std::string> env;
};

struct AgentHostConfig {
  std::string orchestrator_host = "127.0.0.1";
  unsigned short orchestrator_port = 0;
  HttpRegistryConfig registry;
  std::filesystem::path state_dir;      // node <id>'s store is state_dir/node-<id>/
  std::vector<agents::NodeId> nodes;    // the identities this process hosts
  agents::NodeAgentConfig agent;        // for every node (its id is set per node)
  std::map<std::string, AppCommand> apps;  // what runs for each app; a release of another app cannot start
  std::chrono::milliseconds stop_grace{10000};
  double reconnect_initial_s = 1, reconnect_max_s = 30;
  std::uint64_t seed = 1;
  // The site's uplink towards its nodes, emulated for every pull of this process (TokenBucket); 0: no limit.
  double uplink_bytes_per_s = 0;
  // Emulated one-way latency of the control path (fleetsim emulate on loopback): every message a node sends waits
  // this long before it is written, every message it receives this long before its agent gets it (in order). 0: none.
  double control_latency_s = 0;
  // Where every socket of its nodes (control connection and pulls) is opened: a site's network namespace behind its
  // shaped link (fleetsim emulate); unset: where the io thread is.
  SocketOpener open_socket{};
  // Each agent's state reaches the disk (fsync) before it replaces the previous one; false where a node's crash is
  // its process's and never its machine's, so the page cache keeps what was written (fleetsim emulate).
  bool sync_to_disk = true;
  // Called for every process a release starts, after the spec is made from `apps` (fleetsim emulate gives each
  // start the behaviour its scenario declares); none: the spec as configured.
  std::function<void(agents::NodeId, const agents::Release&, ProcessSpec&)> adjust_process;
};

// Reads fleetsim-agent's JSON configuration (docs/DAEMONS.md). Every unknown key, missing key, wrong type or bad
// value is a ConfigError naming `path` and the key, e.g. "agent.json: key 'agent.disk': '10 GB' ...".
AgentHostConfig load_agent_host_config(const std::filesystem::path& path);
AgentHostConfig parse_agent_host_config(const std::string& text, const std::string& origin);

// A node's state file (`state_dir/node-<id>/agent-state.json`): what the agent keeps on disk, as JSON.
nlohmann::json disk_json(const agents::NodeAgentDisk& disk);
agents::NodeAgentDisk disk_from_json(const std::string& text, const std::string& origin);  // ConfigError if not one

class AgentHost {
 public:
  // `clock`: the time every hosted agent reads and every record carries (nullptr: this host's own steady clock;
  // an emulated run passes the orchestrator's, so that one history has one time base).
  AgentHost(boost::asio::io_context& io, AgentHostConfig config, agents::Clock* clock = nullptr);
  ~AgentHost();
  AgentHost(const AgentHost&) = delete;
  AgentHost& operator=(const AgentHost&) = delete;

  // The history's records of every hosted node (checks/history.hpp), made as sim/ makes them; node k is the k-th
  // of config.nodes. Set before start().
  void record_to(std::function<void(const checks::Record&)> sink);
  void start();  // every agent starts and connects (and reconnects with back-off while it runs)
  // Node `index` loses power: its agent and processes end (SIGKILL), its pulls and connection with them; its
  // directory stays. boot() starts it again from that directory, as a restarted fleetsim-agent does (on_boot: the
  // committed release starts, an interrupted update goes on). What fleetsim emulate does for a fault.node_crash.
  void crash(std::size_t index);
  void boot(std::size_t index);
  bool up(std::size_t index) const;
  void stop();   // disconnects every agent and stops its processes (SIGTERM, then SIGKILL after the grace)
  std::size_t size() const { return nodes_.size(); }
  // The site's uplink is cut (false) or back (true), for every hosted node: its pulls fail and new ones fail at once
  // (HttpRegistry::set_reachable), its control connection is closed and not tried again until the uplink is back.
  // What fleetsim emulate does for a fault.partition of the site.
  void set_uplink(bool up);
  // The site's uplink carries pulls at this rate from now on (fleetsim emulate's fault.degrade); std::logic_error
  // without an uplink limit (config.uplink_bytes_per_s = 0).
  void set_uplink_rate(double bytes_per_s);
  // The registry is down (false) or back (true) for every hosted node: pulls fail and new ones fail at once; the
  // control connections stay (fleetsim emulate's fault.registry_outage).
  void set_registry_reachable(bool reachable);
  std::size_t connected() const;
  std::size_t stopping() const;  // processes told to stop and not yet reaped
  const agents::NodeAgent& agent(std::size_t index) const;  // std::logic_error while the node is down
  std::uint64_t bytes_pulled(std::size_t index) const;  // layer bytes node `index` received, retries included

  struct Node;

 private:
  boost::asio::io_context& io_;
  AgentHostConfig config_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::shared_ptr<TokenBucket> uplink_;
  std::unique_ptr<agents::Clock> own_clock_;
  std::function<void(const checks::Record&)> sink_;
  bool uplink_up_ = true;
  bool registry_up_ = true;
  agents::Clock* clock_ = nullptr;
  boost::asio::ip::tcp::endpoint orchestrator_;
  std::vector<std::uint64_t> pulled_before_;  // per node: bytes pulled before its crashes

  std::unique_ptr<Node> make_node(std::size_t index);
  void start_node(Node& node);
};

}  // namespace fleetsim::net
