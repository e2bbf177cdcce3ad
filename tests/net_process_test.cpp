// The real container runtime (net/, issue 14): releases run as processes. Liveness is the process, readiness the
// process or an HTTP probe, stop is SIGTERM to its process group then SIGKILL; and the agents library's NodeAgent,
// unchanged, rolls a node back when a new release's process dies before it is ready.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include "fleetsim/agents/node_agent.hpp"
#include "fleetsim/net/asio_ports.hpp"
#include "fleetsim/net/process_runtime.hpp"
#include "net_test_support.hpp"

namespace fleetsim::net {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

using testing::run_for;
using testing::step;

struct Event {
  std::string app;
  agents::ContainerEvent event;
  double at_s;
};

class Processes : public ::testing::Test {
 protected:
  Processes() : dir_(fs::temp_directory_path() / ("fleetsim-proc-" + std::to_string(::getpid()))) {
    fs::create_directories(dir_);
  }
  ~Processes() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  ProcessRuntime& runtime(std::vector<std::string> argv, std::string probe = {},
                          std::chrono::milliseconds grace = std::chrono::milliseconds(10000),
                          std::string ready_file = {}) {
    runtime_.emplace(
        io_,
        [argv, probe, ready_file, this](const agents::Release&) {
          ProcessSpec spec;
          spec.argv = argv;
          spec.env = {{"FLEETSIM_TEST_DIR", dir_.string()}};
          spec.probe_url = probe;
          spec.ready_file = ready_file;
          spec.probe_period = std::chrono::milliseconds(50);
          return spec;
        },
        [this](const std::string& app, agents::ContainerEvent e) {
          events.push_back({app, e, std::chrono::duration<double>(Clock::now() - t0_).count()});
        },
        grace);
    return *runtime_;
  }
  agents::Release release(const std::string& app, agents::Revision revision) {
    agents::Release r;
    r.app = app;
    r.revision = revision;
    r.version = "v" + std::to_string(revision);
    return r;
  }
  // Runs the io_context until `n` events arrived, at most `limit`.
  void run_until_events(std::size_t n, std::chrono::milliseconds limit = std::chrono::milliseconds(10000)) {
    const auto deadline = Clock::now() + limit;
    while (events.size() < n && Clock::now() < deadline) step(io_);
  }
  static bool alive(pid_t pid) { return testing::process_alive(pid); }
  std::string read(const std::string& name) {
    std::ifstream in(dir_ / name);
    std::string s;
    std::getline(in, s);
    return s;
  }

  asio::io_context io_;
  fs::path dir_;
  std::optional<ProcessRuntime> runtime_;
  std::vector<Event> events;
  Clock::time_point t0_ = Clock::now();
};

TEST_F(Processes, ARunningProcessIsStartedAndItsDeathIsAnExitWithItsEnvironment) {
  auto& rt = runtime({"sh", "-c", "echo $FLEETSIM_APP $FLEETSIM_REVISION $FLEETSIM_VERSION > $FLEETSIM_TEST_DIR/env; sleep 0.3; exit 3"});
  rt.start_container(release("pos", 4));
  EXPECT_GT(rt.pid("pos"), 0);
  run_until_events(2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].event, agents::ContainerEvent::started);
  EXPECT_EQ(events[1].event, agents::ContainerEvent::exited);
  EXPECT_GE(events[1].at_s, 0.3);  // it lived its 0.3 s
  EXPECT_EQ(read("env"), "pos 4 v4");
  EXPECT_EQ(rt.pid("pos"), 0);
}

TEST_F(Processes, ACommandThatCannotRunIsAnExitAndNeverAStart) {
  auto& rt = runtime({"/nonexistent/fleetsim-app"});
  rt.start_container(release("pos", 1));
  run_until_events(1);
  run_for(io_, std::chrono::milliseconds(100));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event, agents::ContainerEvent::exited);
}

