// The agents' real runtime (net/, issue 14): the control protocol on the wire, and the orchestrator and node agents
// of the agents library, unchanged, talking over real loopback TCP with real timers on one io_context.
#include <chrono>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "fleetsim/agents/node_agent.hpp"
#include "fleetsim/agents/orchestrator.hpp"
#include "fleetsim/net/asio_ports.hpp"
#include "fleetsim/net/control.hpp"
#include "fleetsim/net/wire.hpp"

namespace fleetsim::net {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

agents::Release release(const std::string& app, agents::Revision revision) {
  agents::Release r;
  r.app = app;
  r.revision = revision;
  r.version = "2.4.1 \"quoted\"\nwith a newline";  // JSON escapes it: a line stays a frame
  r.layers = {{"sha256:aa", 1000}, {"sha256:bb", 5ULL << 32}};
  r.start_s = 0.01;
  r.ready_s = 0.02;
  r.requires = {{"cpu", 0.5}, {"gpu", 1}};
  return r;
}

TEST(Wire, EveryMessageRoundTripsOnOneLine) {
  agents::DesiredState d{7, release("pos", 3), true};
  agents::StatusReport s{12, "pos", 3, 7, agents::NodeAppState::failed, "pull of layer sha256:aa failed 5 times",
                         agents::FailureReason::pull_failed};
  agents::Poll p{12, {{"pos", 7}, {"vision", 2}}};
  for (const agents::Message& m : {agents::Message(d), agents::Message(s), agents::Message(p)}) {
    const std::string line = encode(m);
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
    const agents::Message back = decode(line);
    ASSERT_EQ(back.index(), m.index());
    EXPECT_EQ(encode(back), line);
  }
  const auto back = std::get<agents::DesiredState>(decode(encode(d)));
  EXPECT_EQ(back.release.version, d.release.version);
  EXPECT_EQ(back.release.layers[1].size_bytes, 5ULL << 32);
  EXPECT_EQ(back.release.requires.at("gpu"), 1);
  EXPECT_TRUE(back.rollback);
  const auto status = std::get<agents::StatusReport>(decode(encode(s)));
  EXPECT_EQ(status.reason, agents::FailureReason::pull_failed);
  EXPECT_EQ(status.state, agents::NodeAppState::failed);
  EXPECT_EQ(decode_hello(encode_hello(4000000000U)), 4000000000U);
}

// Bad input: each line is an error that names what is wrong, never a crash or a default value.
TEST(Wire, ALineThatIsNotAMessageIsAnErrorNamingTheKey) {
  const std::string ok = encode(agents::StatusReport{1, "pos", 1, 1, agents::NodeAppState::healthy, "", {}});
  auto with = [&](const std::string& from, const std::string& to) {
    std::string line = ok;
    line.replace(line.find(from), from.size(), to);
    return line;
  };
  const std::vector<std::pair<std::string, std::string>> cases{
      {"", "not JSON"},
      {"{\"v\":1", "not JSON"},
      {"[1,2]", "not a JSON object"},
      {with("\"v\":1", "\"v\":2"), "key 'v': protocol version 1 expected"},
      {with("\"type\":\"status\"", "\"type\":\"stats\""), "key 'type': 'stats' is not one of desired_state, status, poll"},
      {with("\"state\":\"healthy\"", "\"state\":\"heathy\""), "status: key 'state': 'heathy' is not one of accepted"},
      {with("\"reason\":\"none\"", "\"reason\":\"bored\""), "status: key 'reason': 'bored' is not one of none"},
      {with("\"node\":1", "\"node\":-1"), "status: key 'node' has the wrong type (number)"},
      {with("\"node\":1", "\"node\":4294967296"), "status: key 'node': 4294967296 is out of range"},
      {with("\"app\":\"pos\",", ""), "status: key 'app' is missing"},
      {with("\"detail\":\"\"", "\"detail\":null"), "status: key 'detail' has the wrong type (null)"},
      {"{\"v\":1,\"type\":\"poll\",\"node\":1,\"generations\":{\"pos\":\"7\"}}", "poll.generations: key 'pos' is not a generation"},
      {"{\"v\":1,\"type\":\"desired_state\",\"generation\":1,\"rollback\":false,\"release\":{\"app\":\"a\",\"revision\":1,"
       "\"version\":\"1\",\"layers\":[],\"start_s\":1e400,\"ready_s\":0,\"requires\":{}}}",
       "not JSON"},  // a number beyond a double is refused by the parser, never read as infinity
      {"{\"v\":1,\"type\":\"desired_state\",\"generation\":1,\"rollback\":false,\"release\":{\"app\":\"a\",\"revision\":1,"
       "\"version\":\"1\",\"layers\":[],\"start_s\":-0.5,\"ready_s\":0,\"requires\":{}}}",
       "desired_state.release: key 'start_s': -0.5 is negative"},
      {"{\"v\":1,\"type\":\"desired_state\",\"generation\":1,\"rollback\":false,\"release\":{\"app\":\"a\",\"revision\":1,"
       "\"version\":\"1\",\"layers\":[],\"start_s\":0,\"ready_s\":0,\"requires\":{\"cpu\":-2}}}",
       "desired_state.release.requires: key 'cpu': -2 is negative"},
      {"{\"v\":1,\"type\":\"desired_state\",\"generation\":1,\"rollback\":false,\"release\":{\"app\":\"a\",\"revision\":1,"
       "\"version\":\"1\",\"layers\":[{\"digest\":\"d\"}],\"start_s\":0,\"ready_s\":0,\"requires\":{}}}",
       "desired_state.release.layers: key 'size_bytes' is missing"},
  };
  for (const auto& [line, expected] : cases) {
    try {
      decode(line);
      ADD_FAILURE() << "accepted: " << line;
    } catch (const WireError& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << line << "\n -> " << e.what();
    }
  }
  EXPECT_THROW(decode_hello(ok), WireError);  // a connection must start with a hello
}

// A node of the real runtime: the agents library's NodeAgent with the Asio clock, timers and control channel. Its
// registry and container runtime here are local stand-ins on asio timers (a pull takes 2 ms, a start takes the
// release's start_s): the real ones (OCI registry over HTTP, processes) are the next step of issue 14.
class LocalNode final : public agents::Registry, public agents::ContainerRuntime {
 public:
  LocalNode(asio::io_context& io, agents::Clock& clock, agents::NodeId id, tcp::endpoint orchestrator)
      : io_(io),
        random_(1, "node-" + std::to_string(id)),
        timers_(io, [this](agents::TimerId t) { agent_->on_timer(t); }),
        channel_(io, id, orchestrator) {
    agents::NodeAgentConfig config;
    config.id = id;
    config.disk_bytes = 1ULL << 30;
    config.retry_initial_s = 0.05;
    config.retry_max_s = 0.2;
    agent_ = std::make_unique<agents::NodeAgent>(config,
                                                 agents::NodeAgentPorts{clock, random_, timers_, channel_, *this, *this});
    channel_.on_message = [this](const agents::Message& m) { agent_->on_message(m); };
    channel_.on_send_failed = [this](const agents::Message& m) { agent_->on_send_failed(m); };
  }
  void start() {
    agent_->start();
    channel_.connect();
  }
  agents::TransferId start_fetch(const agents::Layer& layer, std::uint64_t offset) override {
    const agents::TransferId id = next_++;
    after(0.002, [this, id, bytes = layer.size_bytes - offset] { agent_->on_fetch_done(id, {true, bytes, "", {}}); });
    return id;
  }
  void cancel_fetch(agents::TransferId) override {}
  void remove_layer(const std::string&) override {}
  void start_container(const agents::Release& r) override {
    after(r.start_s, [this, app = r.app] { agent_->on_container_event(app, agents::ContainerEvent::started); });
  }
  void stop_container(const std::string&) override {}
  const agents::NodeAgent& agent() const { return *agent_; }

