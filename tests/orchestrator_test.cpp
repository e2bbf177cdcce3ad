// The orchestrator (agents/orchestrator.hpp) driven through the fake ports of fake_ports.hpp: the test submits
// commands, plays the nodes by delivering StatusReports, and moves time with FakeTimers::advance_to. Expected values
// follow from the documented rules: a deploy targets the nodes whose labels match every selector entry, a rollout the
// app's placement; revisions and generations grow by one per operation; an operation finishes when every target is
// terminal; a node not healthy node_deadline_s after notification is timed out.
#include "fleetsim/agents/orchestrator.hpp"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fake_ports.hpp"

namespace fleetsim::agents {
namespace {

using fakes::FakeOrchestratorWorld;

Release make_release(const std::string& app, const std::string& version) {
  Release release;
  release.app = app;
  release.version = version;
  release.layers = {{"sha:" + app + "-" + version, 1000}};
  return release;
}

Command deploy(const std::string& app, std::map<std::string, std::string> selector, double node_deadline_s = 0) {
  Command command;
  command.kind = Command::Kind::deploy;
  command.release = make_release(app, "1.0");
  command.selector = std::move(selector);
  command.node_deadline_s = node_deadline_s;
  return command;
}

Command rollout(const std::string& app, const std::string& version, double node_deadline_s = 0) {
  Command command;
  command.kind = Command::Kind::rollout;
  command.release = make_release(app, version);
  command.node_deadline_s = node_deadline_s;
  return command;
}

class OrchestratorTest : public ::testing::Test {
 protected:
  OrchestratorTest() {
    // Four nodes; "edge" and "gpu" labels chosen so that selectors pick known subsets.
    // Capacities: every node 8 GB of memory; the gpu nodes one GPU with 16 GB.
    inventory = {
        {1, "n1", "site-a", {{"tier", "edge"}, {"gpu", "yes"}}, {{"memory", 8e9}, {"gpu", 1}, {"gpu_memory", 16e9}}},
        {2, "n2", "site-a", {{"tier", "edge"}}, {{"memory", 8e9}}},
        {3, "n3", "site-b", {{"tier", "core"}}, {{"memory", 8e9}}},
        {4, "n4", "site-b", {{"tier", "edge"}, {"gpu", "yes"}}, {{"memory", 8e9}, {"gpu", 1}, {"gpu_memory", 16e9}}},
    };
  }

  Orchestrator& make() {
    orchestrator = std::make_unique<Orchestrator>(inventory, world.ports());
    world.attach(*orchestrator);
    orchestrator->on_operation_finished([this](const Operation& operation) { finished.push_back(operation); });
    return *orchestrator;
  }
  void report(NodeId node, const std::string& app, Revision revision, NodeAppState state, std::string detail = {},
              FailureReason reason = FailureReason::none) {
    orchestrator->on_message(StatusReport{node, app, revision, /*generation=*/0, state, std::move(detail), reason});
  }
  const Operation& op(std::uint32_t id) const { return orchestrator->operations().at(id - 1); }
  static std::vector<NodeId> target_nodes(const Operation& operation) {
    std::vector<NodeId> out;
    for (const auto& target : operation.targets) out.push_back(target.node);
    return out;
  }

  std::vector<NodeInfo> inventory;
  FakeOrchestratorWorld world;
  std::unique_ptr<Orchestrator> orchestrator;
  std::vector<Operation> finished;  // copies of the operations passed to the callback, in order
};

// ---- targeting -----------------------------------------------------------------------------------------------------

TEST_F(OrchestratorTest, DeployTargetsExactlyTheNodesMatchingEverySelectorEntry) {
  // Goal: a deploy notifies exactly the nodes whose labels contain every selector entry, in inventory order, each
  // with revision 1 at generation 1; method: {tier: edge, gpu: yes} picks nodes 1 and 4 of four.
  make();
  world.clock.set(50);
  const auto id = orchestrator->submit(deploy("web", {{"tier", "edge"}, {"gpu", "yes"}}));
  EXPECT_EQ(world.channel.recipients(), (std::vector<NodeId>{1, 4}));
  for (NodeId node : {1u, 4u}) {
    const auto desired = world.channel.desired_for(node);
    ASSERT_EQ(desired.size(), 1u);
    EXPECT_EQ(desired[0].generation, 1u);
    EXPECT_EQ(desired[0].release.app, "web");
    EXPECT_EQ(desired[0].release.revision, 1u);
    EXPECT_EQ(desired[0].release.version, "1.0");
  }
  const Operation& operation = op(id);
  EXPECT_EQ(operation.kind, Command::Kind::deploy);
  EXPECT_EQ(operation.from_revision, 0u);
  EXPECT_EQ(operation.to_revision, 1u);
  EXPECT_EQ(operation.started_at, 50.0);
  EXPECT_EQ(target_nodes(operation), (std::vector<NodeId>{1, 4}));
  for (const auto& target : operation.targets) {
    EXPECT_EQ(target.outcome, NodeOutcome::pending);
    EXPECT_EQ(target.notified_at, 50.0);
  }
  EXPECT_FALSE(operation.finished());
  EXPECT_EQ(orchestrator->desired_revision("web"), Revision{1});
}

TEST_F(OrchestratorTest, EmptySelectorTargetsEveryNode) {
  // Goal: no selector entry means no constraint.
  make();
  const auto id = orchestrator->submit(deploy("web", {}));
  EXPECT_EQ(target_nodes(op(id)), (std::vector<NodeId>{1, 2, 3, 4}));
}

TEST_F(OrchestratorTest, SelectorMatchingNoNodeFinishesAtOnce) {
  // Goal: a deploy with no matching node (unknown value, unknown key) sends nothing and finishes immediately with
  // the callback fired once.
  make();
  world.clock.set(7);
  const auto id = orchestrator->submit(deploy("web", {{"tier", "cloud"}}));
  EXPECT_TRUE(world.channel.sent.empty());
  EXPECT_TRUE(op(id).targets.empty());
  ASSERT_TRUE(op(id).finished());
  EXPECT_EQ(*op(id).finished_at, 7.0);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].id, id);

  const auto id2 = orchestrator->submit(deploy("api", {{"rack", "r1"}}));
  EXPECT_TRUE(op(id2).targets.empty());
  EXPECT_EQ(finished.size(), 2u);
}

