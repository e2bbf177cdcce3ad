// fleetsim-agent, the node agents' daemon (net/daemons, issue 14), run as a user runs it: its configuration's
// mistakes (exit 2, the file and the key named), and a deploy from an orchestrator in this test, over the control
// protocol, to three agents in one daemon process pulling from a real registry and running real processes, which
// end when the daemon is sent SIGTERM.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fleetsim/agents/orchestrator.hpp"
#include "fleetsim/net/agent_host.hpp"
#include "fleetsim/net/bus_host.hpp"
#include "fleetsim/net/asio_ports.hpp"
#include "fleetsim/net/control.hpp"
#include "fleetsim/net/http_registry.hpp"
#include "fleetsim/net/layer_store.hpp"
#include "fleetsim/net/orchestrator_host.hpp"
#include "net_test_support.hpp"

namespace fleetsim::net {
namespace {

using namespace fleetsim::net::testing;

const std::string kGood = R"({
  "orchestrator": "127.0.0.1:7400",
  "registry": {"url": "http://127.0.0.1:5000", "repository": "fleet/pos", "idle_timeout": "20s"},
  "state_dir": "/tmp/x",
  "nodes": {"first": 10, "count": 3},
  "agent": {"disk": "2GiB", "retry_initial": "1s", "retry_max": "1m", "max_concurrent_downloads": 2},
  "apps": {"pos": {"command": ["sleep", "30"], "probe": "http://127.0.0.1:8080/ready", "env": {"MODE": "edge"}}}
})";

std::string with(const std::string& from, const std::string& to) {
  std::string s = kGood;
  const auto at = s.find(from);
  if (at == std::string::npos) throw std::logic_error("no '" + from + "' in the configuration");
  return s.replace(at, from.size(), to);
}

TEST(AgentConfig, AGoodFileReadsAsWritten) {
  const AgentHostConfig c = parse_agent_host_config(kGood, "agent.json");
  EXPECT_EQ(c.orchestrator_port, 7400);
  EXPECT_EQ(c.nodes, (std::vector<agents::NodeId>{10, 11, 12}));
  EXPECT_EQ(c.agent.disk_bytes, 2ULL << 30);
  EXPECT_EQ(c.agent.retry_max_s, 60);
  EXPECT_EQ(c.registry.idle_timeout, std::chrono::milliseconds(20000));
  EXPECT_EQ(c.apps.at("pos").argv, (std::vector<std::string>{"sleep", "30"}));
  EXPECT_EQ(c.apps.at("pos").env.at("MODE"), "edge");
}

TEST(AgentConfig, EveryMistakeNamesTheFileAndTheKey) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"{", "agent.json: not JSON"},
      {"[]", "key 'the file': must be a JSON object"},
      {with("\"idle_timeout\"", "\"idle_timout\""), "key 'registry.idle_timout': unknown key"},
      {with("\"disk\": \"2GiB\"", "\"disk\": \"2 gigs\""), "key 'agent.disk'"},
      {with("\"disk\": \"2GiB\"", "\"dsik\": \"2GiB\""), "key 'agent.dsik': unknown key"},
      {with("127.0.0.1:7400", "127.0.0.1"), "key 'orchestrator': '127.0.0.1' is not host:port"},
      {with("http://127.0.0.1:5000", "https://r"), "key 'registry.url': 'https://r' is not an http:// URL"},
      {with("\"count\": 3", "\"count\": 0"), "key 'nodes.count': must be at least 1"},
      {with("\"idle_timeout\": \"20s\"", "\"idle_timeout\": \"1000w\""), "key 'registry.idle_timeout': must be above 0 and at most a day"},
      {with("\"state_dir\"", "\"uplink\": \"fast\", \"state_dir\""), "key 'uplink'"},
      {with("\"state_dir\"", "\"uplink\": \"0Mbps\", \"state_dir\""), "key 'uplink': must be above 0"},
      {with("\"count\": 3", "\"count\": 2.5"), "key 'nodes': first and count must be whole numbers"},
      {with("[\"sleep\", \"30\"]", "[]"), "key 'apps.pos.command': must be a non-empty array of strings"},
      {with("\"MODE\": \"edge\"", "\"MODE\": 1"), "key 'apps.pos.env.MODE': must be a string"},
      {with("\"env\":", "\"ready_file\": \"yes\", \"env\":"), "key 'apps.pos.ready_file': must be true or false"},
      {with("\"env\":", "\"ready_file\": true, \"env\":"), "key 'apps.pos.ready_file': and probe: use one of them"},
      {with("\"retry_initial\": \"1s\"", "\"retry_initial\": \"2m\""), "key 'agent.retry_initial': must be > 0 and at most"},
      {with("\"state_dir\": \"/tmp/x\",", ""), "key 'state_dir': missing"},
      {with("\"disk\": \"2GiB\", ", ""), "key 'agent.disk': missing"},
  };
  for (const auto& [text, expected] : cases) {
    try {
      parse_agent_host_config(text, "agent.json");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what() << "\n expected: " << expected;
      EXPECT_EQ(std::string(e.what()).rfind("agent.json: ", 0), 0u) << e.what();
    }
  }
}

