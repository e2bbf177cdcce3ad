// fleetsim-orchestrator: the orchestrator for real (docs/DAEMONS.md): the control protocol for the node agents, an
// HTTP/JSON API for people and scripts, and a journal that makes its state survive a restart.
//   fleetsim-orchestrator CONFIG.json [--log-level warn|info|debug]
// Exit codes: 0 stopped by SIGTERM/SIGINT; 1 stopped by an error it cannot go on after (logged); 2 a bad command line, configuration or journal (the message says where).
#include <csignal>
#include <iostream>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include "daemon_start.hpp"
#include "fleetsim/net/orchestrator_host.hpp"

namespace {

const char* kUsage =
    "usage: fleetsim-orchestrator CONFIG.json [--log-level warn|info|debug]\n"
    "Runs the orchestrator for the inventory CONFIG.json lists (docs/DAEMONS.md): node agents connect to `control`,\n"
    "people and scripts use the HTTP API on `http`:\n"
    "  POST /v1/operations                  deploy or roll out (JSON: app, version, strategy, ...)\n"
    "  POST /v1/operations/<id>/abort       stop an operation ({\"revert\": true} also goes back)\n"
    "  POST /v1/operations/<id>/revert      undo a finished operation: its nodes go back to the revision before\n"
    "  GET  /v1/operations, /v1/operations/<id>, /v1/nodes, /v1/apps, /healthz\n"
    "Every input is appended to `journal` and replayed at start. Stops on SIGTERM or SIGINT. Exit 2: bad input.\n";

}  // namespace

int main(int argc, char** argv) {
  const fleetsim::net::DaemonStart start = fleetsim::net::start_daemon("fleetsim-orchestrator", kUsage, argc, argv);
  if (start.exit_code) return *start.exit_code;
  const std::string& config_path = start.config_path;

  boost::asio::io_context io;
  std::unique_ptr<fleetsim::net::OrchestratorHost> host;
  try {
    host = std::make_unique<fleetsim::net::OrchestratorHost>(io, fleetsim::net::load_orchestrator_config(config_path));
  } catch (const fleetsim::net::ConfigError& e) {
    std::cerr << "fleetsim-orchestrator: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {  // a port in use, an address that is not one
    std::cerr << "fleetsim-orchestrator: " << config_path << ": " << e.what() << "\n";
    return 2;
  }
  spdlog::info("control on port {}, HTTP API on port {}, {} journal entries replayed", host->control_port(),
               host->http_port(), host->replayed());
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("signal {}: stopping", signal == SIGTERM ? "SIGTERM" : "SIGINT");
    host->stop();
    io.stop();
  });
  try {
    io.run();
  } catch (const std::exception& e) {
    // Something the daemon cannot go on without failed (its journal or state cannot be written, the disk is full):
    // stop rather than run on with state that is no longer saved. What was saved stays valid for the next start.
    spdlog::error("stopping on an error: {}", e.what());
    host.reset();
    return 1;
  }
  host.reset();
  spdlog::info("stopped");
  return 0;
}
