// The node agent (agents/node_agent.hpp) driven through the fake ports of fake_ports.hpp: the test plays the
// orchestrator (on_message), the registry (complete/fail a transfer), the container engine (on_container_event) and
// time (FakeTimers::advance_to), and checks what the agent reported and asked of its ports. Expected values follow
// from the documented behaviour (download-then-kill, resume at the byte offset, back-off retry_initial * 2^(n-1)
// capped at retry_max with +-20 % jitter, disk budget) and from the layer sizes each test chooses.
#include "fleetsim/agents/node_agent.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fake_ports.hpp"

namespace fleetsim::agents {
namespace {

using fakes::FakeNodeWorld;
using fakes::journal_index;

Release make_release(const std::string& app, Revision revision, std::vector<Layer> layers, double ready_s = 5) {
  Release release;
  release.app = app;
  release.revision = revision;
  release.version = "1." + std::to_string(revision);
  release.layers = std::move(layers);
  release.start_s = 2;
  release.ready_s = ready_s;
  return release;
}

::testing::AssertionResult mentions(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not mention \"" << part << "\"";
}

class NodeAgentTest : public ::testing::Test {
 protected:
  NodeAgentTest() {
    config.id = 7;
    config.disk_bytes = 100'000;
    config.max_concurrent_downloads = 3;
    config.notify_jitter_s = 0;
    config.resume = ResumePolicy::resume_range;
    config.max_fetch_attempts = 5;
    config.retry_initial_s = 10;
    config.retry_max_s = 300;
  }

  NodeAgent& make_agent() {
    agent = std::make_unique<NodeAgent>(config, world.ports());
    world.attach(*agent);
    return *agent;
  }
  void desire(std::uint64_t generation, const Release& release) {
    agent->on_message(DesiredState{generation, release});
  }
  void complete_all_fetches() {
    while (!world.registry.active().empty()) world.registry.complete(world.registry.active().front().id);
  }
  // Plays a release to healthy: every transfer succeeds, the container starts, readiness passes after ready_s.
  void run_to_healthy(std::uint64_t generation, const Release& release) {
    desire(generation, release);
    complete_all_fetches();
    agent->on_container_event(release.app, ContainerEvent::started);
    world.timers.advance_by(release.ready_s);
    ASSERT_FALSE(reports().empty());
    ASSERT_EQ(reports().back().state, NodeAppState::healthy);
    ASSERT_EQ(reports().back().revision, release.revision);
  }
  // Plays an update whose container exits on start: the node reports it failed.
  void fail_on_start(std::uint64_t generation, const Release& release) {
    desire(generation, release);
    complete_all_fetches();
    agent->on_container_event(release.app, ContainerEvent::exited);
    ASSERT_EQ(reports().back().state, NodeAppState::failed);
  }
  std::vector<StatusReport> reports() const { return world.channel.reports(); }
  std::vector<NodeAppState> states() const {
    std::vector<NodeAppState> out;
    for (const auto& report : reports()) out.push_back(report.state);
    return out;
  }

