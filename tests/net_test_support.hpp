// Helpers shared by the net/ tests: temporary directories, deterministic bytes, free ports, stepping an
// io_context, and a real OCI registry process (Debian's docker-registry) on a free loopback port.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "fleetsim/net/registry_process.hpp"

extern char** environ;

namespace fleetsim::net::testing {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using asio::ip::tcp;

inline fs::path fresh_dir(const std::string& name) {
  static std::atomic<int> counter{0};
  fs::path dir = fs::temp_directory_path() /
                 ("fleetsim-" + name + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

inline std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937_64 gen(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(gen() & 0xff);
  return out;
}

inline std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline unsigned short free_port() {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

// One handler (or 20 ms of waiting) on the io_context. An io_context that ran out of work stops and must be
// restarted before it runs the next deploy's handlers.
inline void step(asio::io_context& io) {
  if (io.stopped()) io.restart();
  io.run_one_for(std::chrono::milliseconds(20));
}
inline void run_for(asio::io_context& io, std::chrono::milliseconds d) {
  if (io.stopped()) io.restart();
  io.run_for(d);
}





// docker-registry (Debian package docker-registry) serving a fresh filesystem store on a free loopback port, removed
// with it.
class ScratchRegistry : public net::RegistryProcess {
 public:
  ScratchRegistry() : net::RegistryProcess(fresh_dir("registry")) {}
  ~ScratchRegistry() {
    stop();
    std::error_code ec;
    fs::remove_all(dir(), ec);
  }
};

// Running and not a zombie (a killed child whose parent died waits for init to reap it, which in a container may
// never happen).
inline bool process_alive(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] != 'Z';
}

// One HTTP request to 127.0.0.1:port, as curl would make it: the status and the body (status 0: no answer).
struct HttpAnswer {
  unsigned status = 0;
  std::string body;
  std::string location;
};
inline HttpAnswer http_call(unsigned short port, const std::string& method, const std::string& target,
                            const std::string& body = {}) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  try {
    asio::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(10));
    stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    http::request<http::string_body> request{http::string_to_verb(method), target, 11};
    request.set(http::field::host, "127.0.0.1");
    if (!body.empty()) request.set(http::field::content_type, "application/json");
    request.body() = body;
    request.prepare_payload();
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    return {response.result_int(), response.body(), std::string(response[http::field::location])};
  } catch (const std::exception&) {
    return {};
  }
}

// Runs a daemon with `args`; stdout and stderr go to `log`.
inline pid_t spawn_daemon(const std::string& binary, const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> all{binary};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : 0;
}

// The exit status of `pid`, waiting at most `limit` (-1 if it did not exit in time).
inline int wait_exit(pid_t pid, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

}  // namespace fleetsim::net::testing
