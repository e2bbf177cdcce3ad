#include "fleetsim/net/process_runtime.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "fleetsim/net/http_registry.hpp"

extern char** environ;

namespace fleetsim::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct ProcessRuntime::Process {
  std::string app;
  ProcessSpec spec;
  pid_t pid = 0;
  std::unique_ptr<asio::posix::stream_descriptor> pidfd;
  std::unique_ptr<asio::steady_timer> timer;   // the next probe, or the SIGKILL after the grace period
  std::unique_ptr<asio::steady_timer> reaper;  // without a pidfd: the next look at whether it exited
  bool ready = false, stopped = false, exited = false;
};

namespace {

// Spawns argv in a process group of its own, stdin from /dev/null, stdout and stderr to log (or /dev/null).
pid_t spawn(const ProcessSpec& spec, const std::map<std::string, std::string>& extra_env, std::string& error) {
  if (spec.argv.empty()) {
    error = "no command";
    return 0;
  }
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [k, v] : spec.env) env[k] = v;
  for (const auto& [k, v] : extra_env) env[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, argv;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = spec.argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  const std::string log = spec.log_path.empty() ? "/dev/null" : spec.log_path;
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  // Nothing else of the daemon's: its sockets (asio does not mark them close-on-exec) would keep its connections
  // open in the app after the daemon closed them.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    error = "cannot run '" + spec.argv[0] + "': " + std::strerror(rc);
    return 0;
  }
  return pid;
}

// Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot (0 if it is gone).
unsigned long long start_time(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto paren = line.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(line.substr(paren + 2));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i)
    if (i == 22) return std::stoull(field);
  return 0;
}

}  // namespace

std::size_t ProcessRuntime::kill_recorded(const std::filesystem::path& dir) {
  std::size_t killed = 0;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".pid") continue;
    std::ifstream in(entry.path());
    pid_t pid = 0;
    unsigned long long started = 0;
    if (in >> pid >> started && pid > 0 && started != 0 && start_time(pid) == started) {
      ::kill(-pid, SIGKILL);
      ++killed;
    }
    std::filesystem::remove(entry.path(), ec);
  }
  return killed;
}

ProcessRuntime::ProcessRuntime(asio::io_context& io, SpecFor spec_for, Event event, std::chrono::milliseconds stop_grace)
    : io_(io), spec_for_(std::move(spec_for)), event_(std::move(event)), stop_grace_(stop_grace) {}

ProcessRuntime::~ProcessRuntime() {
  *alive_ = false;
  auto kill_and_reap = [](const std::shared_ptr<Process>& p) {
    if (p->exited || p->pid <= 0) return;
    ::kill(-p->pid, SIGKILL);
    int status = 0;
    ::waitpid(p->pid, &status, 0);
  };
  for (auto& [app, p] : apps_) kill_and_reap(p);
  for (auto& p : stopping_) kill_and_reap(p);
}

pid_t ProcessRuntime::pid(const std::string& app) const {
  auto it = apps_.find(app);
  return it == apps_.end() ? 0 : it->second->pid;
}

void ProcessRuntime::start_container(const agents::Release& release) {
  if (apps_.count(release.app) != 0 || waiting_.count(release.app) != 0) stop_container(release.app);
  if (still_stopping(release.app)) {
    waiting_.insert_or_assign(release.app, release);  // started by reaped(), once the old process is gone
    return;
  }
  spawn_release(release);
}

bool ProcessRuntime::still_stopping(const std::string& app) const {
  return std::any_of(stopping_.begin(), stopping_.end(), [&](const auto& p) { return p->app == app && !p->exited; });
}

