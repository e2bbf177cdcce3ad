// The node agent: learns the desired state of each app, pulls the missing layers from the registry, replaces the
// running container (download first, then stop the old one and start the new one), and reports progress.
// Sans-IO: it acts only through NodeAgentPorts and is driven by its runtime through the on_* handlers.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>

#include "fleetsim/agents/ports.hpp"
#include "fleetsim/agents/protocol.hpp"

namespace fleetsim::agents {

enum class ResumePolicy : std::uint8_t {
  resume_range,       // an interrupted layer continues at its byte offset (HTTP Range; containerd keeps partials)
  restart_from_zero,  // an interrupted layer starts over (classic dockerd discards partial content)
};

struct NodeAgentConfig {
  NodeId id = 0;
  std::uint64_t disk_bytes = 0;           // budget for stored layers
  unsigned max_concurrent_downloads = 3;  // dockerd's default max-concurrent-downloads
  double notify_jitter_s = 0;             // random delay before acting on a new desired state (herd avoidance)
  ResumePolicy resume = ResumePolicy::resume_range;
  unsigned max_fetch_attempts = 5;  // per layer and update, as dockerd --max-download-attempts
  double retry_initial_s = 10;      // back-off before the first retry; doubles up to retry_max_s
  double retry_max_s = 300;
  // A new release must stay up this long after it is ready before the update commits (0: commits when ready).
  // Exiting within the window fails the update.
  double verification_window_s = 0;
  // A failed update restores the previous release on the node (Greengrass failureHandlingPolicy ROLLBACK); false:
  // the new release stays installed and restarts with back-off (DO_NOTHING).
  bool local_rollback = true;
  // A committed release whose process exits restarts after a back-off doubling from restart_initial_s to
  // restart_max_s, reset once it has run restart_reset_s (Kubernetes CrashLoopBackOff: 10 s, 5 min, 10 min).
  double restart_initial_s = 10;
  double restart_max_s = 300;
  double restart_reset_s = 600;
  // Polling for the desired state beside push notifications (Greengrass 15 s, balena 15 min, Mender 30 min):
  // every poll_interval_s, each interval drawn uniformly within +-poll_jitter of it (0: no polling).
  double poll_interval_s = 0;
  double poll_jitter = 0.2;
};

// What a node keeps on disk: exactly what on_crash() keeps (the committed and previous release of each app, the
// desired state it accepted, whether that update failed, and the layers stored). A real runtime saves it after every
// handler and gives it to a new agent (restore, then on_boot) when its process starts again: a restarted process is
// a rebooted node.
struct NodeAgentDisk {
  struct App {
    std::optional<Release> running;
    std::optional<Release> previous;
    std::optional<DesiredState> target;
    bool failed = false;  // the target's update failed: a resend of it is not tried again
    std::uint64_t last_generation = 0;
  };
  struct Layer {
    std::uint64_t size_bytes = 0;
    std::uint64_t have_bytes = 0;
  };
  std::map<std::string, App> apps;
  std::map<std::string, Layer> layers;
};

struct NodeAgentPorts {
  Clock& clock;
  Random& random;
  Timers& timers;
  NodeChannel& channel;
  Registry& registry;
  ContainerRuntime& runtime;
};

class NodeAgent {
 public:
  NodeAgent(const NodeAgentConfig& config, NodeAgentPorts ports);

  // Starts the agent's own clockwork (polling). The runtime calls it once, when the node comes up.
  void start();
  void on_message(const Message& message);
  void on_fetch_done(TransferId id, const FetchResult& result);
  void on_timer(TimerId id);
  void on_container_event(const std::string& app, ContainerEvent event);
  // The node loses power: everything in memory is gone (transfers, timers, the update in progress), what is on disk
  // stays: complete layers, partial layers if the policy resumes, the committed and previous releases, and the
  // last desired state accepted. The runtime has already stopped the containers and dropped the transfers.
  void on_crash();
  // A message this agent sent could not be delivered (the connection failed): status reports are sent again
  // with back-off, the newest one per app only.
  void on_send_failed(const Message& message);
  // Something else filled the disk (or freed it): the budget for layers changes; stored layers stay.
  void set_disk_budget(std::uint64_t bytes) { config_.disk_bytes = bytes; }
  std::uint64_t disk_budget() const { return config_.disk_bytes; }
  // The node is back: the committed release starts again, and an update that was in progress continues.
  void on_boot();
  // What is on disk now; and, for a new agent before on_boot() (instead of start()), what was on disk.
  NodeAgentDisk disk() const;
  void restore(const NodeAgentDisk& disk);

