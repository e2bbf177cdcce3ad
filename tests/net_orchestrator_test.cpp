// fleetsim-orchestrator's core (net/, issue 14): the agents library's Orchestrator behind an HTTP/JSON API and the
// control protocol, with its state in a journal. Tested as its users use it: operations submitted and read over HTTP
// while real node agents (an AgentHost running `sleep` as the app) take part; then the orchestrator is destroyed and
// built again from its journal, and must show the same operations, keep numbering revisions, and roll out again.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fleetsim/checks/invariants.hpp"
#include "fleetsim/net/agent_host.hpp"
#include "fleetsim/net/operations_json.hpp"
#include "fleetsim/net/orchestrator_host.hpp"
#include "net_test_support.hpp"

namespace fleetsim::net {
namespace {

using namespace fleetsim::net::testing;
using nlohmann::json;

TEST(OperationsJson, ACommandRoundTripsAndEveryMistakeNamesItsKey) {
  const json body = json::parse(R"({"kind": "deploy",
    "release": {"app": "pos", "version": "2.4.1", "layers": [{"digest": "sha256:aa", "size": "450MiB"}],
                "start": "2s", "ready": 5, "requires": {"cpu": 0.5}},
    "selector": {"site": "store-1"},
    "strategy": {"kind": "canary", "canary_size": 2, "canary_time": "10m", "batch_percent": 25, "healthy_time": "5m"},
    "node_deadline": "30m",
    "abort": {"failure_threshold": 20, "min_executed": 3, "failure_type": "failed"}, "rollback": "revert_all"})");
  const agents::Command c = command_from_json(body, "request body");
  EXPECT_EQ(c.release.layers.at(0).size_bytes, 450ULL << 20);
  EXPECT_EQ(c.release.start_s, 2);
  EXPECT_EQ(c.strategy.kind, agents::Strategy::Kind::canary);
  EXPECT_EQ(c.strategy.canary_time_s, 600);
  EXPECT_EQ(c.node_deadline_s, 1800);
  EXPECT_EQ(c.abort_failure_type, agents::Command::FailureType::failed);
  EXPECT_EQ(c.rollback, agents::Command::Rollback::revert_all);
  // The journal's form reads back to the same command.
  EXPECT_EQ(command_json(command_from_json(command_json(c), "journal")).dump(), command_json(c).dump());

