// A real OCI distribution registry on this machine: Debian's docker-registry (the CNCF distribution registry),
// serving a filesystem store in `dir` on a free loopback port. `fleetsim emulate` starts one for its fleet, and the
// net/ tests for theirs. Stopped (SIGTERM, then reaped) with the object.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace fleetsim::net {

class RegistryProcess {
 public:
  // Starts it and waits up to 10 s for it to listen. On failure error() says why (not installed, exited at start
  // with its log, never listened) and nothing runs. `listen_host`: the address it listens on ("0.0.0.0" inside a
  // network namespace of its own, where fleetsim emulate's sites reach it); it is always reachable on 127.0.0.1 too.
  explicit RegistryProcess(std::filesystem::path dir, const std::string& listen_host = "127.0.0.1");
  ~RegistryProcess();  // stop()
  void stop();         // SIGTERM, then reaped; nothing if it does not run
  RegistryProcess(const RegistryProcess&) = delete;
  RegistryProcess& operator=(const RegistryProcess&) = delete;

  const std::string& error() const { return error_; }
  unsigned short port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  unsigned short port_ = 0;
  pid_t pid_ = 0;
  std::string error_;
};

// A TCP port on 127.0.0.1 that nothing listens on at the moment of the call.
unsigned short free_loopback_port();

}  // namespace fleetsim::net
