// fleetsim-agent: hosts node agents for real (docs/DAEMONS.md). Each connects to the orchestrator over the control
// protocol, pulls layers from an OCI registry into its own store and runs releases as processes.
//   fleetsim-agent CONFIG.json [--log-level warn|info|debug]
// Exit codes: 0 stopped by SIGTERM/SIGINT; 1 stopped by an error it cannot go on after (logged); 2 a bad command line or configuration (the message names the key).
#include <csignal>
#include <cstring>
#include <functional>
#include <iostream>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "daemon_start.hpp"
#include "fleetsim/net/agent_host.hpp"

namespace {

const char* kUsage =
    "usage: fleetsim-agent CONFIG.json [--log-level warn|info|debug]\n"
    "Hosts the node agents CONFIG.json lists (docs/DAEMONS.md): each connects to the orchestrator, pulls layers from\n"
    "the registry into state_dir/node-<id>/layers and runs releases as the processes configured per app.\n"
    "Stops on SIGTERM or SIGINT (processes get SIGTERM, then SIGKILL after agent.stop_grace). Exit 2: bad input.\n";

}  // namespace

int main(int argc, char** argv) {
  const fleetsim::net::DaemonStart start = fleetsim::net::start_daemon("fleetsim-agent", kUsage, argc, argv);
  if (start.exit_code) return *start.exit_code;
  const std::string& config_path = start.config_path;

  fleetsim::net::AgentHostConfig config;
  try {
    config = fleetsim::net::load_agent_host_config(config_path);
  } catch (const fleetsim::net::ConfigError& e) {
    std::cerr << "fleetsim-agent: " << e.what() << "\n";
    return 2;
  }
  boost::asio::io_context io;
  std::unique_ptr<fleetsim::net::AgentHost> host;
  try {
    host = std::make_unique<fleetsim::net::AgentHost>(io, config);
  } catch (const std::exception& e) {
    std::cerr << "fleetsim-agent: " << config_path << ": " << e.what() << "\n";
    return 2;
  }
  host->start();
  spdlog::info("hosting {} node agents, orchestrator {}:{}, registry {}", host->size(), config.orchestrator_host,
               config.orchestrator_port, config.registry.url);

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  boost::asio::steady_timer drain(io), poll_timer(io);
  const auto grace = config.stop_grace;
  // Leaves as soon as every process is reaped.
  std::function<void()> poll = [&] {
    if (host->stopping() == 0) return io.stop();
    poll_timer.expires_after(std::chrono::milliseconds(20));
    poll_timer.async_wait([&](const boost::system::error_code& e) {
      if (!e) poll();
    });
  };
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("signal {}: stopping", signal == SIGTERM ? "SIGTERM" : "SIGINT");
    host->stop();
    // The processes end within their grace (the runtime sends SIGKILL at its end); leave then at the latest.
    drain.expires_after(grace + std::chrono::milliseconds(500));
    drain.async_wait([&](const boost::system::error_code&) { io.stop(); });
    poll();
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
  host.reset();  // kills and reaps whatever is left
  spdlog::info("stopped");
  return 0;
}