pid_t spawn_agent(const std::vector<std::string>& args, const fs::path& log) {
  return spawn_daemon(FLEETSIM_AGENT_BINARY, args, log);
}


TEST(AgentDaemon, ABadConfigurationIsExitTwoWithTheFileAndKey) {
  const fs::path dir = fresh_dir("agent-bad");
  std::ofstream(dir / "agent.json") << with("\"disk\": \"2GiB\"", "\"disk\": \"lots\"");
  const pid_t pid = spawn_agent({(dir / "agent.json").string()}, dir / "log");
  ASSERT_GT(pid, 0);
  EXPECT_EQ(wait_exit(pid, std::chrono::seconds(10)), 2);
  const std::string log = file_bytes(dir / "log");
  EXPECT_NE(log.find((dir / "agent.json").string() + ": key 'agent.disk'"), std::string::npos) << log;
  const pid_t missing = spawn_agent({(dir / "nope.json").string()}, dir / "log2");
  EXPECT_EQ(wait_exit(missing, std::chrono::seconds(10)), 2);
  EXPECT_NE(file_bytes(dir / "log2").find("nope.json: cannot be read"), std::string::npos);
  const pid_t unknown = spawn_agent({"--frobnicate"}, dir / "log3");
  EXPECT_EQ(wait_exit(unknown, std::chrono::seconds(10)), 2);
  fs::remove_all(dir);
}

