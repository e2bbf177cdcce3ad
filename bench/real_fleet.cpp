// A real fleet on this machine (issue 14): fleetsim-orchestrator's core and N node agents in one process (as
// fleetsim-agent hosts them), every agent pulling one layer from a real registry (Debian's docker-registry, started
// here) over loopback and running its app as a process. Prints what it measured; asserts nothing.
//   build/bench/real_fleet [--nodes 1000] [--layer 1MiB]
#include <sys/resource.h>
#include <sys/wait.h>
#include <spawn.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <spdlog/spdlog.h>

#include "fleetsim/models/units.hpp"
#include "fleetsim/net/agent_host.hpp"
#include "fleetsim/net/http_registry.hpp"
#include "fleetsim/net/orchestrator_host.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

unsigned short free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

long rss_kib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

std::size_t open_fds() {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator("/proc/self/fd")) n += e.is_symlink() ? 1 : 0;
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned nodes = 1000;
  std::uint64_t layer_bytes = 1 << 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--nodes") nodes = static_cast<unsigned>(std::stoul(argv[i + 1]));
    else if (a == "--layer") layer_bytes = fleetsim::models::parse_bytes(argv[i + 1]).count;
    else {
      std::cerr << "usage: real_fleet [--nodes N] [--layer SIZE]\n";
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);

  const fs::path dir = fs::temp_directory_path() / ("fleetsim-real-fleet-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const unsigned short registry_port = free_port();
  std::ofstream(dir / "registry.yml") << "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: "
                                      << (dir / "registry").string() << "\nhttp:\n  addr: 127.0.0.1:" << registry_port << "\n";
  pid_t registry = 0;
  {
    std::string p = "docker-registry", s = "serve", c = (dir / "registry.yml").string();
    char* args[] = {p.data(), s.data(), c.data(), nullptr};
    if (posix_spawnp(&registry, "docker-registry", nullptr, nullptr, args, environ) != 0) {
      std::cerr << "real_fleet: cannot start docker-registry (Debian package docker-registry)\n";
      return 1;
    }
  }
  const std::string registry_url = "http://127.0.0.1:" + std::to_string(registry_port);
  std::string blob(layer_bytes, '\0');
  std::mt19937_64 gen(1);
  for (auto& c : blob) c = static_cast<char>(gen());
  std::string digest;
  for (int i = 0; i < 200 && digest.empty(); ++i) {
    try {
      digest = fleetsim::net::push_blob(registry_url, "fleet/app", blob);
    } catch (const std::exception&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  if (digest.empty()) {
    std::cerr << "real_fleet: the registry did not take the blob\n";
    return 1;
  }

  boost::asio::io_context io;
  fleetsim::net::OrchestratorHostConfig oc;
  oc.control_host = "127.0.0.1";
  oc.control_port = free_port();
  oc.http_port = 0;
  oc.journal = dir / "journal.jsonl";
  for (unsigned i = 0; i < nodes; ++i) oc.inventory.push_back({i, "n" + std::to_string(i), "site-" + std::to_string(i / 10), {}, {}});
  const long rss_before = rss_kib();
  fleetsim::net::OrchestratorHost orchestrator(io, oc);
  fleetsim::net::AgentHostConfig ac = fleetsim::net::parse_agent_host_config(
      R"({"orchestrator": "127.0.0.1:)" + std::to_string(oc.control_port) + R"(", "registry": {"url": ")" + registry_url +
          R"(", "repository": "fleet/app"}, "state_dir": ")" + (dir / "agents").string() + R"(", "nodes": {"first": 0, "count": )" +
          std::to_string(nodes) + R"(}, "agent": {"disk": "1GiB", "retry_initial": "100ms", "retry_max": "1s", "stop_grace": "2s"},
          "apps": {"app": {"command": ["sleep", "600"]}}})",
      "bench");
  fleetsim::net::AgentHost agents(io, ac);
  const auto t0 = Clock::now();
  agents.start();
  while (orchestrator.connected() < nodes && Clock::now() - t0 < std::chrono::seconds(120)) io.run_one_for(std::chrono::milliseconds(10));
  const double connect_s = std::chrono::duration<double>(Clock::now() - t0).count();

  fleetsim::agents::Command deploy;
  deploy.release.app = "app";
  deploy.release.version = "1.0";
  deploy.release.layers = {{digest, layer_bytes}};
  const auto t1 = Clock::now();
  const std::uint32_t id = orchestrator.submit(deploy);
  while (!orchestrator.orchestrator().operations().at(id - 1).finished() && Clock::now() - t1 < std::chrono::seconds(600))
    io.run_one_for(std::chrono::milliseconds(10));
  const double deploy_s = std::chrono::duration<double>(Clock::now() - t1).count();
  const auto& op = orchestrator.orchestrator().operations().at(id - 1);
  const long rss_after = rss_kib();
  const std::size_t fds = open_fds();

  std::printf("nodes %u, layer %s, registry %s\n", nodes, fleetsim::models::format_bytes(static_cast<double>(layer_bytes)).c_str(), registry_url.c_str());
  std::printf("connected %zu of %u in %.2f s\n", orchestrator.connected(), nodes, connect_s);
  std::printf("deploy: %zu succeeded, %zu failed, %zu timed out, in %.2f s (%.1f MB/s of layers through the registry)\n",
              op.succeeded, op.failed, op.timed_out, deploy_s, static_cast<double>(layer_bytes) * op.succeeded / deploy_s / 1e6);
  std::printf("this process: RSS %.1f MiB (%.1f KiB per node agent, with the orchestrator), %zu open descriptors\n",
              static_cast<double>(rss_after) / 1024, static_cast<double>(rss_after - rss_before) / nodes, fds);

  agents.stop();
  const auto t2 = Clock::now();
  while (agents.stopping() > 0 && Clock::now() - t2 < std::chrono::seconds(10)) io.run_one_for(std::chrono::milliseconds(10));
  ::kill(registry, SIGTERM);
  ::waitpid(registry, nullptr, 0);
  std::error_code ec;
  fs::remove_all(dir, ec);
  return op.succeeded == nodes ? 0 : 1;
}