  const std::vector<std::pair<std::string, std::string>> bad{
      {R"({"kind": "redeploy", "release": {}})", "key 'kind': 'redeploy' is not deploy or rollout"},
      {R"({"kind": "deploy"})", "key 'release': missing"},
      {R"({"kind": "deploy", "release": {"app": "pos", "version": "1", "layers": [{"digest": "d", "size": "big"}]}})",
       "key 'release.layers[0].size'"},
      {R"({"kind": "deploy", "release": {"app": "pos", "version": "1", "layers": [], "requires": {"gpus": 1}}})",
       "key 'release.requires.gpus': unknown resource"},
      {R"({"kind": "deploy", "release": {"app": "pos", "version": "1", "layers": []}, "strategy": {"kind": "waves"}})",
       "key 'strategy.kind': 'waves' is not"},
      {R"({"kind": "deploy", "release": {"app": "pos", "version": "1", "layers": []}, "strategy": {"kind": "batches", "batch_sise": 3}})",
       "key 'strategy.batch_sise': unknown key"},
      {R"({"kind": "rollout", "release": {"app": "pos", "version": "1", "layers": []}, "selector": {"a": "b"}})",
       "key 'selector': a rollout targets where the app runs"},
      {R"({"kind": "deploy", "release": {"app": "pos", "version": "1", "layers": []}, "rollback": "revert_all"})",
       "key 'rollback': revert_all needs an abort rule"},
      {R"({"kind": "deploy", "release": {"app": "pos", "version": "1", "layers": []}, "abort": {"failure_threshold": 120}})",
       "key 'abort.failure_threshold': must be a percentage"},
      {R"({"kind": "deploy", "release": {"app": "pos", "version": "1", "layers": []}, "node_deadline": "soon"})",
       "key 'node_deadline'"},
  };
  for (const auto& [text, expected] : bad) {
    try {
      command_from_json(json::parse(text), "request body");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what() << "\n expected: " << expected;
    }
  }
}

// The orchestrator (built and rebuilt) and three node agents, on one io_context run by a thread of its own; the test
// speaks HTTP to it from the main thread, as curl would.
class OrchestratorService : public ::testing::Test {
 protected:
  OrchestratorService() : dir_(fresh_dir("orchestrator")), control_port_(free_port()) {
    config_.control_host = "127.0.0.1";
    config_.control_port = control_port_;
    config_.http_port = 0;
    config_.journal = dir_ / "journal.jsonl";
    for (agents::NodeId id = 0; id < 3; ++id) config_.inventory.push_back({id, "n" + std::to_string(id), "store-1", {}, {}});
    agent_config_ = parse_agent_host_config(R"({"orchestrator": "127.0.0.1:)" + std::to_string(control_port_) + R"(",
      "registry": {"url": "http://127.0.0.1:9", "repository": "fleet/pos"},
      "state_dir": ")" + (dir_ / "agents").string() + R"(", "nodes": {"first": 0, "count": 3},
      "agent": {"disk": "1MiB", "reconnect_initial": "50ms", "reconnect_max": "200ms", "stop_grace": "1s"},
      "apps": {"pos": {"command": ["sleep", "30"]}}})", "agents");
  }
  ~OrchestratorService() override {
    pause();
    agents_.reset();
    orchestrator_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void start_orchestrator() {
    pause();
    orchestrator_.reset();
    orchestrator_ = std::make_unique<OrchestratorHost>(io_, config_);
    if (!agents_) {
      agents_ = std::make_unique<AgentHost>(io_, agent_config_);
      agents_->start();
    }
    resume();
  }
  void pause() {
    if (!thread_.joinable()) return;
    io_.stop();
    thread_.join();
  }
  void resume() {
    io_.restart();
    thread_ = std::thread([this] {
      auto guard = boost::asio::make_work_guard(io_);
      io_.run();
    });
  }
  HttpAnswer call(const std::string& method, const std::string& target, const std::string& body = {}) {
    return http_call(orchestrator_->http_port(), method, target, body);
  }
  // Polls GET target until `done` holds of its JSON, at most 20 s.
  json poll(const std::string& target, const std::function<bool(const json&)>& done) {
    json last;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      const HttpAnswer a = call("GET", target);
      if (a.status == 200) {
        last = json::parse(a.body);
        if (done(last)) return last;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "GET " << target << " never satisfied the condition; last: " << last.dump();
    return last;
  }
  std::string release(const std::string& kind, const std::string& version) {
    return R"({"kind": ")" + kind + R"(", "release": {"app": "pos", "version": ")" + version + R"(", "layers": [], "ready": "50ms"}})";
  }

  fs::path dir_;
  unsigned short control_port_;
  OrchestratorHostConfig config_;
  AgentHostConfig agent_config_;
  boost::asio::io_context io_;
  std::thread thread_;
  std::unique_ptr<OrchestratorHost> orchestrator_;
  std::unique_ptr<AgentHost> agents_;
};

TEST_F(OrchestratorService, OperationsOverHttpSurviveARestartFromTheJournal) {
  start_orchestrator();
  poll("/v1/nodes", [](const json& j) { return j["connected"] == 3; });
  const HttpAnswer created = call("POST", "/v1/operations", release("deploy", "1.0"));
  ASSERT_EQ(created.status, 201u) << created.body;
  EXPECT_EQ(created.location, "/v1/operations/1");
  const json first = poll("/v1/operations/1", [](const json& j) { return j["finished"] == true; });
  EXPECT_EQ(first["succeeded"], 3);
  EXPECT_EQ(first["to_revision"], 1);
  ASSERT_EQ(first["nodes"].size(), 3u);

  // Mistakes come back as 4xx with the key named; nothing is journaled for them.
  const HttpAnswer bad = call("POST", "/v1/operations", R"({"kind": "deploy", "release": {"app": "pos"}})");
  EXPECT_EQ(bad.status, 400u);
  EXPECT_NE(bad.body.find("key 'release.version': missing"), std::string::npos) << bad.body;
  EXPECT_EQ(call("POST", "/v1/operations", "{not json").status, 400u);
  EXPECT_EQ(call("GET", "/v1/operations/99").status, 404u);
  EXPECT_EQ(call("GET", "/v1/operations/x").status, 404u);
  EXPECT_EQ(call("DELETE", "/v1/operations/1").status, 405u);
  EXPECT_EQ(call("GET", "/v2/whatever").status, 404u);

  // The orchestrator goes away (its memory with it) and a crash tore the journal's last line; a new one replays it.
  pause();
  orchestrator_.reset();
  std::ofstream(config_.journal, std::ios::app) << R"({"t": 12.5, "messa)";
  start_orchestrator();
  EXPECT_GT(orchestrator_->replayed(), 3u);  // the submit, the nodes' reports
  const json again = call("GET", "/v1/operations/1").status == 200 ? json::parse(call("GET", "/v1/operations/1").body) : json();
  EXPECT_EQ(again.dump(), first.dump());  // the same operation, the same instants, the same outcomes

  poll("/v1/nodes", [](const json& j) { return j["connected"] == 3; });  // the agents reconnect with back-off
  const HttpAnswer rollout = call("POST", "/v1/operations", release("rollout", "2.0"));
  ASSERT_EQ(rollout.status, 201u) << rollout.body;
  EXPECT_EQ(json::parse(rollout.body)["to_revision"], 2);  // revisions go on from the journal
  const json second = poll("/v1/operations/2", [](const json& j) { return j["finished"] == true; });
  EXPECT_EQ(second["succeeded"], 3);
  EXPECT_EQ(second["from_revision"], 1);
  const json apps = json::parse(call("GET", "/v1/apps").body);
  EXPECT_EQ(apps["apps"][0]["desired_revision"], 2);

  // An operator reverts the rollout: every node goes back to revision 1, in a rollback operation.
  EXPECT_EQ(call("POST", "/v1/operations/1/abort").status, 409u);  // finished: nothing to abort
  EXPECT_EQ(call("GET", "/v1/operations/2/revert").status, 405u);
  EXPECT_EQ(call("POST", "/v1/operations/2/abort", R"({"revert": "yes"})").status, 400u);
  const HttpAnswer reverted = call("POST", "/v1/operations/2/revert");
  ASSERT_EQ(reverted.status, 201u) << reverted.body;
  EXPECT_EQ(reverted.location, "/v1/operations/3");
  const json third = poll("/v1/operations/3", [](const json& j) { return j["finished"] == true; });
  EXPECT_EQ(third["rollback"], true);
  EXPECT_EQ(third["to_revision"], 1);
  EXPECT_EQ(third["succeeded"], 3);
  EXPECT_EQ(call("POST", "/v1/operations/2/revert").status, 409u);  // already rolled back

  // And that too survives a restart.
  pause();
  orchestrator_.reset();
  start_orchestrator();
  EXPECT_EQ(json::parse(call("GET", "/v1/operations/3").body).dump(), third.dump());
  EXPECT_EQ(json::parse(call("GET", "/v1/apps").body)["apps"][0]["desired_revision"], 1);
  pause();
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(agents_->agent(i).running("pos")->revision, 1u);
}

// The invariant checks (checks/) judge a real run from the records the real runtime makes, as they judge a simulated
// one: a deploy, a rollout and a revert on three real agents give no violation; the same records with one healthy
// report claiming a release the node did not run give exactly that violation.
TEST_F(OrchestratorService, TheInvariantChecksJudgeARealRunFromItsRecords) {
  orchestrator_ = std::make_unique<OrchestratorHost>(io_, config_);
  agents_ = std::make_unique<AgentHost>(io_, agent_config_, &orchestrator_->live_clock());
  std::vector<checks::Record> records;
  agents_->record_to([&](const checks::Record& r) { records.push_back(r); });
  agents_->start();
  resume();
  poll("/v1/nodes", [](const json& j) { return j["connected"] == 3; });
  ASSERT_EQ(call("POST", "/v1/operations", release("deploy", "1.0")).status, 201u);
  poll("/v1/operations/1", [](const json& j) { return j["finished"] == true; });
  ASSERT_EQ(call("POST", "/v1/operations", release("rollout", "2.0")).status, 201u);
  poll("/v1/operations/2", [](const json& j) { return j["finished"] == true; });
  ASSERT_EQ(call("POST", "/v1/operations/2/revert").status, 201u);
  poll("/v1/operations/3", [](const json& j) { return j["finished"] == true; });
  pause();

  checks::FleetLayout fleet;
  fleet.sites.push_back({"store-1", std::nullopt});
  for (int i = 0; i < 3; ++i) fleet.nodes.push_back({"store-1/n" + std::to_string(i), 0, 1 << 20, true});
  checks::RunEnd end;
  end.t = orchestrator_->live_clock().now();
  for (const auto& op : orchestrator_->orchestrator().operations()) end.operations.push_back({"op" + std::to_string(op.id), op, 0, 1, {}});
  auto judge = [&](const std::vector<checks::Record>& history) {
    checks::InvariantChecks checks(fleet);
    for (const auto& r : history) checks.observe(r);
    checks.finish(end);
    return checks.violations();
  };
  ASSERT_GT(records.size(), 20u);  // desired states handled, reports, for three nodes and three operations
  const auto clean = judge(records);
  EXPECT_TRUE(clean.empty()) << clean.front().invariant << ": " << clean.front().detail;

  auto forged = records;
  for (auto it = forged.rbegin(); it != forged.rend(); ++it)
    if (auto* s = std::get_if<checks::StatusSent>(&*it); s && s->state == agents::NodeAppState::healthy) {
      s->running = s->revision + 1;  // "healthy" for a release the node does not run
      break;
    }
  const auto caught = judge(forged);
  ASSERT_EQ(caught.size(), 1u);
  EXPECT_EQ(caught.front().invariant, "healthy-report-matches-running-release");
}

TEST_F(OrchestratorService, AJournalThatIsNotOneIsRefusedWithItsLine) {
  std::ofstream(config_.journal) << R"({"journal": "fleetsim-orchestrator", "v": 1, "epoch_unix_s": 1.0})" << "\n"
                                 << R"({"t": 1, "timer": 1})" << "\n"
                                 << "garbage\n"
                                 << R"({"t": 2, "timer": 2})" << "\n";
  try {
    OrchestratorHost host(io_, config_);
    ADD_FAILURE() << "a broken journal was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("journal.jsonl:3: not JSON"), std::string::npos) << e.what();
  }
  fs::remove(config_.journal);
  {
    OrchestratorHost first(io_, config_);  // a fresh journal records the inventory it was written for
  }
  config_.inventory[1].labels["tier"] = "edge";
  try {
    OrchestratorHost host(io_, config_);
    ADD_FAILURE() << "a journal of another inventory was replayed";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("journal.jsonl:1: the journal was written for another inventory"), std::string::npos) << e.what();
  }
  std::ofstream(config_.journal) << R"({"journal": "someone else's"})" << "\n";
  EXPECT_THROW(OrchestratorHost(io_, config_), ConfigError);
  std::ofstream(config_.journal) << R"({"journal": "fleetsim-orchestrator", "v": 1, "epoch_unix_s": 1.0})" << "\n"
                                 << R"({"t": 1, "submit": {"kind": "deploy"}})" << "\n";
  try {
    OrchestratorHost host(io_, config_);
    ADD_FAILURE() << "a bad submit was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("journal.jsonl:2: "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("key 'release': missing"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace fleetsim::net
