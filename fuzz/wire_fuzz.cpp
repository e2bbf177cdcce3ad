// libFuzzer target for the control protocol's decoder (net/wire.hpp): the bytes a peer sends, as one line. A
// WireError is the expected outcome for a line that is not a message; any other exception or a sanitizer report is a
// finding, and so is a broken property:
//   - a line that decodes encodes to one line (no newline in it) that decodes to the same message (encoding it
//     again gives the same bytes);
//   - the same for a hello.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fleetsim/net/wire.hpp"

namespace {

[[noreturn]] void broken(const char* property, std::string_view input, const std::string& detail) {
  std::fprintf(stderr, "wire_fuzz: %s does not hold for input '%.*s': %s\n", property, static_cast<int>(input.size()),
               input.data(), detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fleetsim::net;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  std::string once;
  try {
    once = encode(decode(line));
  } catch (const WireError&) {
  }
  if (!once.empty()) {
    if (once.find('\n') != std::string::npos) broken("one line per message", line, once);
    try {
      const std::string twice = encode(decode(once));
      if (twice != once) broken("encode(decode(encode(m))) == encode(m)", line, once + " vs " + twice);
    } catch (const WireError& e) {
      broken("what decodes encodes to a message", line, once + ": " + e.what());
    }
  }
  try {
    const auto node = decode_hello(line);
    if (decode_hello(encode_hello(node)) != node) broken("hello round trip", line, std::to_string(node));
  } catch (const WireError&) {
  }
  return 0;
}