// A failed assertion must not leave a daemon (and its apps) running.
struct KillAtExit {
  pid_t pid;
  ~KillAtExit() {
    if (pid > 0 && ::waitpid(pid, nullptr, WNOHANG) == 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};


// The orchestrator of the agents library in this test, on the control protocol; three agents in one fleetsim-agent
// process; a real registry. The deploy succeeds on every node, each node's store holds the verified layer, each
// runs its process with its identity; SIGTERM ends the daemon (exit 0) and every process it started.
TEST(AgentDaemon, DeploysToThreeHostedAgentsFromARealRegistryAndStopsCleanly) {
  ScratchRegistry registry;
  ASSERT_EQ(registry.error(), "");
  const std::string blob = random_bytes(2 << 20, 31);
  const agents::Layer layer{push_blob(registry.url(), "fleet/pos", blob), blob.size()};

  asio::io_context io;
  SteadyClock clock;
  std::unique_ptr<agents::Orchestrator> orchestrator;
  AsioTimers timers(io, [&](agents::TimerId t) { orchestrator->on_timer(t); });
  ControlServer server(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::vector<agents::NodeInfo> inventory;
  for (agents::NodeId id = 20; id < 23; ++id) inventory.push_back({id, "n" + std::to_string(id), "store-1", {}, {}});
  orchestrator = std::make_unique<agents::Orchestrator>(inventory, agents::OrchestratorPorts{clock, timers, server});
  std::vector<std::string> received;
  server.on_message = [&](const agents::Message& m) {
    if (const auto* s = std::get_if<agents::StatusReport>(&m))
      received.push_back(std::to_string(s->node) + " " + agents::to_string(s->state));
    orchestrator->on_message(m);
  };
  server.on_send_failed = [&](agents::NodeId n, const agents::Message& m) { orchestrator->on_send_failed(n, m); };
  std::vector<std::string> errors;
  server.on_error = [&](const std::string& e) { errors.push_back(e); };

  const fs::path dir = fresh_dir("agent-daemon");
  std::ofstream(dir / "agent.json") << R"({"orchestrator": "127.0.0.1:)" << server.port() << R"(",
    "registry": {"url": ")" << registry.url() << R"(", "repository": "fleet/pos"},
    "state_dir": ")" << (dir / "state").string() << R"(",
    "nodes": {"first": 20, "count": 3},
    "agent": {"disk": "64MiB", "retry_initial": "50ms", "retry_max": "200ms", "stop_grace": "2s"},
    "apps": {"pos": {"command": ["sh", "-c", "echo $$ > $OUT/$FLEETSIM_NODE.pid; echo $FLEETSIM_LAYERS > $OUT/$FLEETSIM_NODE.layers; exec sleep 60"],
                     "env": {"OUT": ")" << dir.string() << R"("}}}})";
  const pid_t daemon = spawn_agent({(dir / "agent.json").string()}, dir / "agent.log");
  ASSERT_GT(daemon, 0);
  KillAtExit kill_at_exit{daemon};

  std::optional<agents::Operation> finished;
  orchestrator->on_operation_finished([&](const agents::Operation& op) { finished = op; });
  bool submitted = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!finished && std::chrono::steady_clock::now() < deadline) {
    step(io);
    if (!submitted && server.connected() == 3) {
      agents::Command deploy;
      deploy.kind = agents::Command::Kind::deploy;
      deploy.release.app = "pos";
      deploy.release.version = "1.0";
      deploy.release.layers = {layer};
      orchestrator->submit(deploy);
      submitted = true;
    }
  }
  EXPECT_TRUE(errors.empty()) << errors.front();
  ASSERT_TRUE(finished.has_value()) << "no deploy finished in 30 s (connected: " << server.connected() << ", reports: "
                                    << received.size() << ": " << ::testing::PrintToString(received) << ")\n"
                                    << file_bytes(dir / "agent.log");
  std::vector<pid_t> apps;
  for (const auto& t : finished->targets) {
    EXPECT_EQ(t.outcome, agents::NodeOutcome::succeeded) << "node " << t.node << ": " << t.detail;
    const fs::path stored = dir / "state" / ("node-" + std::to_string(t.node)) / "layers" / "blobs" / "sha256" / layer.digest.substr(7);
    EXPECT_EQ(file_bytes(stored), blob) << stored;
    std::string line;
    std::getline(std::ifstream(dir / (std::to_string(t.node) + ".layers")) >> std::ws, line);
    EXPECT_EQ(line, stored.string());  // the process is told where its image's layers are
    std::ifstream pid_file(dir / (std::to_string(t.node) + ".pid"));
    pid_t pid = 0;
    pid_file >> pid;
    EXPECT_TRUE(process_alive(pid)) << "node " << t.node;
    apps.push_back(pid);
  }
  EXPECT_EQ(finished->targets.size(), 3u);
  const std::string log = file_bytes(dir / "agent.log");
  EXPECT_NE(log.find("node=21 app=pos revision=1 state=healthy"), std::string::npos) << log;

