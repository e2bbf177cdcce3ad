// The control protocol on the wire (docs/PROTOCOL.md): every agents::Message as one line of JSON, version 1. A
// connection starts with the node's hello; then each side sends messages, one per line. Decoding is strict: a line
// that is not a message of this version is an error naming the key, and the connection carrying it is closed.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "fleetsim/agents/protocol.hpp"

namespace fleetsim::net {

inline constexpr int kProtocolVersion = 1;

struct WireError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// One line of JSON, without the newline (JSON escapes every newline inside strings, so a line is a frame).
std::string encode(const agents::Message& message);
agents::Message decode(std::string_view line);  // throws WireError

// The first line a node sends on a new connection: who it is.
std::string encode_hello(agents::NodeId node);
agents::NodeId decode_hello(std::string_view line);  // throws WireError

}  // namespace fleetsim::net
