#include "fleetsim/agents/protocol.hpp"

namespace fleetsim::agents {

std::uint64_t Release::total_bytes() const {
  std::uint64_t total = 0;
  for (const auto& layer : layers) total += layer.size_bytes;
  return total;
}

const char* to_string(NodeAppState state) {
  switch (state) {
    case NodeAppState::accepted:
      return "accepted";
    case NodeAppState::downloaded:
      return "downloaded";
    case NodeAppState::healthy:
      return "healthy";
    case NodeAppState::failed:
      return "failed";
    case NodeAppState::unhealthy:
      return "unhealthy";
  }
  return "?";
}

const char* to_string(FailureReason reason) {
  switch (reason) {
    case FailureReason::none:
      return "";
    case FailureReason::disk_full:
      return "disk_full";
    case FailureReason::pull_failed:
      return "pull_failed";
    case FailureReason::exited_before_ready:
      return "exited_before_ready";
    case FailureReason::exited_during_verification:
      return "exited_during_verification";
    case FailureReason::unhealthy_after_healthy:
      return "unhealthy_after_healthy";
    case FailureReason::does_not_fit:
      return "does_not_fit";
    case FailureReason::deadline:
      return "deadline";
    case FailureReason::superseded:
      return "superseded";
    case FailureReason::aborted:
      return "aborted";
  }
  return "?";
}

namespace {
// HTTP/2 + TLS framing and headers of one request/response pair on an established connection.
constexpr std::uint64_t kEnvelopeBytes = 400;
// A manifest entry per layer: digest, media type, size.
constexpr std::uint64_t kLayerEntryBytes = 160;

struct WireSize {
  std::uint64_t operator()(const DesiredState& desired) const {
    return kEnvelopeBytes + 200 + desired.release.app.size() + desired.release.version.size() +
           kLayerEntryBytes * desired.release.layers.size();
  }
  std::uint64_t operator()(const StatusReport& status) const {
    return kEnvelopeBytes + 120 + status.app.size() + status.detail.size();
  }
  std::uint64_t operator()(const Poll& poll) const { return kEnvelopeBytes + 40 + 40 * poll.generations.size(); }
};
}  // namespace

std::uint64_t wire_size(const Message& message) { return std::visit(WireSize{}, message); }

}  // namespace fleetsim::agents
