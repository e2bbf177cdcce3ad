// The orchestrator: holds the desired state per app with numbered revisions, tells the targeted nodes what to
// run, collects their status and decides when an operation (a deploy or a rollout) has finished.
// Sans-IO: it acts only through OrchestratorPorts and is driven through the on_* handlers and the commands.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fleetsim/agents/ports.hpp"
#include "fleetsim/agents/protocol.hpp"

namespace fleetsim::agents {

// What the orchestrator knows of a node from its registration.
struct NodeInfo {
  NodeId id = 0;
  std::string name;
  std::string site;
  std::map<std::string, std::string> labels;
  // What the node offers apps: same keys as Release::requires ("cpu", "memory", "gpu", "gpu_memory").
  std::map<std::string, double> capacity;
};

// How an operation reaches its targets. all_at_once: every target is notified when the operation starts.
// batches: the targets are notified one batch at a time (Avassa deploy-to-sites, Mender phases); a batch starts
// when every node of the previous one is terminal and the batch has then held for healthy_time_s.
// canary (Argo Rollouts / Flagger style): a canary set first (canary_size nodes, or canary_percent of the targets
// rounded up, spread evenly over them, or the nodes whose labels match canary_selector), held for canary_time_s;
// then the rest in batches of batch_size / batch_percent (one batch if neither) with healthy_time_s between them.
// The abort rule is the failure-threshold gate.
// rolling (Kubernetes DaemonSet / Deployment RollingUpdate, per site): within every site at once, at most
// max_unavailable + max_surge of its nodes are updating at any instant (a percentage of the site's targets:
// max_unavailable rounds down, max_surge rounds up, as Kubernetes rounds; if both come to 0, max_unavailable is 1);
// each node that reaches an outcome lets the next one of its site start.
struct Strategy {
  enum class Kind : std::uint8_t { all_at_once, batches, exponential, canary, rolling } kind = Kind::all_at_once;
  std::size_t batch_size = 0;         // nodes per batch, or
  double batch_percent = 0;           // a share of the targets per batch, rounded up, at least one node, or
  std::size_t sites_in_parallel = 0;  // every node of this many sites per batch
  double healthy_time_s = 0;          // how long a completed batch must hold before the next one starts
  // exponential (AWS IoT Jobs exponentialRate): notify base_per_minute nodes a minute, evenly spaced; each time
  // increase_after more nodes were notified (or succeeded), multiply the rate by increment_factor, up to
  // maximum_per_minute.
  double base_per_minute = 0;
  double increment_factor = 1;
  std::size_t increase_after = 0;
  bool count_succeeded = false;   // the criterion: succeeded nodes instead of notified ones
  double maximum_per_minute = 0;  // 0: no maximum
  std::size_t canary_size = 0;
  double canary_percent = 0;
  std::map<std::string, std::string> canary_selector;
  double canary_time_s = 0;
  std::size_t max_unavailable = 0;
  double max_unavailable_percent = 0;
  std::size_t max_surge = 0;
  double max_surge_percent = 0;
  // The rolling window of a site with n targets: max_unavailable + max_surge after Kubernetes' rounding.
  std::size_t rolling_window(std::size_t n) const;
  // How long batch w must hold, once complete, before the next one starts (or the operation ends after the last).
  double gate_after(std::size_t w) const { return kind == Kind::canary && w == 0 ? canary_time_s : healthy_time_s; }
};

// Deploy (first placement) or roll out (new revision to where the app runs). A deploy targets the nodes whose
// labels match every entry of selector; a rollout targets the nodes the app is currently placed on.
struct Command {
  enum class Kind : std::uint8_t { deploy, rollout } kind = Kind::deploy;
  Release release;  // revision is assigned by the orchestrator
  std::map<std::string, std::string> selector;
  Strategy strategy;
  double node_deadline_s = 0;  // 0 = none; a node not healthy this long after notification is timed out
  // Abort rule (AWS IoT Jobs AbortCriteria, failure type ALL): once at least abort_min_executed targets are
  // terminal, abort when failed + timed out reach abort_threshold_percent of them. 0: no rule.
  double abort_threshold_percent = 0;
  std::size_t abort_min_executed = 1;
  // Which outcomes count toward the threshold (AWS failureType): failed, timed_out, or all (both).
  enum class FailureType : std::uint8_t { all, failed, timed_out } abort_failure_type = FailureType::all;
  // After an abort: none (stop notifying, as Kubernetes and AWS do) or revert_all (every node the operation
  // notified goes back to the previous revision, in a rollback operation).
  enum class Rollback : std::uint8_t { none, revert_all } rollback = Rollback::none;
  bool is_rollback = false;  // set by the orchestrator on the operations it creates to roll back
};

// Terminal outcomes, as AWS IoT Jobs names them.
enum class NodeOutcome : std::uint8_t { pending, succeeded, failed, timed_out, canceled };
const char* to_string(NodeOutcome outcome);

struct NodeProgress {
  NodeId node = 0;
  NodeOutcome outcome = NodeOutcome::pending;
  Time notified_at = -1;
  Time last_report_at = -1;
  Time finished_at = -1;   // when it reached its (latest) terminal outcome
  Time succeeded_at = -1;  // when it reported healthy (it may turn failed later, if it stops being healthy)
  FailureReason reason = FailureReason::none;  // with outcome failed, timed_out or canceled
  std::string detail;
};

struct Operation {
  std::uint32_t id = 0;
  Command::Kind kind = Command::Kind::deploy;
  std::string app;
  Revision from_revision = 0;  // 0: nothing before
  Revision to_revision = 0;
  std::uint64_t generation = 0;  // of the app's desired state this operation sends
  std::string version;           // the release's human name
  Time started_at = 0;
  std::optional<Time> finished_at;
  std::vector<NodeProgress> targets;  // in notification order (notified_at < 0: not yet notified)
  Strategy strategy;
  // Batches: targets [wave_begin[w], wave_begin[w + 1]) form batch w (the last one ends at targets.size()).
  std::vector<std::size_t> wave_begin;
  std::vector<Time> wave_started_at;    // when each batch was notified
  std::vector<Time> wave_completed_at;  // when its last node reached a terminal outcome
  std::size_t current_wave = 0;
  std::size_t wave_scan = 0;  // first target of the current batch not yet seen terminal
  // rolling: per site, its targets (indices) in order, the next to notify, and the window
  struct SiteRoll {
    std::vector<std::size_t> targets;
    std::size_t next = 0;
    std::size_t window = 1;
  };
  std::map<std::string, SiteRoll> rolling;
  bool rolling_started = false;
  Time gate_at = -1;              // when the current completed batch's healthy time ends
  bool last_gate_passed = false;  // batches: the last batch held its healthy time too
  // exponential: the next target to notify, the current rate, and the criterion count at the last increase
  std::size_t next_target = 0;
  double rate_per_minute = 0;
  std::size_t count_at_increase = 0;
  std::size_t succeeded = 0, failed = 0, timed_out = 0, canceled = 0;
  std::size_t terminal() const { return succeeded + failed + timed_out + canceled; }
  bool finished() const { return finished_at.has_value(); }
  std::optional<Time> aborted_at;  // when the abort rule fired
  bool is_rollback = false;
  std::optional<std::uint32_t> rolled_back_by;  // the rollback operation started by this one's abort
  // Nodes the selector matched but that lack the resources the release needs (deploy: not placed; rollout: the
  // target fails at once), with the reason: reported, never overfilled.
  std::vector<std::pair<NodeId, std::string>> unplaced;
};

struct OrchestratorPorts {
  Clock& clock;
  Timers& timers;
  OrchestratorChannel& channel;
};

class Orchestrator {
 public:
  Orchestrator(std::vector<NodeInfo> inventory, OrchestratorPorts ports);