TEST_F(OrchestratorTest, RolloutTargetsThePlacementWithTheNextRevisionAndGeneration) {
  // Goal: a rollout goes to the nodes the app was deployed on (its selector is not used) with the next revision and
  // a higher generation; method: deploy to {1, 4}, finish it, roll out 2.0.
  make();
  const auto d = orchestrator->submit(deploy("web", {{"gpu", "yes"}}));
  report(1, "web", 1, NodeAppState::healthy);
  report(4, "web", 1, NodeAppState::healthy);
  ASSERT_TRUE(op(d).finished());

  Command command = rollout("web", "2.0");
  command.selector = {{"tier", "core"}};  // ignored by a rollout
  const auto r = orchestrator->submit(command);
  EXPECT_EQ(target_nodes(op(r)), (std::vector<NodeId>{1, 4}));
  EXPECT_EQ(op(r).kind, Command::Kind::rollout);
  EXPECT_EQ(op(r).from_revision, 1u);
  EXPECT_EQ(op(r).to_revision, 2u);
  for (NodeId node : {1u, 4u}) {
    const auto desired = world.channel.desired_for(node);
    ASSERT_EQ(desired.size(), 2u);
    EXPECT_EQ(desired[1].release.revision, 2u);
    EXPECT_EQ(desired[1].release.version, "2.0");
    EXPECT_GT(desired[1].generation, desired[0].generation);
  }
  EXPECT_TRUE(world.channel.desired_for(3).empty());
  EXPECT_EQ(orchestrator->desired_revision("web"), Revision{2});
}

TEST_F(OrchestratorTest, RevisionsAndGenerationsArePerApp) {
  // Goal: each app numbers its own revisions and generations from 1.
  make();
  orchestrator->submit(deploy("web", {{"gpu", "yes"}}));
  orchestrator->submit(rollout("web", "2.0"));
  const auto api = orchestrator->submit(deploy("api", {{"tier", "core"}}));
  EXPECT_EQ(op(api).to_revision, 1u);
  const auto desired = world.channel.desired_for(3);
  ASSERT_EQ(desired.size(), 1u);
  EXPECT_EQ(desired[0].generation, 1u);
  EXPECT_EQ(desired[0].release.app, "api");
}

// ---- status and completion -----------------------------------------------------------------------------------------

TEST_F(OrchestratorTest, HealthyAndFailedReportsFinishTargets) {
  // Goal: healthy makes a target succeeded, failed makes it failed with the node's detail; intermediate states
  // (accepted, downloaded) only record the report time; method: two targets, one of each.
  make();
  const auto id = orchestrator->submit(deploy("web", {{"gpu", "yes"}}));
  world.clock.set(3);
  report(1, "web", 1, NodeAppState::accepted);
  report(1, "web", 1, NodeAppState::downloaded);
  EXPECT_EQ(op(id).targets[0].outcome, NodeOutcome::pending);
  EXPECT_EQ(op(id).targets[0].last_report_at, 3.0);
  EXPECT_EQ(op(id).terminal(), 0u);

  world.clock.set(10);
  report(1, "web", 1, NodeAppState::healthy);
  world.clock.set(12);
  report(4, "web", 1, NodeAppState::failed, "disk full: need 1000 bytes", FailureReason::disk_full);

  const Operation& operation = op(id);
  EXPECT_EQ(operation.targets[0].outcome, NodeOutcome::succeeded);
  EXPECT_EQ(operation.targets[0].reason, FailureReason::none);
  EXPECT_EQ(operation.targets[1].outcome, NodeOutcome::failed);
  EXPECT_EQ(operation.targets[1].reason, FailureReason::disk_full);  // the node's reason, carried as it said it
  EXPECT_EQ(operation.targets[1].detail, "disk full: need 1000 bytes");
  EXPECT_EQ(operation.targets[1].last_report_at, 12.0);
  EXPECT_EQ(operation.succeeded, 1u);
  EXPECT_EQ(operation.failed, 1u);
  EXPECT_EQ(operation.timed_out, 0u);
  EXPECT_EQ(operation.canceled, 0u);
}

TEST_F(OrchestratorTest, OperationFinishesOnceWhenEveryTargetIsTerminal) {
  // Goal: the callback fires exactly once, when the last target becomes terminal, with finished_at = that time;
  // method: four targets reporting one by one.
  make();
  const auto id = orchestrator->submit(deploy("web", {}));
  for (NodeId node = 1; node <= 3; ++node) {
    world.clock.set(node);
    report(node, "web", 1, NodeAppState::healthy);
    EXPECT_TRUE(finished.empty()) << "after node " << node;
    EXPECT_FALSE(op(id).finished());
    EXPECT_FALSE(orchestrator->all_operations_finished());
  }
  world.clock.set(20);
  report(4, "web", 1, NodeAppState::failed, "container exited");
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].id, id);
  EXPECT_EQ(finished[0].succeeded, 3u);
  EXPECT_EQ(finished[0].failed, 1u);
  ASSERT_TRUE(op(id).finished());
  EXPECT_EQ(*op(id).finished_at, 20.0);
  EXPECT_TRUE(orchestrator->all_operations_finished());

  report(4, "web", 1, NodeAppState::healthy);  // after the end: changes nothing, no second callback
  EXPECT_EQ(finished.size(), 1u);
  EXPECT_EQ(op(id).failed, 1u);
}

TEST_F(OrchestratorTest, DuplicateReportsDoNotDoubleCount) {
  // Goal: a node repeating its report (or changing its mind after a terminal one) counts once.
  make();
  const auto id = orchestrator->submit(deploy("web", {{"gpu", "yes"}}));
  report(1, "web", 1, NodeAppState::healthy);
  report(1, "web", 1, NodeAppState::healthy);
  report(1, "web", 1, NodeAppState::failed, "late");
  EXPECT_EQ(op(id).succeeded, 1u);
  EXPECT_EQ(op(id).failed, 0u);
  EXPECT_EQ(op(id).targets[0].outcome, NodeOutcome::succeeded);
  EXPECT_TRUE(op(id).targets[0].detail.empty());
  EXPECT_FALSE(op(id).finished());
  report(4, "web", 1, NodeAppState::healthy);
  report(4, "web", 1, NodeAppState::healthy);
  EXPECT_EQ(op(id).succeeded, 2u);
  EXPECT_EQ(finished.size(), 1u);
}

TEST_F(OrchestratorTest, IgnoresReportsForOlderRevisionsOtherAppsAndOtherNodes) {
  // Goal: only a report about the operation's own revision, app and targets counts; method: during the rollout to
  // revision 2, reports about revision 1, about an unknown app, and from a node outside the placement.
  make();
  orchestrator->submit(deploy("web", {{"gpu", "yes"}}));
  report(1, "web", 1, NodeAppState::healthy);
  report(4, "web", 1, NodeAppState::healthy);
  const auto r = orchestrator->submit(rollout("web", "2.0"));

  report(1, "web", 1, NodeAppState::healthy);  // older revision
  report(1, "api", 2, NodeAppState::healthy);  // unknown app
  report(3, "web", 2, NodeAppState::healthy);  // not a target
  EXPECT_EQ(op(r).terminal(), 0u);
  EXPECT_EQ(op(r).targets[0].last_report_at, -1.0);
  EXPECT_FALSE(op(r).finished());

  report(1, "web", 2, NodeAppState::healthy);
  EXPECT_EQ(op(r).succeeded, 1u);
}

// ---- deadlines -----------------------------------------------------------------------------------------------------

