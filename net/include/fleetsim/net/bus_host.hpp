// fleetsim-bus's core: the agents library's telemetry Broker, unchanged, for real. Sensors send messages as JSON lines
// over TCP; the broker keeps them in its streams (on disk for disk streams: segment files and an acknowledged mark
// per stream, read back when the daemon starts again) and uploads them in batches over HTTP to an ingest endpoint,
// at least once; the ingest (IngestServer, fleetsim-ingest) de-duplicates them by (site, stream, sequence) with the
// agents library's CloudReceiver and appends what it accepts to a file. docs/DAEMONS.md has the configuration,
// docs/PROTOCOL.md the lines and the batches.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "fleetsim/agents/telemetry.hpp"

namespace fleetsim::net {

struct BusHostConfig {
  std::string site = "site";                   // named in every batch: the ingest de-duplicates per site
  std::string listen_host = "127.0.0.1";       // where sensors connect
  unsigned short listen_port = 7600;           // 0: any free port
  std::string ingest_url;                      // batches are POSTed here (http://host:port/path)
  std::filesystem::path data_dir;              // disk streams' segments and marks
  agents::telemetry::BusConfig bus;            // streams' and forwarder's settings (a preset, then the file's keys)
  std::vector<std::string> streams;            // in declaration order (ties in priority go in this order)
  std::map<std::string, agents::telemetry::StreamConfig> per_stream;
  double upload_timeout_s = 30;                // a batch not acknowledged within this failed
  bool sync_to_disk = true;                    // fdatasync disk streams' writes (per stream.fsync_interval)
};

// fleetsim-bus's JSON configuration (docs/DAEMONS.md); errors are ConfigErrors naming the file and key.
BusHostConfig load_bus_config(const std::filesystem::path& path);
BusHostConfig parse_bus_config(const std::string& text, const std::string& origin);

// One line a sensor sent (docs/PROTOCOL.md, "Telemetry"): its stream (an index into `streams`), its payload as JSON
// text, its priority (-1: the stream's) and QoS; or, as a string, why the bus refuses it (naming the key).
struct SensorMessage {
  std::size_t stream = 0;
  std::string payload;
  int priority = -1;
  int qos = 1;
};
std::variant<SensorMessage, std::string> parse_sensor_line(std::string_view line, const std::vector<std::string>& streams);

// A batch as the ingest reads it: the site and each message's stream and sequence number, with the message's JSON.
// std::invalid_argument naming `where` and the message for a body that is not a batch.
struct IngestBatch {
  struct Message {
    std::string stream;
    std::uint64_t seq = 0;
    nlohmann::json message;
  };
  std::string site;
  std::vector<Message> messages;
};
IngestBatch parse_ingest_batch(const nlohmann::json& body, const std::string& where);

class BusHost {
 public:
  // Reads back what the disk streams held (a torn last line, from a crash while writing it, is dropped), then listens.
  BusHost(boost::asio::io_context& io, BusHostConfig config);
  ~BusHost();
  BusHost(const BusHost&) = delete;
  BusHost& operator=(const BusHost&) = delete;

  unsigned short port() const;
  void start();  // arms the broker's batch interval
  void stop();   // closes the sensors' connections and the listener; a batch in flight is abandoned (sent again later)

  const agents::telemetry::Broker& broker() const;
  std::size_t stream_index(const std::string& name) const;  // throws std::out_of_range for an unknown stream
  std::uint64_t restored() const;  // messages read back from the disk at start
  std::uint64_t rejected_lines() const;  // sensor lines answered with an error

  struct Parts;

 private:
  std::unique_ptr<Parts> parts_;
};

// The cloud end: POST <path> with a batch; answers 200 {"accepted": n, "duplicates": d} once the accepted messages are
// appended to `out` (JSON lines), 400 for a body that is not a batch, 503 while unavailable (set_available(false)).
// The high-water marks are read back from `out` at start, so a restarted ingest still refuses what it has.
class IngestServer {
 public:
  IngestServer(boost::asio::io_context& io, const std::string& host, unsigned short port, std::filesystem::path out,
               std::string path = "/v1/ingest");
  ~IngestServer();
  unsigned short port() const;
  void set_available(bool available);
  std::uint64_t accepted() const;
  std::uint64_t duplicates() const;
  std::uint64_t batches() const;
  void stop();

  struct Parts;

 private:
  std::unique_ptr<Parts> parts_;
};

}  // namespace fleetsim::net
