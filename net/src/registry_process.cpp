#include "fleetsim/net/registry_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <array>
#include <chrono>
#include <fstream>
#include <iterator>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

extern char** environ;

namespace fleetsim::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

unsigned short free_loopback_port() {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

RegistryProcess::RegistryProcess(std::filesystem::path dir, const std::string& listen_host) : dir_(std::move(dir)), port_(free_loopback_port()) {
  std::filesystem::create_directories(dir_);
  const std::filesystem::path config = dir_ / "config.yml";
  std::ofstream(config) << "version: 0.1\nlog:\n  level: warn\nstorage:\n  cache:\n    blobdescriptor: inmemory\n  filesystem:\n    rootdirectory: "
                        << (dir_ / "data").string() << "\nhttp:\n  addr: " << listen_host << ":" << port_ << "\n";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string log = (dir_ / "registry.log").string();
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::string program = "docker-registry", serve = "serve", path = config.string();
  std::array<char*, 4> argv{program.data(), serve.data(), path.data(), nullptr};
  const int rc = posix_spawnp(&pid_, "docker-registry", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = 0;
    error_ = "cannot start docker-registry (install Debian's docker-registry package: .ci/setup does)";
    return;
  }
  for (int i = 0; i < 200; ++i) {  // up to 10 s for it to listen
    asio::io_context io;
    tcp::socket socket(io);
    boost::system::error_code ec;
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
    if (!ec) return;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = 0;
      std::ifstream in(log);
      error_ = "docker-registry exited at start: " +
               std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  error_ = "docker-registry did not listen on port " + std::to_string(port_) + " within 10 s";
}

RegistryProcess::~RegistryProcess() { stop(); }

void RegistryProcess::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = 0;
}

}  // namespace fleetsim::net