void ProcessRuntime::spawn_release(const agents::Release& release) {
  auto p = std::make_shared<Process>();
  p->app = release.app;
  std::string error;
  try {
    p->spec = spec_for_(release);
  } catch (const std::exception& e) {
    error = e.what();
  }
  std::map<std::string, std::string> extra_env{{"FLEETSIM_APP", release.app},
                                               {"FLEETSIM_REVISION", std::to_string(release.revision)},
                                               {"FLEETSIM_VERSION", release.version}};
  if (error.empty() && !p->spec.ready_file.empty()) {
    std::error_code ec;
    std::filesystem::remove(p->spec.ready_file, ec);  // a previous process's file says nothing about this one
    if (ec) error = "cannot remove " + p->spec.ready_file + ": " + ec.message();
    extra_env["FLEETSIM_READY_FILE"] = p->spec.ready_file;
  }
  if (error.empty()) p->pid = spawn(p->spec, extra_env, error);
  if (p->pid <= 0) {  // it never ran: to the agent, a container that died at once
    asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_), app = release.app] {
      if (alive.lock()) event_(app, agents::ContainerEvent::exited);
    });
    return;
  }
  apps_[release.app] = p;
  if (!record_dir_.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(record_dir_, ec);
    std::ofstream(record_dir_ / (release.app + ".pid")) << p->pid << " " << start_time(p->pid) << "\n";
  }
  p->timer = std::make_unique<asio::steady_timer>(io_);
  watch(p);
  if (!p->spec.ready_file.empty()) {
    look_for_ready_file(p);
  } else if (p->spec.probe_url.empty()) {
    asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_), p] {
      if (!alive.lock() || p->stopped || p->exited || p->ready) return;
      p->ready = true;
      event_(p->app, agents::ContainerEvent::started);
    });
  } else {
    probe(p);
  }
}

void ProcessRuntime::watch(const std::shared_ptr<Process>& p) {
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, p->pid, 0));
  if (fd < 0) {  // no pidfd (a kernel before 5.3): look every 100 ms
    p->reaper = std::make_unique<asio::steady_timer>(io_);
    return poll_exit(p);
  }
  p->pidfd = std::make_unique<asio::posix::stream_descriptor>(io_, fd);
  wait_exit(p);
}

void ProcessRuntime::wait_exit(const std::shared_ptr<Process>& p) {
  p->pidfd->async_wait(asio::posix::stream_descriptor::wait_read,
                       [this, alive = std::weak_ptr<bool>(alive_), p](const boost::system::error_code& ec) {
                         if (ec == asio::error::operation_aborted || !alive.lock()) return;
                         if (ec) {  // the pidfd cannot be waited on: look every 100 ms instead
                           p->reaper = std::make_unique<asio::steady_timer>(io_);
                           return poll_exit(p);
                         }
                         // The reactor may wake a wait without the process having exited: never block on it.
                         int status = 0;
                         const pid_t got = ::waitpid(p->pid, &status, WNOHANG);
                         if (got == p->pid || (got < 0 && errno == ECHILD)) return reaped(p);
                         wait_exit(p);
                       });
}

void ProcessRuntime::poll_exit(const std::shared_ptr<Process>& p) {
  p->reaper->expires_after(std::chrono::milliseconds(100));
  p->reaper->async_wait([this, alive = std::weak_ptr<bool>(alive_), p](const boost::system::error_code& ec) {
    if (ec || !alive.lock() || p->exited) return;
    int status = 0;
    if (::waitpid(p->pid, &status, WNOHANG) == p->pid) return reaped(p);
    poll_exit(p);
  });
}

void ProcessRuntime::reaped(const std::shared_ptr<Process>& p) {
  p->exited = true;
  // What the app started in its group may outlive it (a child that ignored SIGTERM): a stopped app leaves nothing.
  // The pid is reaped, so the group id is not reused yet by anything else; a group already empty ignores this.
  if (p->stopped) ::kill(-p->pid, SIGKILL);
  if (!record_dir_.empty()) {
    const std::filesystem::path record = record_dir_ / (p->app + ".pid");
    std::ifstream in(record);
    pid_t recorded = 0;
    in >> recorded;
    std::error_code ec;
    if (recorded == p->pid) std::filesystem::remove(record, ec);  // not a newer process's record
  }
  if (p->timer) p->timer->cancel();
  if (p->stopped) {
    stopping_.erase(std::remove(stopping_.begin(), stopping_.end(), p), stopping_.end());
    auto waiting = waiting_.find(p->app);
    if (waiting != waiting_.end() && !still_stopping(p->app)) {
      const agents::Release release = waiting->second;
      waiting_.erase(waiting);
      spawn_release(release);
    }
    return;
  }
  auto it = apps_.find(p->app);
  if (it != apps_.end() && it->second == p) {
    apps_.erase(it);
    event_(p->app, agents::ContainerEvent::exited);
  }
}