TEST_F(Processes, StopIsSilentAndEndsTheWholeProcessGroupEvenOneThatIgnoresSigterm) {
  // The app ignores SIGTERM and has a child: after the 200 ms grace SIGKILL ends both, and no event follows stop().
  auto& rt = runtime({"sh", "-c", "trap '' TERM; sleep 30 & echo $! > $FLEETSIM_TEST_DIR/child; wait"}, {},
                     std::chrono::milliseconds(200));
  rt.start_container(release("pos", 1));
  run_until_events(1);
  const pid_t pid = rt.pid("pos");
  for (int i = 0; i < 100 && read("child").empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const pid_t child = static_cast<pid_t>(std::stol(read("child")));
  ASSERT_TRUE(alive(pid));
  ASSERT_TRUE(alive(child));
  const auto stopped_at = Clock::now();
  rt.stop_container("pos");
  EXPECT_EQ(rt.pid("pos"), 0);
  while (rt.stopping() > 0 && Clock::now() - stopped_at < std::chrono::seconds(5)) step(io_);
  EXPECT_EQ(rt.stopping(), 0u) << "not reaped within 5 s";
  EXPECT_GE(Clock::now() - stopped_at, std::chrono::milliseconds(200));  // SIGTERM was ignored: it took the SIGKILL
  EXPECT_FALSE(alive(pid));
  for (int i = 0; i < 50 && alive(child); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(alive(child)) << "the app's child survived";
  EXPECT_EQ(events.size(), 1u);  // only the start
}

// The agent stops the old release and starts the new one at once (stop() is immediate for it). A process that takes
// its grace period to die must not run beside its successor: the new one starts when the old one is reaped. Each
// process records its pid, and the second looks for the first when it starts.
TEST_F(Processes, ANewReleaseStartsOnlyOnceThePreviousProcessIsGone) {
  auto& rt = runtime({"sh", "-c",
                      "trap '' TERM; d=$FLEETSIM_TEST_DIR; echo $$ > $d/pid-$FLEETSIM_REVISION; "
                      "if [ $FLEETSIM_REVISION = 2 ] && kill -0 $(cat $d/pid-1) 2>/dev/null; then echo 1 > $d/overlap; fi; "
                      "sleep 30"},
                     {}, std::chrono::milliseconds(300));
  rt.start_container(release("pos", 1));
  run_until_events(1);
  for (int i = 0; i < 100 && read("pid-1").empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const pid_t first = static_cast<pid_t>(std::stol(read("pid-1")));
  const auto switched_at = Clock::now();
  rt.start_container(release("pos", 2));  // what NodeAgent does: the old one stops, the new one is asked for
  EXPECT_EQ(rt.pid("pos"), 0);            // nothing runs as the app while the old one dies
  EXPECT_EQ(rt.waiting(), 1u);
  run_until_events(2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].event, agents::ContainerEvent::started);
  EXPECT_GE(Clock::now() - switched_at, std::chrono::milliseconds(300));  // it ignored SIGTERM: the grace ran out
  EXPECT_FALSE(alive(first));
  EXPECT_EQ(read("overlap"), "") << "the new release ran beside the old one";
  EXPECT_GT(rt.pid("pos"), 0);
  EXPECT_EQ(rt.waiting(), 0u);
  EXPECT_EQ(rt.stopping(), 0u);
}

// A release still waiting for its predecessor that is stopped in turn never starts, and nothing is reported.
TEST_F(Processes, AWaitingReleaseThatIsStoppedNeverStarts) {
  auto& rt = runtime({"sh", "-c", "trap '' TERM; echo $$ > $FLEETSIM_TEST_DIR/pid-$FLEETSIM_REVISION; sleep 30"}, {},
                     std::chrono::milliseconds(200));
  rt.start_container(release("pos", 1));
  run_until_events(1);
  rt.start_container(release("pos", 2));
  rt.stop_container("pos");
  EXPECT_EQ(rt.waiting(), 0u);
  const auto stopped_at = Clock::now();
  while (rt.stopping() > 0 && Clock::now() - stopped_at < std::chrono::seconds(5)) step(io_);
  run_for(io_, std::chrono::milliseconds(200));
  EXPECT_EQ(rt.stopping(), 0u);
  EXPECT_EQ(rt.pid("pos"), 0);
  EXPECT_EQ(events.size(), 1u);  // the first start only
  EXPECT_FALSE(fs::exists(dir_ / "pid-2"));
}

TEST_F(Processes, WithAProbeTheReleaseIsStartedOnlyOnceItAnswers) {
  // A server that listens only after 0.5 s: the start comes after its first 200, not when the process runs.
  asio::ip::tcp::acceptor probe_port(io_, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = probe_port.local_endpoint().port();
  probe_port.close();
  auto& rt = runtime({"sh", "-c", "sleep 0.5; exec python3 -m http.server " + std::to_string(port) + " --bind 127.0.0.1 --directory $FLEETSIM_TEST_DIR"},
                     "http://127.0.0.1:" + std::to_string(port) + "/");
  rt.start_container(release("web", 1));
  run_until_events(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event, agents::ContainerEvent::started);
  EXPECT_GE(events[0].at_s, 0.5);
  EXPECT_TRUE(alive(rt.pid("web")));
}

// With a ready file, the release is started once the process has created it (FLEETSIM_READY_FILE), never because
// a previous process left one behind; a process that dies before creating it has exited, never started.
TEST_F(Processes, WithAReadyFileTheReleaseIsStartedOnlyOnceTheProcessCreatesIt) {
  const std::string ready = (dir_ / "web.ready").string();
  std::ofstream(ready) << "left by a previous process\n";
  auto& rt = runtime({"sh", "-c", "sleep 0.4; : > \"$FLEETSIM_READY_FILE\"; exec sleep 30"}, {},
                     std::chrono::milliseconds(10000), ready);
  rt.start_container(release("web", 1));
  run_until_events(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event, agents::ContainerEvent::started);
  EXPECT_GE(events[0].at_s, 0.4);
  EXPECT_TRUE(alive(rt.pid("web")));
  rt.stop_container("web");

  events.clear();
  auto& dies = runtime({"sh", "-c", "sleep 0.2; exit 3"}, {}, std::chrono::milliseconds(10000), ready);
  dies.start_container(release("web", 2));
  run_until_events(1);
  run_for(io_, std::chrono::milliseconds(200));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event, agents::ContainerEvent::exited);
}

// The agents library's NodeAgent with real processes: revision 2's process dies before it is ready, so the update
// fails (exited_before_ready) and the node runs revision 1 again, as a new process.
TEST_F(Processes, TheAgentRollsBackWhenTheNewReleasesProcessDiesBeforeItIsReady) {
  SteadyClock clock;
  SeededRandom random(3, "node");
  std::unique_ptr<agents::NodeAgent> agent;
  AsioTimers timers(io_, [&](agents::TimerId t) { agent->on_timer(t); });
  struct Channel final : agents::NodeChannel {
    void send_to_orchestrator(const agents::Message& m) override {
      if (const auto* s = std::get_if<agents::StatusReport>(&m)) reports.push_back(*s);
    }
    std::vector<agents::StatusReport> reports;
  } channel;
  struct NoLayers final : agents::Registry {  // releases without layers here: the registry port has its own tests
    agents::TransferId start_fetch(const agents::Layer&, std::uint64_t) override { return 0; }
    void cancel_fetch(agents::TransferId) override {}
    void remove_layer(const std::string&) override {}
  } registry;
  ProcessRuntime rt(
      io_,
      [](const agents::Release& r) {
        ProcessSpec spec;
        spec.argv = r.revision == 1 ? std::vector<std::string>{"sleep", "30"} : std::vector<std::string>{"sh", "-c", "exit 1"};
        return spec;
      },
      [&](const std::string& app, agents::ContainerEvent e) { agent->on_container_event(app, e); });
  agents::NodeAgentConfig config;
  config.disk_bytes = 1 << 20;
  agent = std::make_unique<agents::NodeAgent>(config, agents::NodeAgentPorts{clock, random, timers, channel, registry, rt});
  auto deploy = [&](agents::Revision revision, double ready_s) {
    agents::Release r = release("pos", revision);
    r.ready_s = ready_s;
    agent->on_message(agents::DesiredState{revision, r, false});
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      step(io_);
      if (!channel.reports.empty() && channel.reports.back().revision == revision &&
          (channel.reports.back().state == agents::NodeAppState::healthy || channel.reports.back().state == agents::NodeAppState::failed))
        return channel.reports.back();
    }
    return agents::StatusReport{};
  };
  ASSERT_EQ(deploy(1, 0.05).state, agents::NodeAppState::healthy);
  const pid_t first = rt.pid("pos");
  ASSERT_TRUE(alive(first));
  const auto failed = deploy(2, 1.0);
  EXPECT_EQ(failed.state, agents::NodeAppState::failed);
  EXPECT_EQ(failed.reason, agents::FailureReason::exited_before_ready) << failed.detail;
  run_for(io_, std::chrono::milliseconds(100));
  EXPECT_EQ(agent->running("pos")->revision, 1u);
  const pid_t again = rt.pid("pos");
  EXPECT_TRUE(alive(again));
  EXPECT_NE(again, first);  // revision 1 was stopped for 2 and started again
}

}  // namespace
}  // namespace fleetsim::net