TEST_F(OrchestratorTest, NodeNotHealthyByDeadlineTimesOutExactlyAtTheDeadline) {
  // Goal: a node still pending node_deadline_s after notification is timed out at notified_at + deadline, not
  // before; a node healthy in time is not; method: notify at 10 with a 60 s deadline, node 1 healthy at 30, node 4
  // silent; look just before and at 70.
  make();
  world.clock.set(10);
  const auto id = orchestrator->submit(deploy("web", {{"gpu", "yes"}}, /*node_deadline_s=*/60));
  world.timers.advance_to(30);
  report(1, "web", 1, NodeAppState::healthy);
  report(4, "web", 1, NodeAppState::downloaded);  // progress does not stop the clock

  world.timers.advance_to(69.999);
  EXPECT_EQ(op(id).targets[1].outcome, NodeOutcome::pending);
  EXPECT_TRUE(finished.empty());

  world.timers.advance_to(70);
  EXPECT_EQ(op(id).targets[0].outcome, NodeOutcome::succeeded);
  EXPECT_EQ(op(id).targets[1].outcome, NodeOutcome::timed_out);
  EXPECT_EQ(op(id).targets[1].reason, FailureReason::deadline);
  EXPECT_FALSE(op(id).targets[1].detail.empty());
  EXPECT_EQ(op(id).timed_out, 1u);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(*op(id).finished_at, 70.0);

  report(4, "web", 1, NodeAppState::healthy);  // too late: stays timed out
  EXPECT_EQ(op(id).targets[1].outcome, NodeOutcome::timed_out);
  EXPECT_EQ(op(id).succeeded, 1u);
}

TEST_F(OrchestratorTest, NoDeadlineMeansNoTimer) {
  // Goal: node_deadline_s = 0 means no deadline: nothing is armed and a silent node stays pending for ever.
  make();
  const auto id = orchestrator->submit(deploy("web", {}));
  EXPECT_TRUE(world.timers.all.empty());
  world.timers.advance_to(1e9);
  EXPECT_EQ(op(id).terminal(), 0u);
}

TEST_F(OrchestratorTest, DeadlinesOfOverlappingOperationsFireInTimeOrder) {
  // Goal: each target times out at its own deadline even when operations with different deadlines overlap; method:
  // "web" notified at 0 with a 100 s deadline, "api" notified at 10 with a 20 s deadline: api's node must time out
  // at 30, long before web's at 100.
  make();
  const auto web = orchestrator->submit(deploy("web", {{"tier", "core"}}, /*node_deadline_s=*/100));
  world.clock.set(10);
  const auto api = orchestrator->submit(deploy("api", {{"tier", "core"}}, /*node_deadline_s=*/20));

  world.timers.advance_to(29.999);
  EXPECT_EQ(op(api).targets[0].outcome, NodeOutcome::pending);
  world.timers.advance_to(30);
  EXPECT_EQ(op(api).targets[0].outcome, NodeOutcome::timed_out);
  EXPECT_EQ(op(web).targets[0].outcome, NodeOutcome::pending);
  ASSERT_TRUE(op(api).finished());
  EXPECT_EQ(*op(api).finished_at, 30.0);

  world.timers.advance_to(100);
  EXPECT_EQ(op(web).targets[0].outcome, NodeOutcome::timed_out);
  EXPECT_EQ(*op(web).finished_at, 100.0);
}

// ---- superseding ---------------------------------------------------------------------------------------------------

TEST_F(OrchestratorTest, NewerOperationCancelsPendingTargetsOfThePrevious) {
  // Goal: an operation submitted while another runs for the same app cancels the previous one's pending targets
  // (finished ones keep their outcome), which finishes it; the new one targets the placement afresh.
  make();
  const auto d = orchestrator->submit(deploy("web", {{"gpu", "yes"}}));
  report(1, "web", 1, NodeAppState::healthy);
  world.clock.set(40);
  const auto r = orchestrator->submit(rollout("web", "2.0"));

  EXPECT_EQ(op(d).targets[0].outcome, NodeOutcome::succeeded);
  EXPECT_EQ(op(d).targets[1].outcome, NodeOutcome::canceled);
  EXPECT_FALSE(op(d).targets[1].detail.empty());
  EXPECT_EQ(op(d).canceled, 1u);
  ASSERT_TRUE(op(d).finished());
  EXPECT_EQ(*op(d).finished_at, 40.0);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].id, d);

  EXPECT_EQ(target_nodes(op(r)), (std::vector<NodeId>{1, 4}));
  EXPECT_EQ(op(r).terminal(), 0u);
  report(4, "web", 1, NodeAppState::healthy);  // the canceled operation's revision: ignored
  EXPECT_EQ(op(d).canceled, 1u);
  EXPECT_EQ(op(r).terminal(), 0u);
}

TEST_F(OrchestratorTest, CanceledTargetIsNotTimedOutLater) {
  // Goal: the deadline of a canceled target does not fire on it; method: deploy with a 60 s deadline, supersede at
  // 10 with a rollout without deadline, pass 60.
  make();
  const auto d = orchestrator->submit(deploy("web", {{"tier", "core"}}, /*node_deadline_s=*/60));
  world.clock.set(10);
  const auto r = orchestrator->submit(rollout("web", "2.0"));
  world.timers.advance_to(100);
  EXPECT_EQ(op(d).targets[0].outcome, NodeOutcome::canceled);
  EXPECT_EQ(op(d).timed_out, 0u);
  EXPECT_EQ(op(r).targets[0].outcome, NodeOutcome::pending);
  EXPECT_EQ(finished.size(), 1u);
}

// ---- callbacks -----------------------------------------------------------------------------------------------------

TEST_F(OrchestratorTest, FinishCallbackMaySubmitTheNextOperation) {
  // Goal: a finish callback may chain the next rollout (as a scenario hook would), and each chained operation gets
  // the next revision and finishes normally; method: three rollouts chained from the callback, each finished by a
  // healthy report. The defect this guards against (on_message using an Operation& after the callback made
  // operations_ reallocate) is a use-after-free: run this binary built with -fsanitize=address to see it.
  make();
  int chained = 0;
  orchestrator->on_operation_finished([&](const Operation& operation) {
    finished.push_back(operation);
    if (chained < 3) {
      ++chained;
      orchestrator->submit(rollout("web", "2." + std::to_string(chained)));
    }
  });
  orchestrator->submit(deploy("web", {{"tier", "core"}}));
  for (Revision revision = 1; revision <= 4; ++revision) report(3, "web", revision, NodeAppState::healthy);

  ASSERT_EQ(orchestrator->operations().size(), 4u);
  ASSERT_EQ(finished.size(), 4u);
  for (std::uint32_t id = 1; id <= 4; ++id) {
    EXPECT_EQ(op(id).to_revision, id);
    EXPECT_EQ(op(id).succeeded, 1u);
    EXPECT_EQ(finished[id - 1].id, id);
  }
  EXPECT_TRUE(orchestrator->all_operations_finished());
}