  // What the node runs now for an app (nullptr if nothing is committed).
  const Release* running(const std::string& app) const;
  bool has_committed_release() const;
  std::uint64_t bytes_stored() const { return bytes_stored_; }
  std::uint64_t bytes_fetched() const { return bytes_fetched_; }
  // Bytes received and then thrown away because a pull was interrupted and restarted from zero.
  std::uint64_t bytes_wasted() const { return bytes_wasted_; }
  unsigned container_starts() const { return container_starts_; }
  // Times a committed release's process exited and was restarted (crash loops).
  unsigned crash_restarts() const { return crash_restarts_; }
  // Whether the app's committed release is up now (not between an exit and its restart).
  bool app_up(const std::string& app) const;
  // Whether the committed release is down because its process exited: waiting for its back-off restart, or
  // restarting after one (a crash loop). A release that is down because it is starting again after a local rollback
  // or a boot is not.
  bool crash_looping(const std::string& app) const;
  // The release whose process the node runs or is starting for the app: the new one while it starts and is
  // verified, else the committed one (nullptr: none).
  const Release* active_release(const std::string& app) const;
  // Whether an update of the app is in progress (waiting, downloading, starting or being verified).
  bool updating(const std::string& app) const;
  NodeId id() const { return config_.id; }

 private:
  enum class Phase : std::uint8_t { idle, waiting_jitter, downloading, starting, verifying, failed };
  struct StoredLayer {
    std::uint64_t size_bytes = 0;
    std::uint64_t have_bytes = 0;
    bool complete() const { return have_bytes == size_bytes; }
  };
  struct AppSlot {
    std::optional<Release> running;   // committed release
    std::optional<Release> previous;  // what ran before it (kept for rollback)
    std::optional<DesiredState> target;
    Phase phase = Phase::idle;
    std::uint64_t last_generation = 0;
    TimerId phase_timer = 0;
    std::map<std::string, unsigned> attempts;  // failed fetches per layer digest, this update
    Time up_since = -1;                        // when the committed release's process last started (-1: down)
    unsigned crash_streak = 0;                 // exits without restart_reset_s of uptime between them
    TimerId restart_timer = 0;
    bool crash_restart = false;  // the start in progress is a back-off restart after an exit
  };
  struct ActiveFetch {
    std::string app;
    std::string digest;
  };
  enum class TimerPurpose : std::uint8_t { jitter, retry, ready, report, verified, restart, poll };
  void arm_poll(bool first);
  struct PendingTimer {
    TimerPurpose purpose;
    std::string app;
    std::string digest;  // for retry
  };

  void accept(const DesiredState& desired);
  void abandon_update(AppSlot& slot);
  void begin_download(const std::string& app);
  void enqueue_fetch(const std::string& app, const std::string& digest);
  void pump_downloads();
  void maybe_downloaded(const std::string& app);
  void commit(const std::string& app);
  void fail(const std::string& app, FailureReason reason, const std::string& detail);
  void report(const std::string& app, const Release& release, std::uint64_t generation, NodeAppState state,
              std::string detail = {}, FailureReason reason = FailureReason::none);
  bool all_layers_present(const Release& release) const;
  bool layer_in_use(const std::string& digest) const;
  bool make_room(std::uint64_t needed);
  TimerId arm(double delay_s, PendingTimer timer);

  NodeAgentConfig config_;
  NodeAgentPorts ports_;
  std::map<std::string, AppSlot> apps_;
  std::map<std::string, StoredLayer> layers_;
  std::deque<ActiveFetch> queued_fetches_;
  std::map<TransferId, ActiveFetch> active_fetches_;
  std::map<TimerId, PendingTimer> timers_;
  std::uint64_t bytes_stored_ = 0;  // bytes of layers on disk, partial ones included
  std::uint64_t bytes_fetched_ = 0;
  std::uint64_t bytes_wasted_ = 0;
  unsigned container_starts_ = 0;
  unsigned crash_restarts_ = 0;
  void crashed(const std::string& app);
  std::map<std::string, StatusReport> last_report_;  // per app, the newest report sent
  std::map<std::string, unsigned> report_attempts_;  // per app, failed deliveries of that report
  std::map<std::string, TimerId> report_timer_;      // per app, a pending re-send
};

}  // namespace fleetsim::agents