  NodeAgentConfig config;
  FakeNodeWorld world;
  std::unique_ptr<NodeAgent> agent;
};

// ---- the happy path ------------------------------------------------------------------------------------------------

TEST_F(NodeAgentTest, RunsReleaseThroughAcceptedDownloadedHealthy) {
  // Goal: the whole life of a first release; method: accept, pull both layers, start, and pass readiness exactly
  // ready_s after the container runs, checking each report and port call on the way.
  make_agent();
  const Release r1 = make_release("web", 1, {{"sha:base", 300}, {"sha:web1", 200}}, /*ready_s=*/5);
  desire(1, r1);

  ASSERT_EQ(reports().size(), 1u);
  EXPECT_EQ(reports()[0].node, 7u);
  EXPECT_EQ(reports()[0].app, "web");
  EXPECT_EQ(reports()[0].revision, 1u);
  EXPECT_EQ(reports()[0].generation, 1u);
  EXPECT_EQ(reports()[0].state, NodeAppState::accepted);
  EXPECT_EQ(world.random.draws, 0u);  // no jitter configured: nothing drawn
  ASSERT_EQ(world.registry.all.size(), 2u);
  EXPECT_EQ(world.registry.all[0].layer.digest, "sha:base");
  EXPECT_EQ(world.registry.all[0].layer.size_bytes, 300u);
  EXPECT_EQ(world.registry.all[0].offset, 0u);
  EXPECT_EQ(world.registry.all[1].layer.digest, "sha:web1");
  EXPECT_EQ(world.registry.all[1].offset, 0u);

  world.registry.complete("sha:base");
  EXPECT_EQ(reports().size(), 1u);
  EXPECT_TRUE(world.runtime.starts.empty());
  world.registry.complete("sha:web1");
  EXPECT_EQ(states(), (std::vector<NodeAppState>{NodeAppState::accepted, NodeAppState::downloaded}));
  ASSERT_EQ(world.runtime.starts.size(), 1u);
  EXPECT_EQ(world.runtime.starts[0].revision, 1u);
  EXPECT_TRUE(world.runtime.stops.empty());  // nothing ran before
  EXPECT_EQ(agent->running("web"), nullptr);

  world.clock.set(100);
  agent->on_container_event("web", ContainerEvent::started);
  world.timers.advance_to(104.999);
  EXPECT_EQ(reports().size(), 2u);
  world.timers.advance_to(105);
  ASSERT_EQ(reports().size(), 3u);
  EXPECT_EQ(reports()[2].state, NodeAppState::healthy);
  EXPECT_EQ(reports()[2].generation, 1u);
  ASSERT_NE(agent->running("web"), nullptr);
  EXPECT_EQ(agent->running("web")->revision, 1u);
  EXPECT_EQ(agent->bytes_fetched(), 500u);
  EXPECT_EQ(agent->bytes_stored(), 500u);
  EXPECT_EQ(agent->bytes_wasted(), 0u);
  EXPECT_EQ(agent->container_starts(), 1u);
}

TEST_F(NodeAgentTest, ReleaseWithoutReadinessDelayIsHealthyWhenStarted) {
  // Goal: ready_s = 0 means healthy as soon as the process runs; method: no timer is needed for the report.
  make_agent();
  desire(1, make_release("web", 1, {{"sha:a", 10}}, /*ready_s=*/0));
  complete_all_fetches();
  agent->on_container_event("web", ContainerEvent::started);
  EXPECT_EQ(states().back(), NodeAppState::healthy);
  EXPECT_TRUE(world.timers.pending().empty());
}

TEST_F(NodeAgentTest, NeverRunsMoreThanMaxConcurrentDownloads) {
  // Goal: at most max_concurrent_downloads transfers run at once and queued layers start as others finish, in
  // layer order; method: five layers with a limit of two, completing the oldest transfer each step.
  config.max_concurrent_downloads = 2;
  make_agent();
  desire(1, make_release("web", 1, {{"sha:1", 100}, {"sha:2", 100}, {"sha:3", 100}, {"sha:4", 100}, {"sha:5", 100}}));
  EXPECT_EQ(world.registry.active().size(), 2u);
  EXPECT_EQ(world.registry.all.size(), 2u);
  for (std::size_t started = 2; started <= 5; ++started) {
    ASSERT_EQ(world.registry.all.size(), started);
    ASSERT_LE(world.registry.active().size(), 2u);
    world.registry.complete(world.registry.active().front().id);
  }
  complete_all_fetches();
  EXPECT_EQ(world.registry.digests_started(), (std::vector<std::string>{"sha:1", "sha:2", "sha:3", "sha:4", "sha:5"}));
  EXPECT_EQ(states().back(), NodeAppState::downloaded);
}

TEST_F(NodeAgentTest, FetchesOnlyLayersMissingLocally) {
  // Goal: a base layer shared between revisions is pulled once; method: revision 2 reuses revision 1's base layer,
  // and only its own layer is fetched.
  make_agent();
  run_to_healthy(1, make_release("web", 1, {{"sha:base", 300}, {"sha:web1", 200}}));
  const std::size_t fetches_before = world.registry.all.size();
  desire(2, make_release("web", 2, {{"sha:base", 300}, {"sha:web2", 250}}));
  ASSERT_EQ(world.registry.all.size(), fetches_before + 1);
  EXPECT_EQ(world.registry.all.back().layer.digest, "sha:web2");
  world.registry.complete("sha:web2");
  EXPECT_EQ(states().back(), NodeAppState::downloaded);
  EXPECT_EQ(agent->bytes_stored(), 300u + 200u + 250u);
  EXPECT_EQ(agent->bytes_fetched(), 300u + 200u + 250u);
}

TEST_F(NodeAgentTest, StopsOldContainerOnlyAfterEveryLayerIsDownloaded) {
  // Goal: download-then-kill: the running release keeps running through the pull, and is stopped right after the
  // last layer arrives and just before the new one starts; method: the shared journal of port calls.
  make_agent();
  run_to_healthy(1, make_release("web", 1, {{"sha:base", 300}, {"sha:web1", 200}}));
  desire(2, make_release("web", 2, {{"sha:base", 300}, {"sha:web2a", 100}, {"sha:web2b", 100}}));
  world.registry.complete("sha:web2a");
  EXPECT_TRUE(world.runtime.stops.empty());
  ASSERT_NE(agent->running("web"), nullptr);
  EXPECT_EQ(agent->running("web")->revision, 1u);
  world.registry.complete("sha:web2b");

  const auto& j = world.journal;
  const auto fetched = journal_index(j, "fetched sha:web2b");
  const auto downloaded = journal_index(j, "report downloaded web@2");
  const auto stop = journal_index(j, "stop web");
  const auto start = journal_index(j, "start web@2");
  ASSERT_GE(fetched, 0);
  EXPECT_LT(fetched, downloaded);
  EXPECT_LT(downloaded, stop);
  EXPECT_LT(stop, start);
  EXPECT_EQ(world.runtime.stops.size(), 1u);

  agent->on_container_event("web", ContainerEvent::started);
  world.timers.advance_by(5);
  EXPECT_EQ(states().back(), NodeAppState::healthy);
  EXPECT_EQ(agent->running("web")->revision, 2u);
  EXPECT_EQ(agent->container_starts(), 2u);
}

// ---- duplicates and stale messages ---------------------------------------------------------------------------------

TEST_F(NodeAgentTest, RepeatedDesiredStateRestartsNothingAndReportsHealthyAgain) {
  // Goal: a duplicate of the applied DesiredState (same generation) is answered with healthy, so an orchestrator
  // that lost the report learns it again, and nothing is fetched, stopped, started or timed.
  make_agent();
  const Release r1 = make_release("web", 1, {{"sha:a", 100}});
  run_to_healthy(1, r1);
  const auto fetches = world.registry.all.size();
  const auto timers = world.timers.all.size();
  const auto report_count = reports().size();

  desire(1, r1);
  ASSERT_EQ(reports().size(), report_count + 1);
  EXPECT_EQ(reports().back().state, NodeAppState::healthy);
  EXPECT_EQ(reports().back().generation, 1u);
  EXPECT_EQ(reports().back().revision, 1u);
  EXPECT_EQ(world.registry.all.size(), fetches);
  EXPECT_EQ(world.timers.all.size(), timers);
  EXPECT_EQ(world.runtime.starts.size(), 1u);
  EXPECT_TRUE(world.runtime.stops.empty());
}

TEST_F(NodeAgentTest, NewGenerationOfTheRunningRevisionRestartsNothing) {
  // Goal: a newer generation that names the revision already running is acknowledged as healthy at once.
  make_agent();
  const Release r1 = make_release("web", 1, {{"sha:a", 100}});
  run_to_healthy(1, r1);
  desire(2, r1);
  EXPECT_EQ(reports().back().state, NodeAppState::healthy);
  EXPECT_EQ(reports().back().generation, 2u);
  EXPECT_EQ(world.runtime.starts.size(), 1u);
  EXPECT_TRUE(world.runtime.stops.empty());
  EXPECT_EQ(world.registry.all.size(), 1u);
}

TEST_F(NodeAgentTest, IgnoresStaleGeneration) {
  // Goal: a late message with a lower generation changes nothing; method: during the pull of generation 3, deliver
  // generations 2 (another revision) and 1 (the running one): no report, no fetch, no cancellation.
  make_agent();
  run_to_healthy(1, make_release("web", 1, {{"sha:a", 100}}));
  desire(3, make_release("web", 3, {{"sha:c", 100}}));
  const auto report_count = reports().size();
  const auto fetches = world.registry.all.size();

  desire(2, make_release("web", 2, {{"sha:b", 100}}));
  desire(1, make_release("web", 1, {{"sha:a", 100}}));
  EXPECT_EQ(reports().size(), report_count);
  EXPECT_EQ(world.registry.all.size(), fetches);
  for (const auto& fetch : world.registry.all) EXPECT_FALSE(fetch.cancelled) << fetch.layer.digest;

  world.registry.complete("sha:c");
  EXPECT_EQ(reports().back().state, NodeAppState::downloaded);
  EXPECT_EQ(reports().back().revision, 3u);
  EXPECT_EQ(reports().back().generation, 3u);
}

// ---- notification jitter -------------------------------------------------------------------------------------------

TEST_F(NodeAgentTest, DelaysFirstFetchByNotifyJitterTimesUniform01) {
  // Goal: with notify_jitter_s = J the node accepts at once but starts pulling J * uniform01 later; method: a
  // scripted draw of 0.25 with J = 40 puts the first fetch at exactly 10 s.
  config.notify_jitter_s = 40;
  make_agent();
  world.random.script = {0.25};
  desire(1, make_release("web", 1, {{"sha:a", 100}}));
  EXPECT_EQ(states(), std::vector<NodeAppState>{NodeAppState::accepted});
  EXPECT_EQ(world.random.draws, 1u);
  EXPECT_TRUE(world.registry.all.empty());
  EXPECT_EQ(world.timers.last().delay_s, 10.0);

  world.timers.advance_to(9.999);
  EXPECT_TRUE(world.registry.all.empty());
  world.timers.advance_to(10);
  ASSERT_EQ(world.registry.all.size(), 1u);
  EXPECT_EQ(world.registry.all[0].layer.digest, "sha:a");
}

TEST_F(NodeAgentTest, NewerRevisionDuringJitterCancelsTheWait) {
  // Goal: a newer revision arriving while the node waits out its jitter replaces the wait; method: the first jitter
  // timer is cancelled, and when the second expires only the newer revision is pulled.
  config.notify_jitter_s = 40;
  make_agent();
  world.random.script = {0.5, 0.25};
  desire(1, make_release("web", 1, {{"sha:a", 100}}));
  const TimerId first = world.timers.last().id;
  world.clock.set(5);
  desire(2, make_release("web", 2, {{"sha:b", 100}}));
  EXPECT_TRUE(world.timers.all[first - 1].cancelled);
  world.timers.advance_to(100);
  EXPECT_EQ(world.registry.digests_started(), std::vector<std::string>{"sha:b"});
}

// ---- interrupted transfers -----------------------------------------------------------------------------------------

TEST_F(NodeAgentTest, ResumesInterruptedLayerAtByteOffset) {
  // Goal: with resume_range a retry asks for the bytes not yet received (HTTP Range); method: a 1000-byte layer cut
  // after 400 then after 300 more bytes is retried at offsets 400 and 700, and nothing is wasted.
  config.resume = ResumePolicy::resume_range;
  make_agent();
  desire(1, make_release("web", 1, {{"sha:a", 1000}}));
  world.registry.fail("sha:a", 400);
  EXPECT_EQ(world.registry.all.size(), 1u);  // the retry waits for its back-off
  world.timers.advance_by(1000);
  ASSERT_EQ(world.registry.all.size(), 2u);
  EXPECT_EQ(world.registry.all[1].offset, 400u);
  EXPECT_EQ(world.registry.all[1].layer.size_bytes, 1000u);

  world.registry.fail("sha:a", 300);
  world.timers.advance_by(1000);
  ASSERT_EQ(world.registry.all.size(), 3u);
  EXPECT_EQ(world.registry.all[2].offset, 700u);
  world.registry.complete("sha:a");  // delivers the remaining 300 bytes
  EXPECT_EQ(states().back(), NodeAppState::downloaded);
  EXPECT_EQ(agent->bytes_fetched(), 1000u);
  EXPECT_EQ(agent->bytes_wasted(), 0u);
}

TEST_F(NodeAgentTest, AStoreThatSaysWhatItHoldsOverridesTheAgentsCount) {
  // Goal: a real store's word (FetchResult::stored_bytes) is what the next attempt resumes from; method: 1000 bytes
  // arrive but the digest does not match, so the store keeps 0 of them: the retry starts at 0 and the 1000 bytes
  // are wasted; a later cut after 300 bytes of which the store kept 256 (whole blocks) resumes at 256.
  config.resume = ResumePolicy::resume_range;
  make_agent();
  desire(1, make_release("web", 1, {{"sha:a", 1000}}));
  world.registry.finish(world.registry.latest("sha:a").id, FetchResult{false, 1000, "digest mismatch", std::uint64_t{0}});
  EXPECT_EQ(agent->bytes_wasted(), 1000u);
  world.timers.advance_by(1000);
  ASSERT_EQ(world.registry.all.size(), 2u);
  EXPECT_EQ(world.registry.all[1].offset, 0u);
  world.registry.finish(world.registry.all[1].id, FetchResult{false, 300, "connection reset", std::uint64_t{256}});
  EXPECT_EQ(agent->bytes_wasted(), 1000u + 44u);
  world.timers.advance_by(1000);
  ASSERT_EQ(world.registry.all.size(), 3u);
  EXPECT_EQ(world.registry.all[2].offset, 256u);
  world.registry.complete("sha:a");
  EXPECT_EQ(states().back(), NodeAppState::downloaded);
  EXPECT_EQ(agent->bytes_fetched(), 1000u + 300u + 744u);
}

TEST_F(NodeAgentTest, RestartsInterruptedLayerFromZeroAndCountsWastedBytes) {
  // Goal: with restart_from_zero a retry starts at byte 0 and the discarded partial bytes are counted as wasted;
  // method: cut after 400 then 250 bytes; wasted = 650, fetched = 650 + 1000.
  config.resume = ResumePolicy::restart_from_zero;
  make_agent();
  desire(1, make_release("web", 1, {{"sha:a", 1000}}));
  world.registry.fail("sha:a", 400);
  EXPECT_EQ(agent->bytes_wasted(), 400u);
  world.timers.advance_by(1000);
  ASSERT_EQ(world.registry.all.size(), 2u);
  EXPECT_EQ(world.registry.all[1].offset, 0u);

  world.registry.fail("sha:a", 250);
  EXPECT_EQ(agent->bytes_wasted(), 650u);
  world.timers.advance_by(1000);
  ASSERT_EQ(world.registry.all.size(), 3u);
  EXPECT_EQ(world.registry.all[2].offset, 0u);
  world.registry.complete("sha:a");
  EXPECT_EQ(states().back(), NodeAppState::downloaded);
  EXPECT_EQ(agent->bytes_fetched(), 400u + 250u + 1000u);
  EXPECT_EQ(agent->bytes_wasted(), 650u);
  EXPECT_EQ(agent->bytes_stored(), 1000u);
}

TEST(NodeAgentBackoff, RetryDelayDoublesUpToMaxWithinTwentyPercentJitter) {
  // Goal: the n-th retry waits min(retry_max, retry_initial * 2^(n-1)) * (0.8 + 0.4 u); method: for u = 0, 0.5 and
  // just under 1, fail a layer nine times and compare each armed delay with the closed form, then check that the
  // retry fetch starts when that timer fires and not before.
  for (double u : {0.0, 0.5, 0.999}) {
    SCOPED_TRACE("u = " + std::to_string(u));
    NodeAgentConfig config;
    config.id = 1;
    config.disk_bytes = 1'000'000;
    config.max_fetch_attempts = 10;
    config.retry_initial_s = 10;
    config.retry_max_s = 300;
    FakeNodeWorld world;
    world.random.constant = u;
    NodeAgent agent(config, world.ports());
    world.attach(agent);
    agent.on_message(DesiredState{1, make_release("web", 1, {{"sha:a", 1000}})});

    for (unsigned n = 1; n <= 9; ++n) {
      SCOPED_TRACE("retry " + std::to_string(n));
      world.registry.fail("sha:a", 0);
      const double nominal = std::min(300.0, 10.0 * std::pow(2.0, n - 1));
      const double delay = world.timers.last().delay_s;
      EXPECT_DOUBLE_EQ(delay, nominal * (0.8 + 0.4 * u));
      EXPECT_GE(delay, 0.8 * nominal);
      EXPECT_LT(delay, 1.2 * nominal);
      const std::size_t fetches = world.registry.all.size();
      world.timers.advance_by(delay * 0.999);
      EXPECT_EQ(world.registry.all.size(), fetches);
      world.timers.advance_to(world.timers.last().at);
      ASSERT_EQ(world.registry.all.size(), fetches + 1);
    }
  }
}

TEST_F(NodeAgentTest, ReportsFailedAfterMaxFetchAttempts) {
  // Goal: after max_fetch_attempts failed pulls of one layer the node reports failed with the layer and last error,
  // stops retrying, and leaves the running release alone; method: three failures with max_fetch_attempts = 3.
  config.max_fetch_attempts = 3;
  make_agent();
  run_to_healthy(1, make_release("web", 1, {{"sha:a", 100}}));
  desire(2, make_release("web", 2, {{"sha:b", 1000}}));
  world.registry.fail("sha:b", 10, "registry unreachable");
  world.timers.advance_by(1000);
  world.registry.fail("sha:b", 10, "registry unreachable");
  world.timers.advance_by(1000);
  EXPECT_EQ(states().back(), NodeAppState::accepted);
  world.registry.fail("sha:b", 10, "TLS handshake timeout");

  const StatusReport last = reports().back();
  EXPECT_EQ(last.state, NodeAppState::failed);
  EXPECT_EQ(last.revision, 2u);
  EXPECT_EQ(last.generation, 2u);
  EXPECT_EQ(last.reason, FailureReason::pull_failed);
  EXPECT_TRUE(mentions(last.detail, "sha:b"));
  EXPECT_TRUE(mentions(last.detail, "3 times"));
  EXPECT_TRUE(mentions(last.detail, "TLS handshake timeout"));
  EXPECT_TRUE(world.timers.pending().empty());
  EXPECT_TRUE(world.registry.active().empty());
  world.timers.advance_by(10'000);
  EXPECT_EQ(world.registry.all.size(), 1u + 3u);  // sha:a once, sha:b three times
  EXPECT_EQ(world.runtime.starts.size(), 1u);
  EXPECT_TRUE(world.runtime.stops.empty());
  ASSERT_NE(agent->running("web"), nullptr);
  EXPECT_EQ(agent->running("web")->revision, 1u);
}

// ---- disk budget ---------------------------------------------------------------------------------------------------

TEST_F(NodeAgentTest, ReportsDiskFullWhenReleaseDoesNotFit) {
  // Goal: a release larger than the disk budget fails at once with "disk full", pulling nothing; method: 600 + 500
  // bytes on a 1000-byte disk.
  config.disk_bytes = 1000;
  make_agent();
  desire(1, make_release("web", 1, {{"sha:a", 600}, {"sha:b", 500}}));
  EXPECT_EQ(states(), (std::vector<NodeAppState>{NodeAppState::accepted, NodeAppState::failed}));
  EXPECT_EQ(reports().back().reason, FailureReason::disk_full);
  EXPECT_TRUE(mentions(reports().back().detail, "disk full"));
  EXPECT_TRUE(world.registry.all.empty());
  EXPECT_EQ(agent->bytes_stored(), 0u);
}

TEST_F(NodeAgentTest, ReleaseThatFillsTheDiskExactlyFits) {
  // Goal: the budget is inclusive; method: 600 + 400 bytes on a 1000-byte disk are pulled.
  config.disk_bytes = 1000;
  make_agent();
  desire(1, make_release("web", 1, {{"sha:a", 600}, {"sha:b", 400}}));
  EXPECT_EQ(world.registry.all.size(), 2u);
  complete_all_fetches();
  EXPECT_EQ(states().back(), NodeAppState::downloaded);
  EXPECT_EQ(agent->bytes_stored(), 1000u);
}

TEST_F(NodeAgentTest, NeverCollectsLayersOfTheRunningRelease) {
  // Goal: garbage collection never frees what runs; method: with 600 bytes running on a 1000-byte disk, a 600-byte
  // release fails with "disk full" and the running release keeps its layer and its container.
  config.disk_bytes = 1000;
  make_agent();
  run_to_healthy(1, make_release("web", 1, {{"sha:a", 600}}));
  desire(2, make_release("web", 2, {{"sha:b", 600}}));
  EXPECT_EQ(reports().back().state, NodeAppState::failed);
  EXPECT_TRUE(mentions(reports().back().detail, "disk full"));
  EXPECT_EQ(agent->bytes_stored(), 600u);
  EXPECT_EQ(world.registry.all.size(), 1u);
  EXPECT_TRUE(world.runtime.stops.empty());
  EXPECT_EQ(agent->running("web")->revision, 1u);
}

TEST_F(NodeAgentTest, CollectsUnusedCompleteLayersToMakeRoom) {
  // Goal: a layer no running, rollback or target release needs is freed when space is short; method: revisions 1-3
  // (400 B each) fill a 1200-byte disk; revision 4 fits only once revision 1's layer is collected (revision 2 is kept
  // for rollback), and pulling revision 1's layer again later proves it was really deleted.
  config.disk_bytes = 1200;
  make_agent();
  run_to_healthy(1, make_release("web", 1, {{"sha:r1", 400}}));
  run_to_healthy(2, make_release("web", 2, {{"sha:r2", 400}}));
  run_to_healthy(3, make_release("web", 3, {{"sha:r3", 400}}));
  EXPECT_EQ(agent->bytes_stored(), 1200u);

  run_to_healthy(4, make_release("web", 4, {{"sha:r4", 400}}));
  EXPECT_EQ(agent->bytes_stored(), 1200u);
  EXPECT_EQ(world.registry.removed, std::vector<std::string>{"sha:r1"});  // the store is told to delete it
  EXPECT_EQ(world.registry.digests_started(), (std::vector<std::string>{"sha:r1", "sha:r2", "sha:r3", "sha:r4"}));

  run_to_healthy(5, make_release("web", 5, {{"sha:r1", 400}}));  // r2 is now unused and makes room for r1
  EXPECT_EQ(world.registry.digests_started().back(), "sha:r1");
  EXPECT_EQ(world.registry.all.size(), 5u);
  EXPECT_EQ(world.registry.removed, (std::vector<std::string>{"sha:r1", "sha:r2"}));
}

TEST_F(NodeAgentTest, KeepsLayersOfThePreviousReleaseForRollback) {
  // Goal: the previous release's layers are not collected (the header keeps it for rollback); method: running r3
  // and previous r2 (400 B each) plus unused r1 on a 1200-byte disk leave room for at most 400 B more, so an 800-byte
  // release fails with "disk full" after collecting only r1.
  config.disk_bytes = 1200;
  make_agent();
  run_to_healthy(1, make_release("web", 1, {{"sha:r1", 400}}));
  run_to_healthy(2, make_release("web", 2, {{"sha:r2", 400}}));
  run_to_healthy(3, make_release("web", 3, {{"sha:r3", 400}}));
  desire(4, make_release("web", 4, {{"sha:r4", 800}}));
  EXPECT_EQ(reports().back().state, NodeAppState::failed);
  EXPECT_TRUE(mentions(reports().back().detail, "disk full"));
  EXPECT_EQ(agent->bytes_stored(), 800u);  // r1 freed; r2 (rollback) and r3 (running) kept
  EXPECT_EQ(agent->running("web")->revision, 3u);
}

// ---- superseded and failed updates ---------------------------------------------------------------------------------

TEST_F(NodeAgentTest, NewerRevisionDuringDownloadCancelsOldFetches) {
  // Goal: a newer revision abandons the pull in progress: its transfers are cancelled, a late result from one of them
  // is ignored, and the newer revision is pulled and started instead.
  make_agent();
  desire(1, make_release("web", 1, {{"sha:a", 500}, {"sha:b", 500}}));
  const TransferId a = world.registry.latest("sha:a").id;
  const TransferId b = world.registry.latest("sha:b").id;
  desire(2, make_release("web", 2, {{"sha:c", 500}}));

  EXPECT_TRUE(world.registry.find(a).cancelled);
  EXPECT_TRUE(world.registry.find(b).cancelled);
  ASSERT_EQ(world.registry.active().size(), 1u);
  EXPECT_EQ(world.registry.active()[0].layer.digest, "sha:c");
  EXPECT_EQ(reports().back().state, NodeAppState::accepted);
  EXPECT_EQ(reports().back().revision, 2u);
  EXPECT_EQ(reports().back().generation, 2u);

  world.registry.deliver_late(a, FetchResult{true, 500, {}, {}});
  world.registry.deliver_late(b, FetchResult{true, 500, {}, {}});
  EXPECT_EQ(reports().back().state, NodeAppState::accepted);
  EXPECT_TRUE(world.runtime.starts.empty());

  world.registry.complete("sha:c");
  EXPECT_EQ(reports().back().state, NodeAppState::downloaded);
  EXPECT_EQ(reports().back().revision, 2u);
  ASSERT_EQ(world.runtime.starts.size(), 1u);
  EXPECT_EQ(world.runtime.starts[0].revision, 2u);
}

TEST_F(NodeAgentTest, NewerRevisionCancelsPendingRetry) {
  // Goal: a retry timer of an abandoned revision is cancelled and never fetches; method: fail a layer of revision 1,
  // supersede it, and let time pass.
  make_agent();
  desire(1, make_release("web", 1, {{"sha:a", 500}}));
  world.registry.fail("sha:a", 100);
  ASSERT_EQ(world.timers.pending().size(), 1u);
  desire(2, make_release("web", 2, {{"sha:c", 500}}));
  EXPECT_TRUE(world.timers.pending().empty());
  world.timers.advance_by(10'000);
  EXPECT_EQ(world.registry.digests_started(), (std::vector<std::string>{"sha:a", "sha:c"}));
}

TEST_F(NodeAgentTest, ContainerExitBeforeReadyFailsAndRestartsTheRunningRelease) {
  // Goal: a new container that dies before readiness is reported failed, and the committed release is started
  // again; method: revision 2 exits after starting; revision 1 is put back.
  make_agent();
  run_to_healthy(1, make_release("web", 1, {{"sha:a", 100}}));
  desire(2, make_release("web", 2, {{"sha:b", 100}}));
  complete_all_fetches();
  agent->on_container_event("web", ContainerEvent::started);
  agent->on_container_event("web", ContainerEvent::exited);

  EXPECT_EQ(reports().back().state, NodeAppState::failed);
  EXPECT_EQ(reports().back().revision, 2u);
  EXPECT_EQ(reports().back().reason, FailureReason::exited_before_ready);
  EXPECT_TRUE(mentions(reports().back().detail, "exited"));
  ASSERT_EQ(world.runtime.starts.size(), 3u);
  EXPECT_EQ(world.runtime.starts[2].revision, 1u);
  EXPECT_EQ(world.runtime.stops.size(), 2u);  // old stopped for the update, failed one stopped for the rollback
  EXPECT_EQ(agent->running("web")->revision, 1u);
  world.timers.advance_by(100);  // the readiness timer of revision 2 must not fire a healthy report
  EXPECT_EQ(reports().back().state, NodeAppState::failed);
}

// ---- bugs (see the report) -----------------------------------------------------------------------------------------

TEST_F(NodeAgentTest, LayerSharedBetweenAppsCompletesBothApps) {
  // Goal: when two apps need the same layer, it is pulled once and its arrival lets both apps proceed; method: "web"
  // starts pulling sha:base, "api" needs it too and waits for that transfer; when it completes both must report
  // downloaded and start.
  make_agent();
  desire(1, make_release("web", 1, {{"sha:base", 500}, {"sha:web", 100}}));
  desire(1, make_release("api", 1, {{"sha:base", 500}, {"sha:api", 100}}));
  EXPECT_EQ(world.registry.digests_started(), (std::vector<std::string>{"sha:base", "sha:web", "sha:api"}));
  world.registry.complete("sha:web");
  world.registry.complete("sha:api");
  world.registry.complete("sha:base");

  std::vector<std::string> downloaded;
  for (const auto& report : reports())
    if (report.state == NodeAppState::downloaded) downloaded.push_back(report.app);
  std::sort(downloaded.begin(), downloaded.end());
  EXPECT_EQ(downloaded, (std::vector<std::string>{"api", "web"}));
  EXPECT_EQ(world.runtime.starts.size(), 2u);
}

TEST_F(NodeAgentTest, AbandonedPartialLayerDoesNotHoldDiskSpace) {
  // Goal: the space reserved for a layer that no release needs any more can be reclaimed; method: on a 1000-byte
  // disk, revision 1 (600 B) is superseded before any byte arrived; revision 2 (600 B) must then be pulled, not
  // refused with "disk full".
  config.disk_bytes = 1000;
  make_agent();
  desire(1, make_release("web", 1, {{"sha:a", 600}}));
  desire(2, make_release("web", 2, {{"sha:b", 600}}));
  EXPECT_EQ(reports().back().state, NodeAppState::accepted) << reports().back().detail;
  EXPECT_EQ(world.registry.digests_started(), (std::vector<std::string>{"sha:a", "sha:b"}));
}

TEST_F(NodeAgentTest, ReturningToTheRunningRevisionAfterAFailedUpdateRestartsNothing) {
  // Goal: after an update failed (the old release still runs), a desired state naming the running revision is
  // acknowledged as healthy without stopping or restarting it, as it is when the node is idle; method: revision 2
  // fails with "disk full", then revision 1 comes back with a newer generation (a rollback).
  config.disk_bytes = 1000;
  make_agent();
  const Release r1 = make_release("web", 1, {{"sha:a", 600}});
  run_to_healthy(1, r1);
  desire(2, make_release("web", 2, {{"sha:b", 600}}));
  ASSERT_EQ(reports().back().state, NodeAppState::failed);

  desire(3, r1);
  EXPECT_EQ(reports().back().state, NodeAppState::healthy);
  EXPECT_EQ(reports().back().generation, 3u);
  EXPECT_TRUE(world.runtime.stops.empty());
  EXPECT_EQ(world.runtime.starts.size(), 1u);
}

// ---- power loss ----------------------------------------------------------------------------------------------------

class NodeAgentCrashTest : public NodeAgentTest {
 protected:
  // v1 runs; v2 is being pulled: layer "b2" complete, layer "c2" cut after 300 of its 1000 bytes by the power loss.
  void crash_in_the_middle_of_v2() {
    make_agent();
    run_to_healthy(1, v1);
    desire(2, v2);
    world.registry.complete("b2");
    world.registry.fail("c2", 300, "power lost");  // the runtime reports what reached the disk, then crashes
    agent->on_crash();
  }
  Release v1 = make_release("app", 1, {{"base", 500}, {"a1", 400}});
  Release v2 = make_release("app", 2, {{"base", 500}, {"b2", 200}, {"c2", 1000}});
};

TEST_F(NodeAgentCrashTest, BootRestartsTheCommittedReleaseAndContinuesTheUpdateAtTheByteOffset) {
  // Goal: what survives a power loss in the middle of an update; method: crash while a layer is half pulled, let
  // a stale timer fire (the runtime lost it, the agent must ignore it), boot, and follow the update to the end.
  config.resume = ResumePolicy::resume_range;
  crash_in_the_middle_of_v2();
  world.timers.advance_by(1000);  // a retry timer armed before the crash must do nothing
  const auto fetches_before_boot = world.registry.all.size();
  agent->on_boot();
  ASSERT_FALSE(world.runtime.starts.empty());
  EXPECT_EQ(world.runtime.starts.back().revision, 1u);            // the committed release runs again
  ASSERT_EQ(world.registry.all.size(), fetches_before_boot + 1);  // only the cut layer, from where it stopped
  EXPECT_EQ(world.registry.all.back().layer.digest, "c2");
  EXPECT_EQ(world.registry.all.back().offset, 300u);
  world.registry.complete("c2");
  agent->on_container_event("app", ContainerEvent::started);
  world.timers.advance_by(v2.ready_s);
  ASSERT_NE(agent->running("app"), nullptr);
  EXPECT_EQ(agent->running("app")->revision, 2u);
  EXPECT_EQ(agent->bytes_wasted(), 0u);
}

TEST_F(NodeAgentCrashTest, ANewAgentGivenTheDiskOfTheOldOneBootsAsTheOldOneReboots) {
  // Goal: disk()/restore() carry exactly what a power loss keeps, so a restarted process is a rebooted node; method:
  // in the middle of v2's pull (b2 complete, c2 at 300 of 1000 bytes), a brand-new agent restored from the old one's
  // disk boots: it starts v1 again, pulls only c2 from byte 300, and ends on v2, as the rebooted one does above.
  config.resume = ResumePolicy::resume_range;
  make_agent();
  run_to_healthy(1, v1);
  desire(2, v2);
  world.registry.complete("b2");
  world.registry.fail("c2", 300, "power lost");
  const NodeAgentDisk disk = agent->disk();
  ASSERT_EQ(disk.apps.count("app"), 1u);
  EXPECT_EQ(disk.apps.at("app").running->revision, 1u);
  EXPECT_EQ(disk.apps.at("app").target->release.revision, 2u);
  EXPECT_EQ(disk.layers.at("c2").have_bytes, 300u);
  EXPECT_EQ(disk.layers.at("b2").have_bytes, 200u);

  make_agent();  // the old agent is gone with its process; a new one knows nothing...
  agent->restore(disk);  // ...until it reads the disk
  EXPECT_EQ(agent->bytes_stored(), 500u + 400u + 200u + 1000u);
  const auto fetches_before_boot = world.registry.all.size();
  agent->on_boot();
  EXPECT_EQ(world.runtime.starts.back().revision, 1u);
  ASSERT_EQ(world.registry.all.size(), fetches_before_boot + 1);
  EXPECT_EQ(world.registry.all.back().layer.digest, "c2");
  EXPECT_EQ(world.registry.all.back().offset, 300u);
  world.registry.complete("c2");
  agent->on_container_event("app", ContainerEvent::started);
  world.timers.advance_by(v2.ready_s);
  ASSERT_NE(agent->running("app"), nullptr);
  EXPECT_EQ(agent->running("app")->revision, 2u);
  EXPECT_EQ(agent->disk().apps.at("app").previous->revision, 1u);

  // A failed update stays failed across the restart: its resend is not tried again.
  desire(3, make_release("app", 3, {{"huge", 1ULL << 40}}));  // does not fit: fails with disk_full
  ASSERT_EQ(reports().back().state, NodeAppState::failed);
  const NodeAgentDisk after_failure = agent->disk();
  EXPECT_TRUE(after_failure.apps.at("app").failed);
  make_agent();
  agent->restore(after_failure);
  agent->on_boot();
  const auto fetches = world.registry.all.size();
  desire(3, make_release("app", 3, {{"huge", 1ULL << 40}}));
  EXPECT_EQ(world.registry.all.size(), fetches);
  EXPECT_EQ(agent->running("app")->revision, 2u);
}

TEST_F(NodeAgentCrashTest, RestartFromZeroDiscardsThePartialLayerAtPowerLoss) {
  // Goal: the restart policy at power loss; method: as above with restart_from_zero: the 300 bytes are wasted
  // and the layer is fetched again from offset 0.
  config.resume = ResumePolicy::restart_from_zero;
  crash_in_the_middle_of_v2();
  agent->on_boot();
  EXPECT_EQ(world.registry.all.back().layer.digest, "c2");
  EXPECT_EQ(world.registry.all.back().offset, 0u);
  EXPECT_EQ(agent->bytes_wasted(), 300u);
}

TEST_F(NodeAgentTest, UndeliveredStatusReportIsSentAgainWithBackOffNewestOnly) {
  // Goal: the orchestrator learns a node's state even when a report is lost; method: fail the delivery of the
  // healthy report and check it is re-sent after retry_initial (+-20 %); a failure of an older report is ignored.
  config.retry_initial_s = 10;
  make_agent();
  Release r = make_release("app", 1, {{"a", 100}});
  run_to_healthy(1, r);
  const auto sent = reports().size();
  StatusReport healthy = reports().back();
  StatusReport accepted = reports().front();
  agent->on_send_failed(accepted);  // superseded by the healthy report: nothing to re-send
  agent->on_send_failed(healthy);
  world.timers.advance_by(7.9);
  EXPECT_EQ(reports().size(), sent);
  world.timers.advance_by(4.2);
  ASSERT_EQ(reports().size(), sent + 1);
  EXPECT_EQ(reports().back().state, NodeAppState::healthy);
  EXPECT_EQ(reports().back().revision, 1u);
}

// ---- verification window, crash loops, rollback policy --------------------------------------------------------------

TEST_F(NodeAgentTest, ExitInsideTheVerificationWindowFailsAndRestoresThePreviousRelease) {
  // Goal: a release must stay up for the verification window before it commits; method: window 60 s, ready 5 s;
  // v2 exits 30 s after readiness: the node reports failed, stops v2 and starts v1 again (local rollback), and
  // keeps v1 as its committed release.
  config.verification_window_s = 60;
  make_agent();
  const Release r1 = make_release("web", 1, {{"sha:a", 100}}, 5);
  const Release r2 = make_release("web", 2, {{"sha:b", 100}}, 5);
  desire(1, r1);
  complete_all_fetches();
  agent->on_container_event("web", ContainerEvent::started);
  world.timers.advance_by(5 + 59.9);
  EXPECT_NE(reports().back().state, NodeAppState::healthy) << "not committed before the window ends";
  world.timers.advance_by(0.2);
  ASSERT_EQ(reports().back().state, NodeAppState::healthy);
  desire(2, r2);
  complete_all_fetches();
  agent->on_container_event("web", ContainerEvent::started);
  world.timers.advance_by(35);  // ready at 5 s, then 30 s into the window
  agent->on_container_event("web", ContainerEvent::exited);
  ASSERT_EQ(reports().back().state, NodeAppState::failed);
  EXPECT_EQ(reports().back().revision, 2u);
  EXPECT_EQ(reports().back().reason, FailureReason::exited_during_verification);
  EXPECT_NE(reports().back().detail.find("verification window"), std::string::npos);
  ASSERT_NE(agent->running("web"), nullptr);
  EXPECT_EQ(agent->running("web")->revision, 1u);
  EXPECT_EQ(world.runtime.starts.back().revision, 1u);
}

TEST_F(NodeAgentTest, CrashingCommittedReleaseRestartsWithDoublingBackOffThatResetsAfterTenMinutes) {
  // Goal: Kubernetes CrashLoopBackOff: restarts after 10, 20, 40 s ... capped at 300 s, reset after 600 s up;
  // method: exit the committed release right after each restart and read the restart times.
  make_agent();
  const Release r1 = make_release("web", 1, {{"sha:a", 100}}, 0);
  run_to_healthy(1, r1);
  std::vector<double> delays;
  for (int i = 0; i < 7; ++i) {
    const double exited_at = world.clock.now();
    const std::size_t starts = world.runtime.starts.size();
    agent->on_container_event("web", ContainerEvent::exited);
    EXPECT_EQ(reports().back().state, NodeAppState::unhealthy);
    while (world.runtime.starts.size() == starts) world.timers.advance_by(1);
    delays.push_back(world.clock.now() - exited_at);
    agent->on_container_event("web", ContainerEvent::started);
    EXPECT_EQ(reports().back().state, NodeAppState::healthy) << "up again";
  }
  EXPECT_EQ(delays, (std::vector<double>{10, 20, 40, 80, 160, 300, 300}));
  world.timers.advance_by(600);  // ten minutes up: the back-off starts over
  const double exited_at = world.clock.now();
  const std::size_t starts = world.runtime.starts.size();
  agent->on_container_event("web", ContainerEvent::exited);
  while (world.runtime.starts.size() == starts) world.timers.advance_by(1);
  EXPECT_EQ(world.clock.now() - exited_at, 10);
  EXPECT_EQ(agent->crash_restarts(), 8u);
}

TEST_F(NodeAgentTest, WithoutLocalRollbackTheFailedReleaseStaysAndRestarts) {
  // Goal: DO_NOTHING keeps the failed release installed; method: v2 crashes on start: failed is reported, v2 is the
  // committed release, and it is started again after the first back-off (10 s).
  config.local_rollback = false;
  make_agent();
  const Release r1 = make_release("web", 1, {{"sha:a", 100}}, 0);
  const Release r2 = make_release("web", 2, {{"sha:b", 100}}, 0);
  run_to_healthy(1, r1);
  desire(2, r2);
  complete_all_fetches();
  agent->on_container_event("web", ContainerEvent::exited);
  const auto all = reports();
  auto failed =
      std::find_if(all.begin(), all.end(), [](const StatusReport& r) { return r.state == NodeAppState::failed; });
  ASSERT_NE(failed, all.end());
  EXPECT_EQ(failed->revision, 2u);
  ASSERT_NE(agent->running("web"), nullptr);
  EXPECT_EQ(agent->running("web")->revision, 2u);
  world.timers.advance_by(10);
  EXPECT_EQ(world.runtime.starts.back().revision, 2u);
}

TEST_F(NodeAgentTest, ARollbackRestartIsNotACrashLoopButABackOffRestartIs) {
  // Goal: the states time series tells a crash loop from a release starting again; method: a local rollback (v2
  // crashes on start, v1 starts again) is not crash looping; v1 exiting is, through its back-off and its restart,
  // until it is up again.
  make_agent();
  const Release r1 = make_release("web", 1, {{"sha:a", 100}}, 0);
  const Release r2 = make_release("web", 2, {{"sha:b", 100}}, 0);
  run_to_healthy(1, r1);
  fail_on_start(2, r2);  // v2 crashes on start: roll back to v1
  EXPECT_FALSE(agent->app_up("web"));
  EXPECT_FALSE(agent->crash_looping("web")) << "v1 is starting again after the rollback";
  agent->on_container_event("web", ContainerEvent::started);
  EXPECT_TRUE(agent->app_up("web"));
  agent->on_container_event("web", ContainerEvent::exited);  // v1 crashes: back-off
  EXPECT_TRUE(agent->crash_looping("web"));
  world.timers.advance_by(10);  // the back-off restart is in progress
  EXPECT_EQ(world.runtime.starts.back().revision, 1u);
  EXPECT_TRUE(agent->crash_looping("web"));
  agent->on_container_event("web", ContainerEvent::started);
  EXPECT_FALSE(agent->crash_looping("web"));
  EXPECT_TRUE(agent->app_up("web"));
}

TEST_F(NodeAgentTest, ALocalRollbackAfterTwoCommittedReleasesRestoresTheLatestOne) {
  // Goal: a deeper history than one committed release: v1 then v2 committed, v3 fails on start; the node must run
  // v2 (the release it ran when v3 arrived), not v1; method: read the running release and the container started.
  make_agent();
  const Release r1 = make_release("web", 1, {{"sha:a", 100}}, 0);
  const Release r2 = make_release("web", 2, {{"sha:b", 100}}, 0);
  const Release r3 = make_release("web", 3, {{"sha:c", 100}}, 0);
  run_to_healthy(1, r1);
  run_to_healthy(2, r2);
  fail_on_start(3, r3);
  ASSERT_NE(agent->running("web"), nullptr);
  EXPECT_EQ(agent->running("web")->revision, 2u);
  EXPECT_EQ(world.runtime.starts.back().revision, 2u);
}

TEST_F(NodeAgentTest, AResendOfAnUpdateThatFailedIsNotTriedAgain) {
  // Goal: the duplicate of an update that already failed (same generation) restarts nothing and pulls nothing;
  // method: v2 fails on start; the same desired state arrives again; no transfer and no container start follow, and
  // the node says again that it failed.
  make_agent();
  const Release r1 = make_release("web", 1, {{"sha:a", 100}}, 0);
  const Release r2 = make_release("web", 2, {{"sha:b", 100}}, 0);
  run_to_healthy(1, r1);
  fail_on_start(2, r2);
  agent->on_container_event("web", ContainerEvent::started);  // v1 is back up
  const std::size_t starts = world.runtime.starts.size();
  const unsigned container_starts = agent->container_starts();
  desire(2, r2);
  EXPECT_TRUE(world.registry.active().empty()) << "nothing pulled again";
  EXPECT_EQ(world.runtime.starts.size(), starts) << "nothing started again";
  EXPECT_EQ(agent->container_starts(), container_starts);
  EXPECT_EQ(agent->running("web")->revision, 1u);
  EXPECT_EQ(reports().back().state, NodeAppState::failed);
  EXPECT_EQ(reports().back().revision, 2u);
}

TEST_F(NodeAgentTest, APowerLossDoesNotTurnAFailedUpdateIntoAHealthyOne) {
  // Goal: a power loss keeps what the agent knew of an update that failed; method: without local rollback v2 fails
  // on start (it stays the committed release, restarting with back-off); the power goes and comes back: at boot the
  // node restarts v2 and must not say v2 is healthy before it has even started. (Killed mutant:
  // agent-crash-forgets-failed.)
  config.local_rollback = false;
  make_agent();
  const Release r1 = make_release("web", 1, {{"sha:a", 100}}, 0);
  const Release r2 = make_release("web", 2, {{"sha:b", 100}}, 0);
  run_to_healthy(1, r1);
  desire(2, r2);
  complete_all_fetches();
  agent->on_container_event("web", ContainerEvent::exited);
  const auto so_far = reports();
  ASSERT_TRUE(std::any_of(so_far.begin(), so_far.end(), [](const StatusReport& r) {
    return r.state == NodeAppState::failed && r.revision == 2;
  }));
  const std::size_t before = reports().size();
  agent->on_crash();
  agent->on_boot();
  const auto all = reports();
  for (std::size_t i = before; i < all.size(); ++i)
    EXPECT_NE(all[i].state, NodeAppState::healthy) << "report " << i << " says revision " << all[i].revision
                                                   << " is healthy right after the boot";
}

}  // namespace
}  // namespace fleetsim::agents
