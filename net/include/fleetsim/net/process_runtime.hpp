// The agents' ContainerRuntime port as plain processes: the runtime that works on every Linux machine, with no
// container engine. A release runs as the command its app is configured with (the daemon's configuration maps each
// app to a command line; the release's layers are its image). Liveness is the process itself, watched through a
// pidfd (Linux 5.3+); readiness is either "the process runs" or, with a probe URL, the first 2xx answer to a GET
// of it, polled as a Kubernetes httpGet probe is, or once it creates its ready file. stop() is immediate for the agent: SIGTERM to the process group,
// SIGKILL after a grace period, never an event afterwards. A release of an app whose previous process is still in
// its grace period starts once that one is gone, never beside it (two releases of one app would share its port,
// files and devices, which a container engine does not allow either).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "fleetsim/agents/ports.hpp"

namespace fleetsim::net {

struct ProcessSpec {
  std::vector<std::string> argv;                // argv[0] is looked up in PATH
  std::map<std::string, std::string> env;       // added to the daemon's environment
  std::string probe_url;                        // http://...: ready at its first 2xx answer; empty: ready when running
  // Ready once this file exists (Kubernetes' exec probe `cat /tmp/healthy`, without a process per probe): removed
  // before the process starts, given to it as FLEETSIM_READY_FILE, looked for every probe_period. Empty: not used.
  std::string ready_file;
  std::chrono::milliseconds probe_period{200};  // between probes
  std::string log_path;                         // stdout and stderr go here (appended); empty: /dev/null
};

class ProcessRuntime final : public agents::ContainerRuntime {
 public:
  using SpecFor = std::function<ProcessSpec(const agents::Release&)>;
  using Event = std::function<void(const std::string& app, agents::ContainerEvent event)>;
  ProcessRuntime(boost::asio::io_context& io, SpecFor spec_for, Event event,
                 std::chrono::milliseconds stop_grace = std::chrono::milliseconds(10000));
  ~ProcessRuntime() override;  // kills and reaps every process it started
  ProcessRuntime(const ProcessRuntime&) = delete;
  ProcessRuntime& operator=(const ProcessRuntime&) = delete;

  // A command that cannot start (not found, not executable) is an `exited` event, as a container that dies at once.
  void start_container(const agents::Release& release) override;
  void stop_container(const std::string& app) override;

  // Records each process it starts as `dir/<app>.pid` (pid and start time), removed when it is reaped, so that a
  // restarted daemon can end what its previous run left behind (kill_recorded): a restart is a reboot.
  void record_in(std::filesystem::path dir) { record_dir_ = std::move(dir); }
  // Kills (SIGKILL, process group) every process recorded in `dir` that still runs as recorded (same pid and start
  // time: never a stranger that reused the pid); returns how many. The records are removed.
  static std::size_t kill_recorded(const std::filesystem::path& dir);

  pid_t pid(const std::string& app) const;  // 0 when the app runs nothing
  std::size_t running() const { return apps_.size(); }
  std::size_t stopping() const { return stopping_.size(); }
  // Releases waiting for their app's previous process to end.
  std::size_t waiting() const { return waiting_.size(); }
  // Environment each process gets besides spec.env: FLEETSIM_APP, FLEETSIM_REVISION, FLEETSIM_VERSION.

  struct Process;

 private:
  void watch(const std::shared_ptr<Process>& process);
  void probe(const std::shared_ptr<Process>& process);
  void look_for_ready_file(const std::shared_ptr<Process>& process);
  void reaped(const std::shared_ptr<Process>& process);
  void poll_exit(const std::shared_ptr<Process>& process);
  void wait_exit(const std::shared_ptr<Process>& process);
  void spawn_release(const agents::Release& release);
  bool still_stopping(const std::string& app) const;
  boost::asio::io_context& io_;
  SpecFor spec_for_;
  Event event_;
  std::chrono::milliseconds stop_grace_;
  std::map<std::string, std::shared_ptr<Process>> apps_;
  std::vector<std::shared_ptr<Process>> stopping_;
  std::map<std::string, agents::Release> waiting_;  // by app: the release to start once stopping_ has none of it
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::filesystem::path record_dir_;
};

// GET url once; calls back with the HTTP status, or 0 when there was no answer within `timeout`.
void http_get_status(boost::asio::io_context& io, const std::string& url, std::chrono::milliseconds timeout,
                     std::function<void(unsigned status)> done);

}  // namespace fleetsim::net