 private:
  void after(double s, std::function<void()> f) {
    auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                               std::chrono::duration<double>(s)));
    timer->async_wait([timer, f = std::move(f)](const boost::system::error_code& ec) {
      if (!ec) f();
    });
  }
  asio::io_context& io_;
  SeededRandom random_;
  AsioTimers timers_;
  ControlClient channel_;
  std::unique_ptr<agents::NodeAgent> agent_;
  agents::TransferId next_ = 1;
};

// The orchestrator and three node agents of the agents library, on one io_context, over loopback TCP: a deploy
// reaches every node, each pulls, starts and reports healthy, and the operation succeeds on all three, in real time.
TEST(Control, AnOrchestratorAndThreeNodesDeployOverLoopbackTcp) {
  asio::io_context io;
  SteadyClock clock;
  std::unique_ptr<agents::Orchestrator> orchestrator;
  AsioTimers timers(io, [&](agents::TimerId t) { orchestrator->on_timer(t); });
  ControlServer server(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::vector<agents::NodeInfo> inventory;
  for (agents::NodeId id = 0; id < 3; ++id) inventory.push_back({id, "n" + std::to_string(id), "store-1", {}, {}});
  orchestrator = std::make_unique<agents::Orchestrator>(inventory, agents::OrchestratorPorts{clock, timers, server});
  server.on_message = [&](const agents::Message& m) { orchestrator->on_message(m); };
  server.on_send_failed = [&](agents::NodeId n, const agents::Message& m) { orchestrator->on_send_failed(n, m); };
  std::vector<std::string> errors;
  server.on_error = [&](const std::string& e) { errors.push_back(e); };

  std::vector<std::unique_ptr<LocalNode>> nodes;
  const tcp::endpoint at(asio::ip::make_address("127.0.0.1"), server.port());
  for (agents::NodeId id = 0; id < 3; ++id) nodes.push_back(std::make_unique<LocalNode>(io, clock, id, at));
  std::optional<agents::Operation> finished;
  orchestrator->on_operation_finished([&](const agents::Operation& op) {
    finished = op;
    io.stop();
  });
  server.on_node_connected = [&](agents::NodeId) {
    if (server.connected() < 3) return;
    agents::Command deploy;
    deploy.kind = agents::Command::Kind::deploy;
    deploy.release = release("pos", 0);
    deploy.release.requires.clear();  // the inventory declares no capacity: a release needing a GPU would not fit
    deploy.release.layers.pop_back();  // nor would a 20 GiB layer on a 1 GiB disk (the node says disk_full)
    orchestrator->submit(deploy);
  };
  for (auto& n : nodes) n->start();
  io.run_for(std::chrono::seconds(20));

  ASSERT_TRUE(finished.has_value()) << "the deploy did not finish in 20 s";
  for (const auto& t : finished->targets)
    EXPECT_EQ(t.outcome, agents::NodeOutcome::succeeded) << "node " << t.node << ": " << agents::to_string(t.reason)
                                                         << " " << t.detail;
  EXPECT_EQ(finished->succeeded, 3u);
  EXPECT_EQ(finished->failed + finished->timed_out + finished->canceled, 0u);
  for (const auto& n : nodes) {
    const agents::Release* running = n->agent().running("pos");
    ASSERT_NE(running, nullptr);
    EXPECT_EQ(running->revision, finished->to_revision);
  }
  // Real time passed: at least the start and readiness of the release.
  EXPECT_GE(*finished->finished_at - finished->started_at, 0.03);
  EXPECT_TRUE(errors.empty());
}

// A port call returns at once; what cannot be delivered comes back later as a send failure: a node with no
// orchestrator to connect to, and an orchestrator sending to a node that never connected.
TEST(Control, WhatCannotBeDeliveredComesBackLaterAsASendFailure) {
  asio::io_context io;
  std::vector<agents::Message> node_failed;
  std::vector<std::pair<agents::NodeId, agents::Message>> orchestrator_failed;
  ControlServer server(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  server.on_send_failed = [&](agents::NodeId n, const agents::Message& m) { orchestrator_failed.emplace_back(n, m); };
  server.send_to_node(5, agents::DesiredState{1, release("pos", 1), false});
  EXPECT_TRUE(orchestrator_failed.empty());  // not within the call

  const tcp::endpoint nobody(asio::ip::make_address("127.0.0.1"), server.port());
  server.stop();  // the port is closed: connecting fails
  ControlClient client(io, 5, nobody);
  std::string why;
  client.on_disconnected = [&](const std::string& w) { why = w; };
  client.on_send_failed = [&](const agents::Message& m) { node_failed.push_back(m); };
  client.connect();
  client.send_to_orchestrator(agents::Poll{5, {}});
  EXPECT_TRUE(node_failed.empty());
  io.run_for(std::chrono::seconds(5));
  ASSERT_EQ(orchestrator_failed.size(), 1u);
  EXPECT_EQ(orchestrator_failed[0].first, 5u);
  ASSERT_EQ(node_failed.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<agents::Poll>(node_failed[0]));
  EXPECT_NE(why.find("cannot connect to the orchestrator"), std::string::npos) << why;
}

// A node whose orchestrator goes away (a restart) reconnects with back-off once it is back on the same port, says
// hello again, and what it sends then arrives; what it sent while there was no connection came back as failures.
TEST(Control, ANodeReconnectsWhenItsOrchestratorComesBack) {
  asio::io_context io;
  auto server = std::make_unique<ControlServer>(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const unsigned short port = server->port();
  ControlClient client(io, 9, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  client.reconnect(0.02, 0.1);
  std::vector<std::string> lost;
  std::vector<agents::Message> failed, received;
  int connections = 0;
  client.on_disconnected = [&](const std::string& why) { lost.push_back(why); };
  client.on_send_failed = [&](const agents::Message& m) { failed.push_back(m); };
  client.on_connected = [&] {
    if (++connections == 1) {
      server.reset();  // the orchestrator stops: the connection and the listening port close
      client.send_to_orchestrator(agents::Poll{9, {{"pos", 1}}});  // no connection (closed or closing): fails
      // Back on the same port a little later, while the node retries.
      auto later = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(150));
      later->async_wait([&, later](const boost::system::error_code&) {
        server = std::make_unique<ControlServer>(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
        server->on_message = [&](const agents::Message& m) {
          received.push_back(m);
          io.stop();
        };
      });
    } else {
      client.send_to_orchestrator(agents::Poll{9, {{"pos", 2}}});
    }
  };
  client.connect();
  io.run_for(std::chrono::seconds(10));
  EXPECT_EQ(connections, 2);
  EXPECT_GE(lost.size(), 1u);  // the lost connection, then maybe a refused attempt or two
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(std::get<agents::Poll>(received[0]).generations.at("pos"), 2u);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(std::get<agents::Poll>(failed[0]).generations.at("pos"), 1u);
}

// A peer that speaks something else is cut off with the reason, and the others are not disturbed.
TEST(Control, APeerThatBreaksTheProtocolIsDisconnectedWithTheReason) {
  asio::io_context io;
  ControlServer server(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::vector<std::string> errors;
  server.on_error = [&](const std::string& e) {
    errors.push_back(e);
    io.stop();
  };
  tcp::socket raw(io);
  raw.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
  const std::string hello = "GET / HTTP/1.1\r\n\r\n";
  boost::asio::write(raw, asio::buffer(hello));
  io.run_for(std::chrono::seconds(5));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("not JSON"), std::string::npos) << errors[0];
  EXPECT_EQ(server.connected(), 0u);
}

}  // namespace
}  // namespace fleetsim::net