// ---- invalid commands ----------------------------------------------------------------------------------------------

TEST_F(OrchestratorTest, RolloutOfUnknownAppFinishesAtOnceWithoutTargetsOrDesiredRevision) {
  // Goal: the header: a rollout of an app never deployed is an error that "finishes at once with no targets";
  // such an error must not invent a desired revision or consume a revision number; method: roll out "ghost", then
  // deploy it.
  make();
  const auto id = orchestrator->submit(rollout("ghost", "2.0"));
  EXPECT_TRUE(op(id).targets.empty());
  EXPECT_TRUE(op(id).finished());
  EXPECT_EQ(finished.size(), 1u);
  EXPECT_TRUE(world.channel.sent.empty());
  EXPECT_FALSE(orchestrator->desired_revision("ghost").has_value());

  const auto d = orchestrator->submit(deploy("ghost", {{"tier", "core"}}));
  EXPECT_EQ(op(d).to_revision, 1u);
  EXPECT_EQ(op(d).from_revision, 0u);
}

TEST_F(OrchestratorTest, UndeliveredDesiredStateIsSentAgainWithBackOffWhileTheNodeIsPending) {
  // Goal: an unreachable node still gets its desired state; method: report the notification to n2 as undelivered
  // twice and check the re-sends come 10 s then 20 s later with the current generation, and stop once n2 answers.
  make();
  orchestrator->submit(deploy("web", {{"tier", "edge"}}));
  ASSERT_EQ(world.channel.desired_for(2).size(), 1u);
  DesiredState first = world.channel.desired_for(2)[0];
  orchestrator->on_send_failed(2, first);
  world.timers.advance_by(9.9);
  EXPECT_EQ(world.channel.desired_for(2).size(), 1u);
  world.timers.advance_by(0.2);
  ASSERT_EQ(world.channel.desired_for(2).size(), 2u);
  EXPECT_EQ(world.channel.desired_for(2)[1].generation, first.generation);
  orchestrator->on_send_failed(2, world.channel.desired_for(2)[1]);
  world.timers.advance_by(19.9);
  EXPECT_EQ(world.channel.desired_for(2).size(), 2u);
  world.timers.advance_by(0.2);
  EXPECT_EQ(world.channel.desired_for(2).size(), 3u);
  // Once the node is terminal, a late failure report changes nothing.
  report(2, "web", 1, NodeAppState::healthy);
  orchestrator->on_send_failed(2, world.channel.desired_for(2)[2]);
  world.timers.advance_by(600);
  EXPECT_EQ(world.channel.desired_for(2).size(), 3u);
}

TEST_F(OrchestratorTest, UndeliveredStaleDesiredStateIsNotSentAgain) {
  // Goal: no node is sent an old revision by a retry; method: fail the delivery of revision 1 after revision 2
  // was submitted: nothing is re-sent for it.
  make();
  orchestrator->submit(deploy("web", {{"tier", "edge"}}));
  DesiredState old = world.channel.desired_for(2)[0];
  orchestrator->submit(rollout("web", "2.0"));
  const auto sent = world.channel.desired_for(2).size();
  orchestrator->on_send_failed(2, old);
  world.timers.advance_by(600);
  EXPECT_EQ(world.channel.desired_for(2).size(), sent);
}

TEST_F(OrchestratorTest, AReconnectingNodeIsToldAtOnceAndTheBackOffResendIsDropped) {
  // Goal: a node whose connection comes back gets its pending desired state at once, not after the send-failure
  // back-off, and only a pending node does; method: deploy to the edge nodes, fail the delivery to n2 (a resend is
  // armed for 10 s), let n1 succeed, reconnect n1 and n2 at 1 s: only n2 is sent the desired state (the same
  // generation), and nothing more comes at 10 s.
  make();
  orchestrator->submit(deploy("web", {{"tier", "edge"}}));
  orchestrator->on_send_failed(2, world.channel.desired_for(2)[0]);
  report(1, "web", 1, NodeAppState::healthy);
  world.timers.advance_by(1);
  const auto before = world.channel.sent.size();
  orchestrator->on_node_connected(1);
  orchestrator->on_node_connected(2);
  std::vector<NodeId> told;
  for (std::size_t i = before; i < world.channel.sent.size(); ++i) told.push_back(world.channel.sent[i].first);
  EXPECT_EQ(told, (std::vector<NodeId>{2}));
  EXPECT_EQ(world.channel.desired_for(2).back().generation, world.channel.desired_for(2).front().generation);
  world.timers.advance_by(20);
  EXPECT_EQ(world.channel.desired_for(2).size(), 2u);  // the armed resend was dropped
}

TEST_F(OrchestratorTest, RestartResendsDesiredStateToPendingNodesOnlyAndReArmsDeadlines) {
  // Goal: a restarted orchestrator resynchronises from its state; method: deploy to the three edge nodes with a
  // 100 s deadline, let n1 succeed, restart at 30 s, and check that only n2 and n4 get the desired state again
  // (same generation) and that they still time out at 100 s.
  make();
  orchestrator->submit(deploy("web", {{"tier", "edge"}}, 100));
  report(1, "web", 1, NodeAppState::healthy);
  world.timers.advance_by(30);
  const auto before = world.channel.sent.size();
  orchestrator->on_restart();
  std::vector<NodeId> resent;
  for (std::size_t i = before; i < world.channel.sent.size(); ++i) resent.push_back(world.channel.sent[i].first);
  EXPECT_EQ(resent, (std::vector<NodeId>{2, 4}));
  EXPECT_EQ(world.channel.desired_for(2).back().generation, world.channel.desired_for(2).front().generation);
  world.timers.advance_by(69.9);
  EXPECT_EQ(op(1).timed_out, 0u);
  world.timers.advance_by(0.2);
  EXPECT_EQ(op(1).timed_out, 2u);
}

Command batched(const std::string& app, std::map<std::string, std::string> selector, Strategy strategy) {
  Command command = deploy(app, std::move(selector));
  command.strategy = strategy;
  return command;
}

TEST_F(OrchestratorTest, RestartDuringABatchTellsOnlyTheBatchesAlreadyStarted) {
  // Goal: a restart resends to told nodes only; method: batches of 2 over the 4 nodes, the first batch told, a
  // restart: n1 and n2 get the desired state again, n3 and n4 (a batch not yet started) hear nothing. (Killed
  // mutant: orch-restart-tells-unnotified.)
  make();
  Strategy strategy;
  strategy.kind = Strategy::Kind::batches;
  strategy.batch_size = 2;
  orchestrator->submit(batched("web", {}, strategy));
  ASSERT_EQ(world.channel.recipients(), (std::vector<NodeId>{1, 2}));
  world.timers.advance_by(10);
  const auto before = world.channel.sent.size();
  orchestrator->on_restart();
  std::vector<NodeId> resent;
  for (std::size_t i = before; i < world.channel.sent.size(); ++i) resent.push_back(world.channel.sent[i].first);
  EXPECT_EQ(resent, (std::vector<NodeId>{1, 2}));
}

