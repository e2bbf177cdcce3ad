// fleetsim-ingest: the cloud end of fleetsim-bus (docs/DAEMONS.md). Accepts batches (POST /v1/ingest), keeps each
// (site, stream, sequence) once, and appends what it accepts to OUT.jsonl, one message per line, before answering.
//   fleetsim-ingest OUT.jsonl [--listen HOST:PORT] [--log-level warn|info|debug]
// Exit codes: 0 stopped by SIGTERM/SIGINT; 1 stopped by an error (logged); 2 a bad command line or OUT.jsonl.
#include <csignal>
#include <iostream>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include "fleetsim/net/agent_host.hpp"
#include "fleetsim/net/bus_host.hpp"

namespace {

const char* kUsage =
    "usage: fleetsim-ingest OUT.jsonl [--listen HOST:PORT] [--log-level warn|info|debug]\n"
    "The cloud end of fleetsim-bus: POST /v1/ingest takes a batch, keeps each (site, stream, seq) once and appends\n"
    "it to OUT.jsonl before answering 200. --listen defaults to 127.0.0.1:7700 (port 0: any free port, printed).\n";

}  // namespace

int main(int argc, char** argv) {
  std::string out, listen = "127.0.0.1:7700", level = "info";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if ((arg == "--listen" || arg == "--log-level") && i + 1 < argc) {
      (arg == "--listen" ? listen : level) = argv[++i];
    } else if (!arg.empty() && arg[0] == '-') {
      std::cerr << "fleetsim-ingest: unknown option '" << arg << "'\n" << kUsage;
      return 2;
    } else if (out.empty()) {
      out = arg;
    } else {
      std::cerr << "fleetsim-ingest: one output file only ('" << arg << "')\n";
      return 2;
    }
  }
  if (out.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  if (level != "warn" && level != "info" && level != "debug") {
    std::cerr << "fleetsim-ingest: --log-level '" << level << "' is not warn, info or debug\n";
    return 2;
  }
  const auto colon = listen.rfind(':');
  unsigned long port = 0;
  try {
    if (colon == std::string::npos) throw std::invalid_argument("no port");
    std::size_t used = 0;
    port = std::stoul(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1 || port > 65535) throw std::invalid_argument("bad port");
  } catch (const std::exception&) {
    std::cerr << "fleetsim-ingest: --listen '" << listen << "': must be HOST:PORT with a port from 0 to 65535\n";
    return 2;
  }
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %l fleetsim-ingest %v");
  spdlog::set_level(level == "warn" ? spdlog::level::warn : level == "debug" ? spdlog::level::debug : spdlog::level::info);
  boost::asio::io_context io;
  std::unique_ptr<fleetsim::net::IngestServer> ingest;
  try {
    ingest = std::make_unique<fleetsim::net::IngestServer>(io, listen.substr(0, colon), static_cast<unsigned short>(port), out);
  } catch (const std::exception& e) {
    std::cerr << "fleetsim-ingest: " << e.what() << "\n";
    return 2;
  }
  std::cout << "fleetsim-ingest: listening on " << listen.substr(0, colon) << ":" << ingest->port() << std::endl;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    spdlog::info("stopping: accepted={} duplicates={} batches={}", ingest->accepted(), ingest->duplicates(), ingest->batches());
    ingest->stop();
    io.stop();
  });
  try {
    io.run();
  } catch (const std::exception& e) {
    spdlog::error("stopping on an error: {}", e.what());
    return 1;
  }
  return 0;
}
