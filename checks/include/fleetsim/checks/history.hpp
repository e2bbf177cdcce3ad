// The history of a run, as the checks read it: what the fleet is made of, and what happened in it, as plain records
// with simulated (or, for a real run, measured) times. Whichever runtime produced a run (SimGrid in sim/, or a real
// one over sockets) records the same records; checks/ judges them without knowing which. Nothing here includes
// SimGrid, Lua or Asio.
//
// A runtime feeds records to the checks as they happen (InvariantChecks::observe), so that a long run keeps no
// history in memory; a test, or a tool re-reading a run, hands over a whole History (check_history).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "fleetsim/agents/orchestrator.hpp"
#include "fleetsim/agents/protocol.hpp"
#include "fleetsim/agents/telemetry.hpp"

namespace fleetsim::checks {

// ---- what the fleet is made of (fixed for a run) ----------------------------------------------------------------

struct NodeLayout {
  std::string name;              // "<site>/n<k>"
  std::size_t site = 0;          // index into FleetLayout::sites
  std::uint64_t disk_bytes = 0;  // the node's disk: the layer store never exceeds it
  bool local_rollback = true;    // the agent restores the previous release after a failed update
};

// One stream of a site's telemetry bus, with the limits the broker must keep.
struct StreamLayout {
  std::string name;
  std::uint64_t max_bytes = 0;  // 0: no byte bound
  std::uint64_t max_msgs = 0;   // 0: no message bound
  double ttl_s = 0;             // 0: none
  bool disk = false;            // stored on disk (else in memory)
  double fsync_interval_s = 0;  // disk streams: how much a crash may lose (0: nothing)
};

struct BusLayout {
  std::size_t broker_node = 0;        // the node whose crash crashes the broker (violations are reported on it)
  double batch_interval_s = 0;        // how often sensors hand over readings
  double upload_cap_bytes_per_s = 0;  // the broker's own pacing (0: none)
  std::vector<StreamLayout> streams;  // indexed as the broker's streams
};

struct SiteLayout {
  std::string name;
  std::optional<BusLayout> bus;  // a site with a telemetry bus
};

struct FleetLayout {
  std::vector<NodeLayout> nodes;
  std::vector<SiteLayout> sites;
};

// ---- what happened (records, in time order) ------------------------------------------------------------------

// A node received a desired state and its agent handled it.
struct DesiredStateHandled {
  double t = 0;
  std::size_t node = 0;
  std::string app;
  std::uint64_t generation = 0;
  agents::Revision revision = 0;
  bool rollback = false;           // the message says it is a rollback
  agents::Revision committed = 0;  // the revision the node had committed when it arrived (0: none)
  bool already_applied = false;    // the node already ran this revision and was not updating
  bool started_container = false;  // handling it started a container
};

// A node sent a status report; running is the revision of the app it runs at that instant (0: none).
struct StatusSent {
  double t = 0;
  std::size_t node = 0;
  std::string app;
  std::uint64_t generation = 0;
  agents::Revision revision = 0;
  agents::NodeAppState state = agents::NodeAppState::accepted;
  agents::Revision running = 0;
};

// The bytes a node's layer store holds, recorded whenever it changes.
struct DiskUsage {
  double t = 0;
  std::size_t node = 0;
  std::uint64_t stored_bytes = 0;
};

// A node lost power (boot = false) or came back (boot = true); has_committed tells whether it had (at a crash) or
// has (after a boot) a committed release to run.
struct PowerEvent {
  double t = 0;
  std::size_t node = 0;
  bool boot = false;
  bool has_committed = false;
};

// Sensors handed readings to a site's broker: the stream's cumulative production and its buffer afterwards.
struct TelemetryProduced {
  double t = 0;
  std::size_t site = 0;
  std::size_t stream = 0;
  std::uint64_t produced_total = 0;
  std::uint64_t buffered_bytes = 0;
  std::uint64_t buffered_msgs = 0;
};

// A broker started uploading a batch of wire_bytes.
struct BatchSent {
  double t = 0;
  std::size_t site = 0;
  std::uint64_t wire_bytes = 0;
};

// A batch arrived at the cloud: what it carried, and which parts the cloud accepted (the rest were duplicates by
// sequence number).
struct BatchArrived {
  double t = 0;
  std::size_t site = 0;
  double sent_at = 0;
  std::vector<agents::telemetry::MessageRun> runs;
  std::vector<agents::telemetry::MessageRun> accepted;
};

// The broker learnt a batch's fate: acknowledged (delivered = true) or lost on the way back.
struct BatchAcknowledged {
  double t = 0;
  std::size_t site = 0;
  std::vector<agents::telemetry::MessageRun> runs;
  bool delivered = false;
};

// A broker crashed: per stream, what it lost and what it held just before.
struct BrokerCrashed {
  double t = 0;
  std::size_t site = 0;
  std::size_t stream = 0;
  std::uint64_t lost = 0;
  std::uint64_t buffered_before = 0;
};

using Record = std::variant<DesiredStateHandled, StatusSent, DiskUsage, PowerEvent, TelemetryProduced, BatchSent,
                            BatchArrived, BatchAcknowledged, BrokerCrashed>;

// ---- how the run ended ---------------------------------------------------------------------------------------

// One operation as the orchestrator recorded it, with the name and abort rule the scenario gave it.
struct OperationRecord {
  std::string name;
  agents::Operation op;
  double abort_threshold_percent = 0;  // 0: no abort rule
  std::uint64_t abort_min_executed = 1;
  agents::Command::FailureType abort_failure_type = agents::Command::FailureType::all;
};

// One telemetry stream at the end of the run: the broker's counts, its buffer walked run by run, and what the cloud
// accepted.
struct StreamAtEnd {
  std::size_t site = 0;
  std::size_t stream = 0;
  std::uint64_t produced = 0;
  std::uint64_t broker_delivered = 0;
  std::uint64_t buffered_walked = 0;  // the messages in the buffer's runs, added up
  std::uint64_t buffered_count = 0;   // the broker's own count of buffered messages
  std::uint64_t dropped = 0;
  std::uint64_t cloud_accepted = 0;
};

struct RunEnd {
  double t = 0;
  bool hit_max_time = false;  // the run stopped at simulation.max_time: convergence is not judged
  bool interrupted = false;   // stopped early (Ctrl-C): operations still running are not judged on their outcome
  std::vector<OperationRecord> operations;
  std::vector<StreamAtEnd> streams;
};

// A whole run, for checking after the fact.
struct History {
  FleetLayout fleet;
  std::vector<Record> records;
  RunEnd end;
};

}  // namespace fleetsim::checks