TEST_F(OrchestratorTest, BatchesNotifyOneBatchAtATimeAfterTheHealthyTime) {
  // Goal: batch boundaries and the healthy-time gate; method: 3 edge nodes in batches of 2 with a 60 s healthy
  // time; the second batch is notified only 60 s after the first batch's last node is healthy, and the operation
  // finishes only after the last batch held 60 s too.
  make();
  Strategy strategy;
  strategy.kind = Strategy::Kind::batches;
  strategy.batch_size = 2;
  strategy.healthy_time_s = 60;
  orchestrator->submit(batched("web", {{"tier", "edge"}}, strategy));
  EXPECT_EQ(world.channel.recipients(), (std::vector<NodeId>{1, 2}));
  world.timers.advance_by(5);
  report(1, "web", 1, NodeAppState::healthy);
  world.timers.advance_by(5);
  report(2, "web", 1, NodeAppState::healthy);  // batch 1 complete at t = 10
  world.timers.advance_by(59.9);
  EXPECT_EQ(world.channel.recipients().size(), 2u);
  world.timers.advance_by(0.2);
  EXPECT_EQ(world.channel.recipients(), (std::vector<NodeId>{1, 2, 4}));
  report(4, "web", 1, NodeAppState::healthy);  // at t = 70.1
  EXPECT_TRUE(finished.empty());
  world.timers.advance_by(60.1);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(op(1).wave_started_at.size(), 2u);
}

TEST_F(OrchestratorTest, BatchPercentagesRoundUpToWholeNodes) {
  // Goal: percentages become node counts by rounding up, at least one node; method: 34 % of 3 targets is 1.02,
  // so batches of 2 (2 + 1); 1 % of 3 is one node per batch (3 batches).
  for (auto [percent, batches] : std::vector<std::pair<double, std::size_t>>{{34, 2}, {1, 3}, {100, 1}}) {
    make();
    Strategy strategy;
    strategy.kind = Strategy::Kind::batches;
    strategy.batch_percent = percent;
    orchestrator->submit(batched("web", {{"tier", "edge"}}, strategy));
    EXPECT_EQ(op(1).wave_begin.size(), batches) << percent << " %";
    world.channel.sent.clear();
  }
}

TEST_F(OrchestratorTest, CanaryByLabelGoesFirstAndHoldsItsOwnTimeBeforeTheRest) {
  // Goal: a canary chosen by label is notified first, alone, and the rest waits for the canary's time (not the
  // batches' healthy time); method: canary = the gpu nodes (n1, n4), canary_time 600 s, rest (n2, n3) in one batch
  // with a 60 s healthy time.
  make();
  Strategy strategy;
  strategy.kind = Strategy::Kind::canary;
  strategy.canary_selector = {{"gpu", "yes"}};
  strategy.canary_time_s = 600;
  strategy.healthy_time_s = 60;
  orchestrator->submit(batched("web", {}, strategy));
  EXPECT_EQ(world.channel.recipients(), (std::vector<NodeId>{1, 4}));
  report(1, "web", 1, NodeAppState::healthy);
  report(4, "web", 1, NodeAppState::healthy);  // canary complete at t = 0
  world.timers.advance_to(599.9);
  EXPECT_EQ(world.channel.recipients().size(), 2u);
  world.timers.advance_to(600.1);
  EXPECT_EQ(world.channel.recipients(), (std::vector<NodeId>{1, 4, 2, 3}));
  EXPECT_EQ(op(1).strategy.gate_after(0), 600);
  EXPECT_EQ(op(1).strategy.gate_after(1), 60);
}

TEST_F(OrchestratorTest, CanaryFractionIsSpreadEvenlyAndRoundsUp) {
  // Goal: a canary percentage rounds up to whole nodes and is spread over the targets, not the first k; method:
  // 40 % of 4 targets is 1.6, so 2 canaries: targets 2 and 4 in placement order (floor((i + 1) k / n) grows at
  // i = 1 and i = 3); the rest in batches of 1 (25 %).
  make();
  Strategy strategy;
  strategy.kind = Strategy::Kind::canary;
  strategy.canary_percent = 40;
  strategy.batch_percent = 25;
  orchestrator->submit(batched("web", {}, strategy));
  EXPECT_EQ(world.channel.recipients(), (std::vector<NodeId>{2, 4}));
  EXPECT_EQ(op(1).wave_begin, (std::vector<std::size_t>{0, 2, 3}));
}

TEST_F(OrchestratorTest, CanaryFailingTheAbortRuleStopsTheRest) {
  // Goal: the failure-threshold gate: a canary failing at the threshold aborts, and no other node is ever told.
  make();
  Strategy strategy;
  strategy.kind = Strategy::Kind::canary;
  strategy.canary_size = 1;
  Command command = batched("web", {}, strategy);
  command.abort_threshold_percent = 50;
  command.abort_min_executed = 1;
  orchestrator->submit(command);
  ASSERT_EQ(world.channel.recipients().size(), 1u);
  report(world.channel.recipients()[0], "web", 1, NodeAppState::failed, "crashed");
  world.timers.advance_by(3600);
  EXPECT_EQ(world.channel.recipients().size(), 1u);
  EXPECT_TRUE(op(1).aborted_at.has_value());
  EXPECT_EQ(op(1).canceled, 3u);
}

TEST_F(OrchestratorTest, UnhealthyDuringTheGateTurnsSuccessIntoFailureAndCountsForTheAbort) {
  // Goal: a node that stops being healthy while its batch holds its healthy time counts as failed (the gate is
  // "healthy for T"); method: batch of 2 with 600 s healthy time and an abort at 50 %: n1 and n2 healthy, then n1
  // unhealthy at 100 s: one failure of two executed is 50 %: abort, n4 is never told.
  make();
  Strategy strategy;
  strategy.kind = Strategy::Kind::batches;
  strategy.batch_size = 2;
  strategy.healthy_time_s = 600;
  Command command = batched("web", {{"tier", "edge"}}, strategy);
  command.abort_threshold_percent = 50;
  orchestrator->submit(command);
  report(1, "web", 1, NodeAppState::healthy);
  report(2, "web", 1, NodeAppState::healthy);
  EXPECT_EQ(op(1).succeeded, 2u);
  world.timers.advance_to(100);
  report(1, "web", 1, NodeAppState::unhealthy);
  EXPECT_EQ(op(1).succeeded, 1u);
  EXPECT_EQ(op(1).failed, 1u);
  ASSERT_TRUE(op(1).aborted_at.has_value());
  EXPECT_EQ(*op(1).aborted_at, 100);
  world.timers.advance_to(3600);
  EXPECT_EQ(world.channel.recipients(), (std::vector<NodeId>{1, 2}));
}