  // The daemon is killed (SIGKILL: its apps outlive it, orphaned) and started again on the same state: every node
  // reboots from its disk. The orphans are ended, the committed release starts again from the stored layer (no
  // pull: the layer file is not rewritten), and each node says it is healthy again.
  const auto layer_written = fs::last_write_time(dir / "state" / "node-20" / "layers" / "blobs" / "sha256" / layer.digest.substr(7));
  ::kill(daemon, SIGKILL);
  ::waitpid(daemon, nullptr, 0);
  for (pid_t pid : apps) EXPECT_TRUE(process_alive(pid));
  const std::size_t reports_before = received.size();
  const pid_t again = spawn_agent({(dir / "agent.json").string()}, dir / "agent2.log");
  kill_at_exit.pid = again;
  const auto reboot_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (received.size() < reports_before + 3 && std::chrono::steady_clock::now() < reboot_deadline) step(io);
  ASSERT_EQ(received.size(), reports_before + 3) << file_bytes(dir / "agent2.log");
  for (std::size_t i = reports_before; i < received.size(); ++i) EXPECT_NE(received[i].find("healthy"), std::string::npos) << received[i];
  for (pid_t pid : apps) {
    for (int i = 0; i < 100 && process_alive(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_FALSE(process_alive(pid)) << "an orphan of the killed daemon still runs";
  }
  const std::string log2 = file_bytes(dir / "agent2.log");
  EXPECT_NE(log2.find("node=20 ended 1 app process(es) left by the previous run"), std::string::npos) << log2;
  EXPECT_NE(log2.find("node=20 boots from its disk"), std::string::npos) << log2;
  EXPECT_EQ(fs::last_write_time(dir / "state" / "node-20" / "layers" / "blobs" / "sha256" / layer.digest.substr(7)), layer_written);
  apps.clear();
  for (agents::NodeId node = 20; node < 23; ++node) {
    pid_t pid = 0;
    std::ifstream(dir / (std::to_string(node) + ".pid")) >> pid;
    EXPECT_TRUE(process_alive(pid)) << "node " << node << " runs its release again";
    apps.push_back(pid);
  }

  ASSERT_EQ(::kill(again, SIGTERM), 0);
  EXPECT_EQ(wait_exit(again, std::chrono::seconds(10)), 0) << file_bytes(dir / "agent2.log");
  for (pid_t pid : apps) {
    for (int i = 0; i < 100 && process_alive(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_FALSE(process_alive(pid)) << "an app process outlived its daemon";
  }
  fs::remove_all(dir);
}

// Both daemons as separate processes, the orchestrator killed with SIGKILL (no destructor, no flush at exit) after a
// deploy and started again on its journal: it shows the same finished operation, the agents reconnect, and a rollout
// to revision 2 succeeds everywhere. SIGTERM ends both with exit 0.
TEST(Daemons, TheOrchestratorKilledWithSigkillComesBackFromItsJournal) {
  using nlohmann::json;
  const fs::path dir = fresh_dir("daemons");
  const unsigned short control = free_port(), http = free_port();
  std::ofstream(dir / "orchestrator.json") << R"({"control": "127.0.0.1:)" << control << R"(", "http": "127.0.0.1:)" << http
                                           << R"(", "journal": ")" << (dir / "journal.jsonl").string() << R"(",
    "inventory": [{"id": 20, "site": "store-1"}, {"id": 21, "site": "store-1"}, {"id": 22, "site": "store-2"}]})";
  std::ofstream(dir / "agent.json") << R"({"orchestrator": "127.0.0.1:)" << control << R"(",
    "registry": {"url": "http://127.0.0.1:9", "repository": "fleet/pos"}, "state_dir": ")" << (dir / "state").string() << R"(",
    "nodes": [20, 21, 22], "agent": {"disk": "1MiB", "reconnect_initial": "50ms", "reconnect_max": "200ms", "stop_grace": "1s"},
    "apps": {"pos": {"command": ["sleep", "60"]}}})";
  auto start_orchestrator = [&](const std::string& log) {
    const pid_t pid = spawn_daemon(FLEETSIM_ORCHESTRATOR_BINARY, {(dir / "orchestrator.json").string()}, dir / log);
    for (int i = 0; i < 500 && http_call(http, "GET", "/healthz").status != 200; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return pid;
  };
  auto poll = [&](const std::string& target, const std::function<bool(const json&)>& done) {
    json last;
    for (int i = 0; i < 1000; ++i) {
      const HttpAnswer a = http_call(http, "GET", target);
      if (a.status == 200 && done(last = json::parse(a.body))) return last;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "GET " << target << ": " << last.dump();
    return last;
  };
  KillAtExit orchestrator{start_orchestrator("orchestrator.log")};
  ASSERT_EQ(http_call(http, "GET", "/healthz").status, 200u) << file_bytes(dir / "orchestrator.log");
  KillAtExit agents{spawn_agent({(dir / "agent.json").string()}, dir / "agent.log")};
  poll("/v1/nodes", [](const json& j) { return j["connected"] == 3; });
  const std::string deploy = R"({"kind": "deploy", "release": {"app": "pos", "version": "1.0", "layers": []}, "selector": {}})";
  ASSERT_EQ(http_call(http, "POST", "/v1/operations", deploy).status, 201u);
  const json first = poll("/v1/operations/1", [](const json& j) { return j["finished"] == true; });
  EXPECT_EQ(first["succeeded"], 3);

  ::kill(orchestrator.pid, SIGKILL);
  ::waitpid(orchestrator.pid, nullptr, 0);
  orchestrator.pid = start_orchestrator("orchestrator2.log");
  ASSERT_EQ(http_call(http, "GET", "/healthz").status, 200u) << file_bytes(dir / "orchestrator2.log");
  EXPECT_EQ(json::parse(http_call(http, "GET", "/v1/operations/1").body).dump(), first.dump());
  poll("/v1/nodes", [](const json& j) { return j["connected"] == 3; });
  const std::string rollout = R"({"kind": "rollout", "release": {"app": "pos", "version": "2.0", "layers": []},
                                  "strategy": {"kind": "batches", "batch_size": 1}})";
  const HttpAnswer created = http_call(http, "POST", "/v1/operations", rollout);
  ASSERT_EQ(created.status, 201u) << created.body;
  EXPECT_EQ(json::parse(created.body)["to_revision"], 2);
  const json second = poll("/v1/operations/2", [](const json& j) { return j["finished"] == true; });
  EXPECT_EQ(second["succeeded"], 3);

  ::kill(agents.pid, SIGTERM);
  ::kill(orchestrator.pid, SIGTERM);
  EXPECT_EQ(wait_exit(agents.pid, std::chrono::seconds(10)), 0) << file_bytes(dir / "agent.log");
  EXPECT_EQ(wait_exit(orchestrator.pid, std::chrono::seconds(10)), 0) << file_bytes(dir / "orchestrator2.log");
  const std::string log = file_bytes(dir / "orchestrator2.log");
  EXPECT_NE(log.find("operation=2 app=pos revision=2 finished succeeded=3"), std::string::npos) << log;
  fs::remove_all(dir);
}