  // Starts an operation and returns its id. Errors (unknown app for a rollout) come back as an operation that
  // finishes at once with no targets and error set.
  std::uint32_t submit(Command command);

  // An operator stops an operation in progress (as the abort rule does): targets not yet told are canceled, the ones
  // told finish on their own; with revert, every node it told goes back to the revision before it, in a rollback
  // operation. Returns why it cannot (no such operation, finished, already aborted, nothing to go back to).
  std::optional<std::string> abort(std::uint32_t id, bool revert);
  // An operator undoes a finished operation: every node it told goes back to the revision before it, in a rollback
  // operation. Only while that operation's revision is still the app's desired one.
  std::optional<std::string> revert(std::uint32_t id);

  void on_message(const Message& message);
  void on_timer(TimerId id);
  // A message to a node could not be delivered (unreachable, powered off): the current desired state is sent
  // again with back-off (10 s doubling to 5 min) while the node is still pending in the operation.
  void on_send_failed(NodeId node, const Message& message);
  // The orchestrator process restarted: its state came back from its store, its timers did not. It re-arms the
  // node deadlines and sends the current desired state again to every node still pending (a full resync).
  void on_restart();
  // A runtime with connections (net/: the control protocol over TCP) says a node's connection is (re)established: a
  // desired state it was told and has not settled is sent again at once, not after the send-failure back-off (the
  // resync a KubeEdge edge node gets when it reconnects to its cloud hub). The simulator has no connections and never
  // calls it.
  void on_node_connected(NodeId node);