TEST_F(OrchestratorTest, AppNeedingAGpuIsPlacedOnlyOnNodesWithOneAndTheRestIsReported) {
  // Goal: placement by resources; method: a deploy to every node of an app needing one GPU targets n1 and n4 and
  // reports n2 and n3 as unplaced, naming the missing resource.
  make();
  Command command = deploy("vision", {});
  command.release.requires = {{"gpu", 1}, {"memory", 2e9}};
  orchestrator->submit(command);
  EXPECT_EQ(target_nodes(op(1)), (std::vector<NodeId>{1, 4}));
  ASSERT_EQ(op(1).unplaced.size(), 2u);
  EXPECT_EQ(op(1).unplaced[0].first, 2u);
  EXPECT_NE(op(1).unplaced[0].second.find("gpu"), std::string::npos);
}

TEST_F(OrchestratorTest, NodeWithoutRoomIsNotOverfilled) {
  // Goal: resources add up across apps; method: app a takes 6 GB of the 8 GB on every node; app b needing 4 GB
  // fits nowhere; a rollout of a to a release needing 9 GB fails every node at once and notifies none.
  make();
  Command a = deploy("a", {});
  a.release.requires = {{"memory", 6e9}};
  orchestrator->submit(a);
  Command b = deploy("b", {});
  b.release.requires = {{"memory", 4e9}};
  orchestrator->submit(b);
  EXPECT_TRUE(op(2).targets.empty());
  EXPECT_EQ(op(2).unplaced.size(), 4u);
  for (NodeId n : {1, 2, 3, 4}) report(n, "a", 1, NodeAppState::healthy);
  world.channel.sent.clear();
  Command bigger = rollout("a", "2.0");
  bigger.release.requires = {{"memory", 9e9}};
  orchestrator->submit(bigger);
  EXPECT_EQ(op(3).failed, 4u);
  EXPECT_TRUE(world.channel.recipients().empty());
  EXPECT_NE(op(3).targets[0].detail.find("does not fit"), std::string::npos);
}

TEST_F(OrchestratorTest, SitesInParallelBatchesWholeSites) {
  // Goal: sites_in_parallel groups every node of k sites; method: 4 nodes on 2 sites, one site per batch: the
  // first batch is both site-a nodes, the second both site-b nodes.
  make();
  Strategy strategy;
  strategy.kind = Strategy::Kind::batches;
  strategy.sites_in_parallel = 1;
  orchestrator->submit(batched("web", {}, strategy));
  EXPECT_EQ(world.channel.recipients(), (std::vector<NodeId>{1, 2}));
  report(1, "web", 1, NodeAppState::healthy);
  report(2, "web", 1, NodeAppState::failed, "boom");  // without an abort rule a failed node still closes its batch
  EXPECT_EQ(world.channel.recipients(), (std::vector<NodeId>{1, 2, 3, 4}));
}

TEST_F(OrchestratorTest, SitesInParallelKeepsItsCountAfterTheFirstBatch) {
  // Goal: every batch of whole sites has k sites, not only the first; method: 6 nodes on 3 sites, one site per
  // batch: three batches, one per site (a count restarted at 0 would put sites b and c together). (Killed mutant:
  // orch-sites-in-parallel-off-by-one.)
  inventory.push_back({5, "n5", "site-c", {{"tier", "edge"}}, {{"memory", 8e9}}});
  inventory.push_back({6, "n6", "site-c", {{"tier", "edge"}}, {{"memory", 8e9}}});
  make();
  Strategy strategy;
  strategy.kind = Strategy::Kind::batches;
  strategy.sites_in_parallel = 1;
  orchestrator->submit(batched("web", {}, strategy));
  EXPECT_EQ(world.channel.recipients(), (std::vector<NodeId>{1, 2}));
  report(1, "web", 1, NodeAppState::healthy);
  report(2, "web", 1, NodeAppState::healthy);
  EXPECT_EQ(world.channel.recipients(), (std::vector<NodeId>{1, 2, 3, 4}));
  report(3, "web", 1, NodeAppState::healthy);
  report(4, "web", 1, NodeAppState::healthy);
  EXPECT_EQ(world.channel.recipients(), (std::vector<NodeId>{1, 2, 3, 4, 5, 6}));
}

TEST_F(OrchestratorTest, AbortFiresAtTheThresholdOnlyAfterTheMinimumExecutedCount) {
  // Goal: the abort rule's edges; method: 50 % threshold, at least 2 executed, over the 4 nodes: one failure
  // alone (1 executed) does not abort; one success then makes it exactly 50 % of 2 executed: abort.
  make();
  Command command = deploy("web", {});
  command.abort_threshold_percent = 50;
  command.abort_min_executed = 2;
  orchestrator->submit(command);
  report(1, "web", 1, NodeAppState::failed, "crash");
  EXPECT_FALSE(op(1).aborted_at.has_value());
  report(2, "web", 1, NodeAppState::healthy);
  EXPECT_TRUE(op(1).aborted_at.has_value());
}

TEST_F(OrchestratorTest, AbortDoesNotFireJustBelowTheThreshold) {
  // Goal: the other edge; method: 1 failure among 3 executed is 33 % < 34 %: no abort; a second failure makes
  // 2 of 4 = 50 %: abort.
  make();
  Command command = deploy("web", {});
  command.abort_threshold_percent = 34;
  command.abort_min_executed = 3;
  orchestrator->submit(command);
  report(1, "web", 1, NodeAppState::failed, "crash");
  report(2, "web", 1, NodeAppState::healthy);
  report(3, "web", 1, NodeAppState::healthy);
  EXPECT_FALSE(op(1).aborted_at.has_value());
  report(4, "web", 1, NodeAppState::failed, "crash");
  EXPECT_TRUE(op(1).aborted_at.has_value());
}

TEST_F(OrchestratorTest, AbortStopsNotifyingAndRevertAllSendsTheStableRevisionToEveryNodeTold) {
  // Goal: abort in batches plus revert_all; method: revision 1 everywhere, then revision 2 in batches of 2 with
  // an abort at the first failure: the batch-2 nodes are never told, and the two told nodes get revision 1
  // back, flagged as a rollback, under a newer generation.
  make();
  orchestrator->submit(deploy("web", {}));
  for (NodeId n : {1, 2, 3, 4}) report(n, "web", 1, NodeAppState::healthy);
  world.channel.sent.clear();
  Command upgrade = rollout("web", "2.0");
  upgrade.strategy.kind = Strategy::Kind::batches;
  upgrade.strategy.batch_size = 2;
  upgrade.abort_threshold_percent = 1;
  upgrade.rollback = Command::Rollback::revert_all;
  orchestrator->submit(upgrade);
  EXPECT_EQ(world.channel.recipients(), (std::vector<NodeId>{1, 2}));
  report(1, "web", 2, NodeAppState::failed, "crash");
  ASSERT_TRUE(op(2).aborted_at.has_value());
  ASSERT_TRUE(op(2).rolled_back_by.has_value());
  // Nodes 3 and 4 were never told; node 2, still pending, is handed over to the rollback (superseded).
  EXPECT_EQ(op(2).canceled, 3u);
  const Operation& revert = op(*op(2).rolled_back_by);
  EXPECT_TRUE(revert.is_rollback);
  EXPECT_EQ(revert.to_revision, 1u);
  std::vector<NodeId> reverted;
  for (const auto& t : revert.targets) reverted.push_back(t.node);
  EXPECT_EQ(reverted, (std::vector<NodeId>{1, 2}));
  const DesiredState back = world.channel.desired_for(2).back();
  EXPECT_TRUE(back.rollback);
  EXPECT_EQ(back.release.revision, 1u);
  EXPECT_GT(back.generation, world.channel.desired_for(2).front().generation);
  EXPECT_TRUE(world.channel.desired_for(3).empty());
}

