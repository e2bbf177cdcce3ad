// The ports through which the agents see the world. The agents never include SimGrid or Asio and never read a
// clock or a random source of their own: a runtime (sim/ on SimGrid, or a real one on sockets) implements these
// interfaces and drives the agents by calling their on_* handlers. Every port call returns at once; results come
// back later as handler calls.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "fleetsim/agents/protocol.hpp"

namespace fleetsim::agents {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Time now() const = 0;
};

class Random {
 public:
  virtual ~Random() = default;
  // Uniform in [0, 1); the runtime derives it from (seed, entity, purpose).
  virtual double uniform01() = 0;
};

using TimerId = std::uint64_t;
class Timers {
 public:
  virtual ~Timers() = default;
  // Arms a one-shot timer; the runtime calls the owner's on_timer(id) after delay_s unless it was cancelled.
  virtual TimerId set_timer(double delay_s) = 0;
  virtual void cancel_timer(TimerId id) = 0;
};

// Control messages. A node sends to its orchestrator; the orchestrator sends to a node.
class NodeChannel {
 public:
  virtual ~NodeChannel() = default;
  virtual void send_to_orchestrator(const Message& message) = 0;
};
class OrchestratorChannel {
 public:
  virtual ~OrchestratorChannel() = default;
  virtual void send_to_node(NodeId node, const Message& message) = 0;
};

// Bulk transfers of layer bytes from the registry. The runtime calls on_fetch_done with how many bytes arrived;
// a failed transfer (link down, registry gone) arrives with ok = false and the bytes received before it failed.
using TransferId = std::uint64_t;
// A runtime whose store is real (net/: files on disk, verified by digest) also says how many bytes of the layer it
// holds after the transfer; the agent takes that over its own count (0 after a digest mismatch threw them away).
struct FetchResult {
  bool ok = false;
  std::uint64_t bytes_received = 0;
  std::string error;
  std::optional<std::uint64_t> stored_bytes;
};
class Registry {
 public:
  virtual ~Registry() = default;
  // Fetches bytes [offset, layer.size_bytes) of a layer (HTTP Range when offset > 0).
  virtual TransferId start_fetch(const Layer& layer, std::uint64_t offset) = 0;
  virtual void cancel_fetch(TransferId id) = 0;
  // Garbage collection: the agent no longer keeps this layer (complete or partial); a real store deletes it.
  virtual void remove_layer(const std::string& digest) = 0;
};

// The container engine of a node. After start(), the runtime calls on_container_event(app, started) once the
// process runs, or exited if it dies; stop() is immediate.
enum class ContainerEvent : std::uint8_t { started, exited };
class ContainerRuntime {
 public:
  virtual ~ContainerRuntime() = default;
  virtual void start_container(const Release& release) = 0;
  virtual void stop_container(const std::string& app) = 0;
};

}  // namespace fleetsim::agents