TEST(Daemons, TheOrchestratorRefusesABadConfigurationWithExitTwo) {
  const fs::path dir = fresh_dir("orch-bad");
  std::ofstream(dir / "o.json") << R"({"journal": "j", "inventory": [{"id": 1, "labels": {"tier": 3}}]})";
  const pid_t pid = spawn_daemon(FLEETSIM_ORCHESTRATOR_BINARY, {(dir / "o.json").string()}, dir / "log");
  EXPECT_EQ(wait_exit(pid, std::chrono::seconds(10)), 2);
  EXPECT_NE(file_bytes(dir / "log").find("o.json: key 'inventory[0].labels.tier': must be a string"), std::string::npos)
      << file_bytes(dir / "log");
  fs::remove_all(dir);
}

// --help is how a person finds the HTTP API: it exits 0 and names every route the server answers (docs/DAEMONS.md).
TEST(Daemons, TheOrchestratorsHelpNamesEveryRoute) {
  const fs::path dir = fresh_dir("orch-help");
  const pid_t pid = spawn_daemon(FLEETSIM_ORCHESTRATOR_BINARY, {"--help"}, dir / "log");
  EXPECT_EQ(wait_exit(pid, std::chrono::seconds(10)), 0);
  const std::string help = file_bytes(dir / "log");
  for (const char* route : {"POST /v1/operations ", "POST /v1/operations/<id>/abort", "POST /v1/operations/<id>/revert",
                            "/v1/operations/<id>,", "/v1/nodes", "/v1/apps", "/healthz"})
    EXPECT_NE(help.find(route), std::string::npos) << route << " missing from:\n" << help;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace fleetsim::net

namespace fleetsim::net {
namespace {

// The example configurations the README starts the daemons with (net/daemons/examples/) are read as the daemons read
// them: a key renamed in a daemon without its example fails here, not in a user's first try.
TEST(Examples, TheReadmesExampleConfigurationsAreWhatTheDaemonsRead) {
  const std::filesystem::path dir = std::filesystem::path(FLEETSIM_SOURCE_DIR) / "net" / "daemons" / "examples";
  const OrchestratorHostConfig o = load_orchestrator_config(dir / "orchestrator.json");
  EXPECT_EQ(o.control_port, 7400);
  EXPECT_EQ(o.http_port, 7480);
  ASSERT_EQ(o.inventory.size(), 3u);
  const AgentHostConfig a = load_agent_host_config(dir / "agent.json");
  EXPECT_EQ(a.orchestrator_port, o.control_port);
  EXPECT_EQ(a.nodes, (std::vector<agents::NodeId>{1, 2, 3}));
  for (std::size_t k = 0; k < a.nodes.size(); ++k) EXPECT_EQ(a.nodes[k], o.inventory[k].id);
  EXPECT_EQ(a.registry.url, "http://127.0.0.1:5000");
  EXPECT_EQ(a.apps.count("hello"), 1u);
  const BusHostConfig b = load_bus_config(dir / "bus.json");
  EXPECT_EQ(b.streams.size(), 2u);
  EXPECT_EQ(b.bus.preset, "azure_edgehub");
  std::ifstream registry(dir / "registry.yml");
  const std::string yml{std::istreambuf_iterator<char>(registry), std::istreambuf_iterator<char>()};
  EXPECT_NE(yml.find("addr: 127.0.0.1:5000"), std::string::npos) << yml;
}

}  // namespace
}  // namespace fleetsim::net
