// libFuzzer target for what the daemons read from a peer, as one line or body: the control protocol's decoder
// (net/wire.hpp), a sensor's line to fleetsim-bus and a batch's body to the ingest (net/bus_host.hpp). A WireError,
// a refusal (a string) or std::invalid_argument is the expected outcome for input that is not one; any other
// exception or a sanitizer report is a finding, and so is a broken property:
//   - a line that decodes encodes to one line (no newline in it) that decodes to the same message (encoding it
//     again gives the same bytes);
//   - the same for a hello;
//   - a sensor line the bus takes names one of its streams, a QoS of 0 or 1, a priority of -1 (the stream's) to 9,
//     and a payload that is JSON again;
//   - a batch the ingest takes has only sequence numbers from 1.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "fleetsim/net/bus_host.hpp"
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
  static const std::vector<std::string> streams{"temperature", "alarms"};
  const auto sensor = parse_sensor_line(line, streams);
  if (const auto* m = std::get_if<SensorMessage>(&sensor)) {
    if (m->stream >= streams.size()) broken("a sensor line names a stream of the bus", line, std::to_string(m->stream));
    if (m->qos != 0 && m->qos != 1) broken("QoS is 0 or 1", line, std::to_string(m->qos));
    if (m->priority < -1 || m->priority > 9) broken("priority is -1 to 9", line, std::to_string(m->priority));
    if (!nlohmann::json::accept(m->payload)) broken("the payload is JSON", line, m->payload);
  }
  try {
    const IngestBatch batch = parse_ingest_batch(nlohmann::json::parse(line), "body");
    for (const auto& m : batch.messages)
      if (m.seq == 0) broken("a batch's sequence numbers start at 1", line, m.stream);
  } catch (const nlohmann::json::exception&) {
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
