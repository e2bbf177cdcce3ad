// fleetsim-orchestrator's core: the agents library's Orchestrator, unchanged, on the control protocol (ControlServer)
// and an HTTP/JSON API, with its state in a journal. The journal is the orchestrator's inputs in order (each
// submitted command, each message from a node, each send failure, each node connection, each timer that fired, each restart), one JSON
// line each with the time it was handled; the orchestrator is deterministic in its inputs, so replaying the journal
// rebuilds exactly the state it had, and then it restarts as a simulated orchestrator_restart does (on_restart:
// deadlines re-armed, the desired state sent again to every node still pending). Time is an input too: it is read
// once per input and frozen while the orchestrator handles it, so the replay sees the same instants.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "fleetsim/agents/orchestrator.hpp"
#include "fleetsim/net/agent_host.hpp"

namespace fleetsim::net {

struct OrchestratorHostConfig {
  std::string control_host = "0.0.0.0";
  unsigned short control_port = 7400;  // 0: any free port
  std::string http_host = "127.0.0.1";
  unsigned short http_port = 7480;  // 0: any free port
  std::filesystem::path journal;    // created if missing, replayed if present
  std::vector<agents::NodeInfo> inventory;
};

// fleetsim-orchestrator's JSON configuration (docs/DAEMONS.md); errors are ConfigErrors naming the file and key.
OrchestratorHostConfig load_orchestrator_config(const std::filesystem::path& path);
OrchestratorHostConfig parse_orchestrator_config(const std::string& text, const std::string& origin);

class OrchestratorHost {
 public:
  // Replays the journal (a ConfigError naming journal:line if a line is not an input; a torn last line, from a
  // crash during its write, is dropped), then listens.
  OrchestratorHost(boost::asio::io_context& io, OrchestratorHostConfig config);
  ~OrchestratorHost();
  OrchestratorHost(const OrchestratorHost&) = delete;
  OrchestratorHost& operator=(const OrchestratorHost&) = delete;

  unsigned short control_port() const;
  unsigned short http_port() const;
  std::size_t replayed() const { return replayed_; }  // journal entries replayed at start
  std::size_t connected() const;

  // The API's actions (the HTTP routes call these; so can a test).
  std::uint32_t submit(const agents::Command& command);
  std::optional<std::string> abort(std::uint32_t id, bool revert);  // why not, or nullopt (see Orchestrator::abort)
  std::optional<std::string> revert(std::uint32_t id);
  const agents::Orchestrator& orchestrator() const { return *orchestrator_; }
  // The orchestrator's time (seconds since its journal began), read live: the time base of an emulated run's history.
  agents::Clock& live_clock() const;
  // When the journal began (Unix seconds): the origin of the orchestrator's time, the same after every restart.
  double epoch_unix_s() const;
  nlohmann::json nodes_json() const;
  nlohmann::json apps_json() const;
  void stop();

  struct Parts;

 private:
  void replay();
  void record(nlohmann::json entry, bool sync);
  boost::asio::io_context& io_;
  OrchestratorHostConfig config_;
  std::unique_ptr<Parts> parts_;
  std::unique_ptr<agents::Orchestrator> orchestrator_;
  std::size_t replayed_ = 0;
};

}  // namespace fleetsim::net