TEST_F(OrchestratorTest, AnOperatorsAbortStopsNotifyingAndItsRevertSendsTheRevisionBefore) {
  // Goal: abort(id, revert) by hand does what the abort rule does; method: revision 1 everywhere, revision 2 in
  // batches of 2: after the first batch is told, abort with revert: nodes 3 and 4 are canceled untold, nodes 1 and 2
  // get revision 1 back in a rollback operation, and the aborted operation is finished.
  make();
  orchestrator->submit(deploy("web", {}));
  for (NodeId n : {1, 2, 3, 4}) report(n, "web", 1, NodeAppState::healthy);
  world.channel.sent.clear();
  Command upgrade = rollout("web", "2.0");
  upgrade.strategy.kind = Strategy::Kind::batches;
  upgrade.strategy.batch_size = 2;
  const std::uint32_t id = orchestrator->submit(upgrade);
  EXPECT_EQ(world.channel.recipients(), (std::vector<NodeId>{1, 2}));
  EXPECT_EQ(orchestrator->abort(id, true), std::nullopt);
  ASSERT_TRUE(op(id).aborted_at.has_value());
  EXPECT_TRUE(op(id).finished());
  EXPECT_EQ(op(id).canceled, 4u);  // 3 and 4 untold (aborted), 1 and 2 handed over to the rollback (superseded)
  ASSERT_TRUE(op(id).rolled_back_by.has_value());
  const Operation& back = op(*op(id).rolled_back_by);
  EXPECT_TRUE(back.is_rollback);
  EXPECT_EQ(back.to_revision, 1u);
  EXPECT_EQ(target_nodes(back), (std::vector<NodeId>{1, 2}));
  EXPECT_TRUE(world.channel.desired_for(3).empty());
  EXPECT_EQ(world.channel.desired_for(1).back().release.revision, 1u);
  EXPECT_TRUE(world.channel.desired_for(1).back().rollback);
  // What cannot be done is said, and changes nothing.
  EXPECT_NE(orchestrator->abort(id, false)->find("has finished"), std::string::npos);
  EXPECT_NE(orchestrator->abort(99, false)->find("no operation 99"), std::string::npos);
  EXPECT_NE(orchestrator->revert(1)->find("there is none to go back to"), std::string::npos);  // the first deploy
}

TEST_F(OrchestratorTest, AnOperatorsRevertOfAFinishedRolloutSendsEveryNodeTheRevisionBefore) {
  // Goal: revert(id) undoes a finished rollout; method: revision 2 succeeds on all four nodes, revert sends revision
  // 1 to all four as a rollback; reverting again, or reverting the first deploy, is refused with the reason.
  make();
  orchestrator->submit(deploy("web", {}));
  for (NodeId n : {1, 2, 3, 4}) report(n, "web", 1, NodeAppState::healthy);
  const std::uint32_t id = orchestrator->submit(rollout("web", "2.0"));
  for (NodeId n : {1, 2, 3, 4}) report(n, "web", 2, NodeAppState::healthy);
  ASSERT_TRUE(op(id).finished());
  EXPECT_NE(orchestrator->revert(1)->find("there is none to go back to"), std::string::npos);  // the first deploy
  world.channel.sent.clear();
  EXPECT_EQ(orchestrator->revert(id), std::nullopt);
  ASSERT_TRUE(op(id).rolled_back_by.has_value());
  const Operation& back = op(*op(id).rolled_back_by);
  EXPECT_EQ(back.to_revision, 1u);
  EXPECT_EQ(target_nodes(back), (std::vector<NodeId>{1, 2, 3, 4}));
  EXPECT_EQ(orchestrator->desired_revision("web"), 1u);
  for (NodeId n : {1, 2, 3, 4}) EXPECT_TRUE(world.channel.desired_for(n).back().rollback) << n;
  EXPECT_TRUE(orchestrator->revert(id).has_value());
  const std::uint32_t in_progress = orchestrator->submit(rollout("web", "3.0"));
  EXPECT_NE(orchestrator->revert(in_progress)->find("in progress"), std::string::npos);
  EXPECT_EQ(orchestrator->abort(in_progress, false), std::nullopt);  // all four were told: they finish on their own
  EXPECT_TRUE(op(in_progress).aborted_at.has_value());
  EXPECT_FALSE(op(in_progress).finished());
  EXPECT_NE(orchestrator->abort(in_progress, false)->find("already aborted"), std::string::npos);
}

TEST_F(OrchestratorTest, RevertAllIncludesNodesThatTimedOut) {
  // Goal: a node that timed out was told the new revision and may run it: revert_all must send it the stable revision
  // too; method: revision 2 to every node with a 60 s deadline and an abort at 50 % after 2 executed; nodes 3 and 4
  // succeed, nodes 1 and 2 stay silent past their deadline (timed out): 2 of 4 executed are bad, the abort fires,
  // and the revert targets every node told, the timed-out ones included.
  make();
  orchestrator->submit(deploy("web", {}));
  for (NodeId n : {1, 2, 3, 4}) report(n, "web", 1, NodeAppState::healthy);
  Command upgrade = rollout("web", "2.0", /*node_deadline_s=*/60);
  upgrade.abort_threshold_percent = 50;
  upgrade.abort_min_executed = 2;
  upgrade.rollback = Command::Rollback::revert_all;
  orchestrator->submit(upgrade);
  report(3, "web", 2, NodeAppState::healthy);
  report(4, "web", 2, NodeAppState::healthy);
  world.timers.advance_to(61);
  ASSERT_EQ(op(2).timed_out, 2u);
  ASSERT_TRUE(op(2).aborted_at.has_value());
  ASSERT_TRUE(op(2).rolled_back_by.has_value());
  const Operation& revert = op(*op(2).rolled_back_by);
  std::vector<NodeId> reverted = target_nodes(revert);
  std::sort(reverted.begin(), reverted.end());
  EXPECT_EQ(reverted, (std::vector<NodeId>{1, 2, 3, 4}));
  for (NodeId n : {1, 2}) {
    ASSERT_FALSE(world.channel.desired_for(n).empty());
    EXPECT_TRUE(world.channel.desired_for(n).back().rollback) << "node " << n;
    EXPECT_EQ(world.channel.desired_for(n).back().release.revision, 1u) << "node " << n;
  }
}