void ProcessRuntime::look_for_ready_file(const std::shared_ptr<Process>& p) {
  std::error_code ec;
  if (std::filesystem::exists(p->spec.ready_file, ec)) {
    asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_), p] {
      if (!alive.lock() || p->stopped || p->exited || p->ready) return;
      p->ready = true;
      event_(p->app, agents::ContainerEvent::started);
    });
    return;
  }
  p->timer->expires_after(p->spec.probe_period);
  p->timer->async_wait([this, alive = std::weak_ptr<bool>(alive_), p](const boost::system::error_code& wec) {
    if (!wec && alive.lock() && !p->stopped && !p->exited && !p->ready) look_for_ready_file(p);
  });
}

void ProcessRuntime::probe(const std::shared_ptr<Process>& p) {
  // Each probe may take a second to answer (Kubernetes' default timeoutSeconds), whatever the period.
  http_get_status(io_, p->spec.probe_url, std::max(p->spec.probe_period, std::chrono::milliseconds(1000)),
                  [this, alive = std::weak_ptr<bool>(alive_), p](unsigned status) {
                    if (!alive.lock() || p->stopped || p->exited || p->ready) return;
                    if (status >= 200 && status < 300) {
                      p->ready = true;
                      event_(p->app, agents::ContainerEvent::started);
                      return;
                    }
                    p->timer->expires_after(p->spec.probe_period);
                    p->timer->async_wait([this, alive, p](const boost::system::error_code& ec) {
                      if (!ec && alive.lock()) probe(p);
                    });
                  });
}

void ProcessRuntime::stop_container(const std::string& app) {
  waiting_.erase(app);  // a release still waiting for its predecessor never starts
  auto it = apps_.find(app);
  if (it == apps_.end()) return;
  auto p = it->second;
  apps_.erase(it);
  p->stopped = true;
  stopping_.push_back(p);
  ::kill(-p->pid, SIGTERM);
  p->timer->cancel();
  p->timer->expires_after(stop_grace_);
  p->timer->async_wait([alive = std::weak_ptr<bool>(alive_), p](const boost::system::error_code& ec) {
    if (!ec && alive.lock() && !p->exited) ::kill(-p->pid, SIGKILL);
  });
}

void http_get_status(asio::io_context& io, const std::string& url, std::chrono::milliseconds timeout,
                     std::function<void(unsigned)> done) {
  struct Get {
    Get(asio::io_context& c) : resolver(c), stream(c) {}
    tcp::resolver resolver;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    http::request<http::empty_body> request;
    http::response_parser<http::string_body> parser;
    std::function<void(unsigned)> done;
    void finish(unsigned status) {
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream.close();
      if (auto d = std::exchange(done, nullptr)) d(status);
    }
  };
  HttpUrl parsed;
  try {
    parsed = HttpUrl::parse(url);
  } catch (const std::invalid_argument&) {
    asio::post(io, [done = std::move(done)] { done(0); });
    return;
  }
  auto get = std::make_shared<Get>(io);
  get->done = std::move(done);
  get->parser.body_limit(1 << 20);
  get->request = {http::verb::get, parsed.target, 11};
  get->request.set(http::field::host, parsed.host + ":" + parsed.port);
  get->request.set(http::field::user_agent, "fleetsim-probe");
  get->stream.expires_after(timeout);
  get->resolver.async_resolve(parsed.host, parsed.port, [get](const beast::error_code& ec, tcp::resolver::results_type r) {
    if (ec) return get->finish(0);
    get->stream.async_connect(r, [get](const beast::error_code& cec, const tcp::endpoint&) {
      if (cec) return get->finish(0);
      http::async_write(get->stream, get->request, [get](const beast::error_code& wec, std::size_t) {
        if (wec) return get->finish(0);
        http::async_read(get->stream, get->buffer, get->parser, [get](const beast::error_code& rec, std::size_t) {
          get->finish(rec ? 0U : get->parser.get().result_int());
        });
      });
    });
  });
}

}  // namespace fleetsim::net
