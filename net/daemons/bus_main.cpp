// fleetsim-bus: a site's telemetry broker for real (docs/DAEMONS.md). Sensors send JSON lines over TCP; the agents
// library's Broker keeps them in its streams (disk streams in data_dir, read back at the next start) and uploads them
// in batches over HTTP to the ingest, at least once.
//   fleetsim-bus CONFIG.json [--log-level warn|info|debug]
// Exit codes: 0 stopped by SIGTERM/SIGINT; 1 stopped by an error it cannot go on after (logged); 2 a bad command
// line or configuration (the message names the key), or a store it cannot read back (the message names file:line).
#include <csignal>
#include <iostream>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include "daemon_start.hpp"
#include "fleetsim/net/agent_host.hpp"
#include "fleetsim/net/bus_host.hpp"

namespace {

const char* kUsage =
    "usage: fleetsim-bus CONFIG.json [--log-level warn|info|debug]\n"
    "A site's telemetry broker (docs/DAEMONS.md): sensors connect to listen.host:listen.port and send one JSON\n"
    "object per line ({\"stream\": ..., \"payload\": ...}); batches go to ingest_url; disk streams live in data_dir.\n"
    "Stops on SIGTERM or SIGINT. Exit 2: bad input.\n";

}  // namespace

int main(int argc, char** argv) {
  const fleetsim::net::DaemonStart start = fleetsim::net::start_daemon("fleetsim-bus", kUsage, argc, argv);
  if (start.exit_code) return *start.exit_code;
  boost::asio::io_context io;
  std::unique_ptr<fleetsim::net::BusHost> bus;
  try {
    bus = std::make_unique<fleetsim::net::BusHost>(io, fleetsim::net::load_bus_config(start.config_path));
  } catch (const fleetsim::net::ConfigError& e) {
    std::cerr << "fleetsim-bus: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "fleetsim-bus: " << start.config_path << ": " << e.what() << "\n";
    return 2;
  }
  bus->start();
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("signal {}: stopping", signal == SIGTERM ? "SIGTERM" : "SIGINT");
    bus->stop();
    io.stop();
  });
  try {
    io.run();
  } catch (const std::exception& e) {
    spdlog::error("stopping on an error: {}", e.what());
    return 1;
  }
  bus.reset();
  spdlog::info("stopped");
  return 0;
}