TEST_F(OrchestratorTest, PollIsAnsweredOnlyWithWhatTheNodeWasToldAndHasNotAccepted) {
  // Goal: polling recovers lost notifications without telling anyone early; method: batches of 1; node 1 is told
  // generation 1 (the message is "lost"): its poll with generation 0 gets it again, its poll with generation 1 gets
  // nothing, and node 2 (batch 2, not started) gets nothing.
  make();
  Strategy strategy;
  strategy.kind = Strategy::Kind::batches;
  strategy.batch_size = 1;
  orchestrator->submit(batched("web", {}, strategy));
  ASSERT_EQ(world.channel.recipients(), (std::vector<NodeId>{1}));
  orchestrator->on_message(Poll{1, {{"web", 0}}});
  EXPECT_EQ(world.channel.recipients(), (std::vector<NodeId>{1, 1}));
  orchestrator->on_message(Poll{1, {{"web", 1}}});
  orchestrator->on_message(Poll{2, {}});
  EXPECT_EQ(world.channel.recipients(), (std::vector<NodeId>{1, 1}));
}

TEST(NodeAgentPoll, PollsAtJitteredIntervalsWithItsGenerations) {
  // Goal: the poll schedule; method: interval 100 s, jitter 0.2, scripted draws 0.5 (first poll at 50 s), then 0
  // (80 s later) and 1 (120 s later).
  fakes::FakeNodeWorld world;
  world.random.script = {0.5, 0.0, 1.0};
  NodeAgentConfig config;
  config.id = 3;
  config.poll_interval_s = 100;
  config.poll_jitter = 0.2;
  NodeAgent agent(config, world.ports());
  world.attach(agent);
  agent.start();
  std::vector<double> polls;
  for (double t = 0; t <= 300; t += 1) {
    const auto before = world.channel.sent.size();
    world.timers.advance_to(t);
    if (world.channel.sent.size() > before) polls.push_back(t);
  }
  EXPECT_EQ(polls, (std::vector<double>{50, 130, 250}));
  ASSERT_FALSE(world.channel.sent.empty());
  EXPECT_TRUE(std::holds_alternative<Poll>(world.channel.sent.front()));
  EXPECT_EQ(std::get<Poll>(world.channel.sent.front()).node, 3u);
}

TEST(RollingStrategy, WindowRoundsAsKubernetesDoes) {
  // maxUnavailable rounds down, maxSurge rounds up; both 0 means maxUnavailable 1.
  Strategy s;
  s.kind = Strategy::Kind::rolling;
  s.max_unavailable_percent = 25;
  s.max_surge_percent = 25;
  EXPECT_EQ(s.rolling_window(10), 2u + 3u);  // floor(2.5) + ceil(2.5)
  EXPECT_EQ(s.rolling_window(3), 0u + 1u);   // floor(0.75) + ceil(0.75)
  Strategy none;
  none.kind = Strategy::Kind::rolling;
  EXPECT_EQ(none.rolling_window(10), 1u);
  Strategy fixed;
  fixed.kind = Strategy::Kind::rolling;
  fixed.max_unavailable = 2;
  fixed.max_surge = 1;
  EXPECT_EQ(fixed.rolling_window(10), 3u);
}

TEST_F(OrchestratorTest, RollingTakesEachSiteOneNodeAtATimeInParallel) {
  // Two sites of two nodes, window 1: n1 and n3 first; n2 only once n1 is done, n4 only once n3 is done.
  make();
  Strategy strategy;
  strategy.kind = Strategy::Kind::rolling;
  strategy.max_unavailable = 1;
  orchestrator->submit(batched("web", {}, strategy));
  EXPECT_EQ(world.channel.recipients(), (std::vector<NodeId>{1, 3}));
  report(1, "web", 1, NodeAppState::healthy);
  EXPECT_EQ(world.channel.recipients(), (std::vector<NodeId>{1, 3, 2}));
  report(2, "web", 1, NodeAppState::failed, "x");
  EXPECT_EQ(world.channel.recipients().size(), 3u) << "site a is done; site b still waits for n3";
  report(3, "web", 1, NodeAppState::healthy);
  EXPECT_EQ(world.channel.recipients(), (std::vector<NodeId>{1, 3, 2, 4}));
}

TEST_F(OrchestratorTest, AbortOnFailedIgnoresNodesThatTimedOut) {
  // Goal: the other failure type: "failed" counts failed nodes only; method: 6 nodes, threshold 40 %, a 100 s
  // deadline: at 1 s two nodes are healthy and one fails (1 of 3), at 100 s the other three time out: failed stays
  // at 1 of up to 6 executed, never 40 %, so no abort (counting the timeouts, 2 of 4 would abort at the first one).
  // (Killed mutant: orch-abort-failure-type-failed.)
  inventory.push_back({5, "n5", "site-c", {{"tier", "edge"}}, {{"memory", 8e9}}});
  inventory.push_back({6, "n6", "site-c", {{"tier", "edge"}}, {{"memory", 8e9}}});
  make();
  Command command = deploy("web", {}, /*node_deadline_s=*/100);
  command.abort_threshold_percent = 40;
  command.abort_min_executed = 2;
  command.abort_failure_type = Command::FailureType::failed;
  orchestrator->submit(command);
  world.timers.advance_to(1);
  report(5, "web", 1, NodeAppState::healthy);
  report(6, "web", 1, NodeAppState::healthy);
  report(3, "web", 1, NodeAppState::failed, "x");
  world.timers.advance_to(100);  // nodes 1, 2 and 4 never report: timed out
  EXPECT_EQ(op(1).timed_out, 3u);
  EXPECT_FALSE(op(1).aborted_at.has_value()) << "timed-out nodes counted as failed";
}

TEST_F(OrchestratorTest, AbortCountsOnlyOutcomesOfItsFailureType) {
  // Goal: AWS failureType; method: threshold 50 %, failure type timed_out, a 100 s node deadline: two nodes fail
  // at 1 s (executed 2, timed out 0: no abort); the other two time out at 100 s (2 of 4 = 50 %: abort then).
  make();
  Command command = deploy("web", {}, /*node_deadline_s=*/100);
  command.abort_threshold_percent = 50;
  command.abort_min_executed = 2;
  command.abort_failure_type = Command::FailureType::timed_out;
  orchestrator->submit(command);
  world.timers.advance_to(1);
  report(1, "web", 1, NodeAppState::failed, "x");
  report(2, "web", 1, NodeAppState::failed, "x");
  EXPECT_FALSE(op(1).aborted_at.has_value());
  world.timers.advance_to(100);
  ASSERT_TRUE(op(1).aborted_at.has_value());
  EXPECT_EQ(*op(1).aborted_at, 100);
}

}  // namespace
}  // namespace fleetsim::agents
