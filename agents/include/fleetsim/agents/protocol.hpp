// The wire vocabulary between the orchestrator and the node agents. Plain data only: both the simulator and
// a real runtime carry these values; wire_size() is what a message costs on a link.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace fleetsim::agents {

using Time = double;  // seconds, read from the Clock port; never from the system
using NodeId = std::uint32_t;
using Revision = std::uint32_t;

// One content-addressed image layer.
struct Layer {
  std::string digest;
  std::uint64_t size_bytes = 0;
};

// What a node must run for one app: a numbered revision of the app with its image layers.
struct Release {
  std::string app;
  Revision revision = 0;
  std::string version;  // the human name ("2.4.1")
  std::vector<Layer> layers;
  double start_s = 0;  // time from "start" to the process running
  double ready_s = 0;  // time from running to the first passing readiness probe
  // What one instance needs of a node: "cpu" (cores), "memory" and "gpu_memory" (bytes), "gpu" (devices).
  std::map<std::string, double>
  requires;
  std::uint64_t total_bytes() const;
};

// Orchestrator -> node: the desired state of one app. generation grows with every change the orchestrator
// makes for that app, so a node can ignore a stale message delivered late.
struct DesiredState {
  std::uint64_t generation = 0;
  Release release;
  bool rollback = false;  // sent by a rollback: the one case where a node may be told to go to an older revision
};

enum class NodeAppState : std::uint8_t {
  accepted,    // the node has the desired state and will act on it
  downloaded,  // every layer of the release is present locally
  healthy,     // the release runs and passed readiness
  failed,      // the node gave up on this revision (detail says why)
  unhealthy,   // a release that was healthy stopped (its process exited); it is restarted with back-off
};
const char* to_string(NodeAppState state);

// Why a node did not end an operation on the new release: a stable code for reports and metrics (the detail text
// beside it says the particulars: sizes, the layer, the last error).
enum class FailureReason : std::uint8_t {
  none,
  disk_full,                   // the layers do not fit the disk budget, even after garbage collection
  pull_failed,                 // a layer's pull failed max_fetch_attempts times
  exited_before_ready,         // the new release's process exited before its readiness
  exited_during_verification,  // ... or during the verification window after it
  unhealthy_after_healthy,     // it was healthy, then its process exited before the operation ended
  does_not_fit,                // the node lacks a resource the release needs (GPU, memory): never started
  deadline,                    // not healthy within the operation's node deadline
  superseded,                  // a newer operation for the app replaced this one
  aborted,                     // the operation was aborted before the node was told
};
const char* to_string(FailureReason reason);

// Node -> orchestrator: progress of one node on one revision of one app.
struct StatusReport {
  NodeId node = 0;
  std::string app;
  Revision revision = 0;
  std::uint64_t generation = 0;
  NodeAppState state = NodeAppState::accepted;
  std::string detail;
  FailureReason reason = FailureReason::none;  // with state failed (or unhealthy)
};

// Node -> orchestrator: "what should I run?" (jittered polling, beside the push notifications). The orchestrator
// answers with the desired state of every app placed on the node that the node may hear of now.
struct Poll {
  NodeId node = 0;
  std::map<std::string, std::uint64_t> generations;  // per app, the newest generation the node has accepted
};

using Message = std::variant<DesiredState, StatusReport, Poll>;

// Bytes a message occupies on the wire (headers, TLS framing and a JSON-ish body); used by every transport.
std::uint64_t wire_size(const Message& message);

}  // namespace fleetsim::agents