  // Called once for every operation when every target reached a terminal outcome.
  void on_operation_finished(std::function<void(const Operation&)> callback) {
    operation_finished_ = std::move(callback);
  }

  const std::vector<Operation>& operations() const { return operations_; }
  bool all_operations_finished() const;
  std::optional<Revision> desired_revision(const std::string& app) const;

 private:
  struct AppState {
    Revision next_revision = 1;
    std::uint64_t generation = 0;
    std::optional<Release> desired;
    std::vector<NodeId> placement;           // nodes the app is placed on, in inventory order
    std::optional<std::uint32_t> operation;  // the operation in progress
  };
  struct Deadline {
    Time at;
    std::uint32_t operation;
    std::size_t target_index;
  };

  void finish_target(Operation& op, NodeProgress& target, NodeOutcome outcome, FailureReason reason,
                     std::string detail);
  void maybe_finish(Operation& op);
  void arm_deadline_timer();
  void start_wave(Operation& op);
  void on_wave_progress(Operation& op);
  void notify_target(Operation& op, std::size_t index);
  void pace(Operation& op);
  void roll_site(Operation& op, const std::string& site);
  void check_abort(Operation& op);
  void abort_now(Operation& op, bool revert);
  void run_pending_reverts();
  void revert_all(std::uint32_t aborted_id);

  void tell(NodeId node, const DesiredState& desired);
  void on_poll(const Poll& poll);
  struct Told {
    std::uint64_t generation = 0;
    Revision revision = 0;
    bool rollback = false;
  };
  std::map<std::pair<NodeId, std::string>, Told> told_;  // the newest desired state sent to each node, per app
  // Whether `release` fits on the node beside the other apps placed there; else why not.
  std::optional<std::string> misfit(NodeId node, const Release& release) const;
  std::vector<NodeInfo> inventory_;
  std::map<NodeId, std::size_t> index_of_node_;
  OrchestratorPorts ports_;
  std::map<std::string, AppState> apps_;
  std::vector<Operation> operations_;
  // index of each (operation, node) target for status lookups
  std::map<std::pair<std::uint32_t, NodeId>, std::size_t> target_index_;
  std::deque<Deadline> deadlines_;  // ascending, since nodes are notified in time order
  TimerId deadline_timer_ = 0;
  Time deadline_timer_at_ = -1;
  std::function<void(const Operation&)> operation_finished_;
  struct Resend {
    NodeId node;
    std::string app;
  };
  std::map<TimerId, Resend> resend_timers_;
  std::map<TimerId, std::uint32_t> gate_timers_;     // healthy-time gates, by operation
  std::map<TimerId, std::uint32_t> pace_timers_;     // exponential rollouts: the next notification, by operation
  std::map<std::uint32_t, double> node_deadline_s_;  // per operation
  std::map<std::uint32_t, Command> commands_;        // per operation: what was asked (abort rule, rollback)
  std::deque<std::uint32_t> pending_reverts_;        // aborted operations whose revert_all is still to start
  std::map<std::string, std::map<Revision, Release>> history_;  // per app: every revision, for rollbacks
  std::map<std::pair<NodeId, std::string>, unsigned> resend_attempts_;
  std::deque<std::uint32_t> finished_to_notify_;  // callbacks run at the end of each entry point
  bool notifying_ = false;
  void notify_finished();
};

}  // namespace fleetsim::agents
