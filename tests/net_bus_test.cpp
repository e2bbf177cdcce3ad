// fleetsim-bus, the site telemetry broker for real (net/, issue 14): the agents library's Broker behind a TCP port for
// sensors' JSON lines, uploading batches over HTTP to an ingest that keeps each (site, stream, seq) once. Each test
// states the documented behaviour it checks: every message once and in order; buffering through an ingest outage
// and draining after it; reject_new keeping the oldest; a disk stream surviving a SIGKILL of the daemon and a memory
// stream not; bad lines, bad files and bad stores named.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fleetsim/net/agent_host.hpp"
#include "fleetsim/net/bus_host.hpp"
#include "net_test_support.hpp"

namespace fleetsim::net {
namespace {

using namespace fleetsim::net::testing;
using json = nlohmann::json;
namespace telem = agents::telemetry;

json bus_json(const fs::path& dir, unsigned short ingest_port, unsigned short listen_port = 0) {
  return json{{"site", "store-1"},
              {"listen", {{"host", "127.0.0.1"}, {"port", listen_port}}},
              {"ingest_url", "http://127.0.0.1:" + std::to_string(ingest_port) + "/v1/ingest"},
              {"data_dir", (dir / "data").string()},
              {"streams", {"temperature", "alarms"}},
              {"upload_timeout", "2s"},
              {"bus", {{"storage", "disk"}, {"max_msgs", 10000}, {"batch_interval", "50ms"}, {"max_batch_msgs", 25},
                       {"retry_initial", "100ms"}, {"retry_max", "200ms"}}}};
}

BusHostConfig config_of(const json& j) { return parse_bus_config(j.dump(), "bus.json"); }

// Lines a sensor sends over one blocking connection.
class Sensor {
 public:
  explicit Sensor(unsigned short port) : socket_(io_) { socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port)); }
  void send(const std::string& line) { asio::write(socket_, asio::buffer(line + "\n")); }
  void reading(const std::string& stream, int i) { send(json{{"stream", stream}, {"payload", {{"i", i}}}}.dump()); }
  // The next answer line (the bus answers only lines it refuses).
  std::string answer() {
    asio::read_until(socket_, in_, '\n');
    std::istream s(&in_);
    std::string line;
    std::getline(s, line);
    return line;
  }

 private:
  asio::io_context io_;
  tcp::socket socket_;
  asio::streambuf in_;
};

// What the ingest appended, by stream: each message's seq and payload, in file order.
std::map<std::string, std::vector<json>> received(const fs::path& out) {
  std::map<std::string, std::vector<json>> by;
  std::ifstream in(out);
  for (std::string line; std::getline(in, line);) {
    const json m = json::parse(line);
    by[m["stream"].get<std::string>()].push_back(m);
  }
  return by;
}

template <class Done>
bool run_until(asio::io_context& io, Done done, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < until) run_for(io, std::chrono::milliseconds(10));
  return done();
}

TEST(BusConfig, EveryMistakeNamesTheFileAndTheKey) {
  const json good = bus_json("/tmp/x", 7700);
  const BusHostConfig c = config_of(good);
  EXPECT_EQ(c.streams, (std::vector<std::string>{"temperature", "alarms"}));
  EXPECT_EQ(c.bus.forwarder.batch_interval_s, 0.05);
  EXPECT_EQ(c.bus.stream.max_msgs, 10000u);
  // A preset's documented defaults, then the file's keys over them.
  json preset = good;
  preset["bus"] = {{"preset", "mosquitto_bridge"}, {"streams", {{"alarms", {{"priority", 0}}}}}};
  const BusHostConfig p = config_of(preset);
  EXPECT_EQ(p.bus.stream.max_msgs, 1000u);
  EXPECT_EQ(p.bus.stream.overflow, telem::Overflow::reject_new);
  EXPECT_EQ(p.per_stream.at("alarms").priority, 0);

  auto mutate = [&](auto&& change) {
    json j = good;
    change(j);
    return j.dump();
  };
  const std::vector<std::pair<std::string, std::string>> cases{
      {"{", "bus.json: not JSON"},
      {mutate([](json& j) { j.erase("ingest_url"); }), "key 'ingest_url': missing"},
      {mutate([](json& j) { j["ingest_url"] = "https://cloud"; }), "key 'ingest_url'"},
      {mutate([](json& j) { j["streams"] = json::array(); }), "key 'streams': must be a non-empty array of strings"},
      {mutate([](json& j) { j["streams"] = {"a", "a"}; }), "key 'streams': 'a' is named twice"},
      {mutate([](json& j) { j["streams"] = {"../etc"}; }), "key 'streams': '../etc': a stream name is a plain word"},
      {mutate([](json& j) { j["bus"]["preset"] = "kafka"; }), "key 'bus.preset': unknown preset 'kafka'"},
      {mutate([](json& j) { j["bus"]["overflow"] = "drop_newest"; }), "key 'bus.overflow': must be drop_oldest, reject_new or priority_evict"},
      {mutate([](json& j) { j["bus"]["max_msgs"] = 0; j["bus"]["max_bytes"] = 0; }), "key 'bus.max_bytes': a stream needs a bound"},
      {mutate([](json& j) { j["bus"]["batch_interval"] = "1ms"; }), "key 'bus.batch_interval': must be at least 10ms"},
      {mutate([](json& j) { j["bus"]["retry_max"] = "10ms"; }), "key 'bus.retry_max': must be at least retry_initial"},
      {mutate([](json& j) { j["bus"]["compression"] = 0.5; }), "key 'bus.compression': fleetsim-bus sends batches uncompressed"},
      {mutate([](json& j) { j["bus"]["streams"] = {{"humidity", {{"ttl", "1h"}}}}; }), "key 'bus.streams.humidity': not one of the streams"},
      {mutate([](json& j) { j["bus"]["streams"] = {{"alarms", {{"priorty", 0}}}}; }), "key 'bus.streams.alarms.priorty': unknown key"},
      {mutate([](json& j) { j["bus"]["streams"] = {{"alarms", {{"priority", 12}}}}; }), "key 'bus.streams.alarms.priority': must be an integer from 0 to 9"},
      {mutate([](json& j) { j["listen"]["port"] = 70000; }), "key 'listen.port': must be an integer from 0 to 65535"},
      {mutate([](json& j) { j["upload_timeout"] = "soon"; }), "key 'upload_timeout'"},
      {mutate([](json& j) { j["sites"] = 1; }), "key 'sites': unknown key"},
  };
  for (const auto& [text, expected] : cases) {
    try {
      parse_bus_config(text, "bus.json");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what() << "\n expected: " << expected;
      EXPECT_EQ(std::string(e.what()).rfind("bus.json: ", 0), 0u) << e.what();
    }
  }
}

// Two streams, 100 readings each from one sensor connection, and lines the bus must refuse (answered, named by
// their line number, and nothing else lost): the ingest gets every reading once, each stream in order (seq 1..100).
TEST(Bus, EveryReadingArrivesOnceAndInOrderAndBadLinesAreAnswered) {
  const fs::path dir = fresh_dir("bus-order");
  asio::io_context io;
  IngestServer ingest(io, "127.0.0.1", 0, dir / "received.jsonl");
  BusHost bus(io, config_of(bus_json(dir, ingest.port())));
  bus.start();
  Sensor sensor(bus.port());
  for (int i = 0; i < 100; ++i) {
    sensor.reading("temperature", i);
    sensor.reading("alarms", 1000 + i);
    if (i == 10) sensor.send("{\"stream\": \"humidity\", \"payload\": 1}");  // line 23
    if (i == 20) sensor.send("not json");                                   // line 44
    if (i == 30) sensor.send("{\"stream\": \"alarms\", \"payload\": 1, \"qos\": 2}");  // line 65
  }
  ASSERT_TRUE(run_until(io, [&] { return ingest.accepted() == 200; }, std::chrono::seconds(20))) << ingest.accepted();
  const auto by = received(dir / "received.jsonl");
  ASSERT_EQ(by.at("temperature").size(), 100u);
  ASSERT_EQ(by.at("alarms").size(), 100u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(by.at("temperature")[static_cast<std::size_t>(i)]["seq"], i + 1);
    EXPECT_EQ(by.at("temperature")[static_cast<std::size_t>(i)]["payload"]["i"], i);
    EXPECT_EQ(by.at("alarms")[static_cast<std::size_t>(i)]["payload"]["i"], 1000 + i);
    EXPECT_EQ(by.at("alarms")[static_cast<std::size_t>(i)]["site"], "store-1");
  }
  EXPECT_EQ(ingest.duplicates(), 0u);
  // At most 25 messages a batch (max_batch_msgs): at least 8 batches for 200.
  EXPECT_GE(ingest.batches(), 8u);
  EXPECT_EQ(bus.rejected_lines(), 3u);
  const json a = json::parse(sensor.answer()), b = json::parse(sensor.answer()), c = json::parse(sensor.answer());
  EXPECT_EQ(a["line"], 23);
  EXPECT_NE(a["error"].get<std::string>().find("no stream 'humidity' (this bus has: temperature, alarms)"), std::string::npos) << a;
  EXPECT_EQ(b["line"], 44);
  EXPECT_NE(b["error"].get<std::string>().find("not JSON"), std::string::npos) << b;
  EXPECT_EQ(c["line"], 65);
  EXPECT_NE(c["error"].get<std::string>().find("key 'qos': must be 0 or 1"), std::string::npos) << c;
  // Delivered and acknowledged (the bus hears the last answer a moment after the ingest wrote it): it holds nothing.
  EXPECT_TRUE(run_until(io, [&] { return bus.broker().buffered_msgs(0) + bus.broker().buffered_msgs(1) == 0; },
                        std::chrono::seconds(10)));
  EXPECT_EQ(bus.broker().stats(0).delivered, 100u);
}

// The ingest answers 503 for a while: the bus keeps what the sensors send (the broker goes offline, retries with its
// back-off), and once the ingest is back the backlog drains, every reading once. With reject_new and room for 10,
// the 10 oldest are kept and the 20 newer refused (Mosquitto's max_queued_messages), counted as rejected.
TEST(Bus, AnIngestOutageIsBufferedAndDrainedAndRejectNewKeepsTheOldest) {
  const fs::path dir = fresh_dir("bus-outage");
  asio::io_context io;
  IngestServer ingest(io, "127.0.0.1", 0, dir / "received.jsonl");
  json j = bus_json(dir, ingest.port());
  j["bus"]["streams"] = {{"alarms", {{"overflow", "reject_new"}, {"max_msgs", 10}}}};
  BusHost bus(io, config_of(j));
  bus.start();
  ingest.set_available(false);
  Sensor sensor(bus.port());
  for (int i = 0; i < 30; ++i) {
    sensor.reading("temperature", i);
    sensor.reading("alarms", i);
  }
  run_for(io, std::chrono::milliseconds(800));
  EXPECT_EQ(ingest.accepted(), 0u);
  EXPECT_EQ(bus.broker().buffered_msgs(0), 30u);
  EXPECT_EQ(bus.broker().buffered_msgs(1), 10u);
  EXPECT_EQ(bus.broker().stats(1).dropped[static_cast<std::size_t>(telem::DropReason::rejected)], 20u);
  ingest.set_available(true);
  ASSERT_TRUE(run_until(io, [&] { return ingest.accepted() == 40; }, std::chrono::seconds(20))) << ingest.accepted();
  run_for(io, std::chrono::milliseconds(200));
  EXPECT_EQ(ingest.accepted(), 40u);
  EXPECT_EQ(ingest.duplicates(), 0u);
  const auto by = received(dir / "received.jsonl");
  ASSERT_EQ(by.at("alarms").size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(by.at("alarms")[static_cast<std::size_t>(i)]["payload"]["i"], i);  // the oldest
  EXPECT_EQ(bus.broker().buffered_msgs(0), 0u);
}

// The ingest keeps each (site, stream, seq) once: a batch sent again (its acknowledgement was lost) is all duplicates,
// and so it is for a restarted ingest, which reads its marks back from its file. A body that is not a batch is 400.
TEST(Bus, TheIngestKeepsEachMessageOnceAcrossItsRestart) {
  const fs::path dir = fresh_dir("bus-ingest");
  const std::string batch = R"({"site":"s","batch":1,"messages":[{"stream":"a","seq":1,"t":1,"payload":1},{"stream":"a","seq":2,"t":2,"payload":2}]})";
  {
    asio::io_context io;
    IngestServer ingest(io, "127.0.0.1", 0, dir / "in.jsonl");
    const unsigned short port = ingest.port();
    std::thread client([&] {
      const HttpAnswer first = http_call(port, "POST", "/v1/ingest", batch);
      EXPECT_EQ(first.status, 200u);
      EXPECT_EQ(json::parse(first.body)["accepted"], 2);
      const HttpAnswer again = http_call(port, "POST", "/v1/ingest", batch);
      EXPECT_EQ(json::parse(again.body)["duplicates"], 2);
      const HttpAnswer bad = http_call(port, "POST", "/v1/ingest", R"({"site":"s","messages":[{"stream":"a","seq":0}]})");
      EXPECT_EQ(bad.status, 400u);
      EXPECT_NE(bad.body.find("messages[0]"), std::string::npos) << bad.body;
      EXPECT_EQ(http_call(port, "GET", "/v1/ingest").status, 405u);
    });
    std::atomic<bool> finished{false};
    std::thread waiter([&] {
      client.join();
      finished = true;
    });
    run_until(io, [&] { return finished.load(); }, std::chrono::seconds(30));
    waiter.join();
  }
  asio::io_context io;
  IngestServer again(io, "127.0.0.1", 0, dir / "in.jsonl");
  const unsigned short port = again.port();
  std::thread client([&] {
    const HttpAnswer a = http_call(port, "POST", "/v1/ingest", batch);
    EXPECT_EQ(json::parse(a.body)["duplicates"], 2) << a.body;
  });
  std::atomic<bool> finished{false};
  std::thread waiter([&] {
    client.join();
    finished = true;
  });
  run_until(io, [&] { return finished.load(); }, std::chrono::seconds(30));
  waiter.join();
  EXPECT_EQ(received(dir / "in.jsonl").at("a").size(), 2u);
}

// The daemon, killed: what a disk stream held comes back at the next start and reaches the ingest, each message
// once; what a memory stream held is gone (as the simulated bus's crash loses it).
TEST(BusDaemon, ADiskStreamSurvivesAKillAndAMemoryStreamDoesNot) {
  const fs::path dir = fresh_dir("bus-daemon");
  asio::io_context io;
  IngestServer ingest(io, "127.0.0.1", 0, dir / "received.jsonl");
  ingest.set_available(false);
  const unsigned short port = free_port();
  json j = bus_json(dir, ingest.port(), port);
  j["bus"]["streams"] = {{"alarms", {{"storage", "memory"}}}};
  std::ofstream(dir / "bus.json") << j.dump(2);
  pid_t pid = spawn_daemon(FLEETSIM_BUS_BINARY, {(dir / "bus.json").string(), "--log-level", "debug"}, dir / "bus1.log");
  ASSERT_GT(pid, 0);
  std::unique_ptr<Sensor> sensor;
  for (int k = 0; k < 200 && !sensor; ++k) {
    try {
      sensor = std::make_unique<Sensor>(port);
    } catch (const std::exception&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  }
  ASSERT_TRUE(sensor) << file_bytes(dir / "bus1.log");
  for (int i = 0; i < 20; ++i) {
    sensor->reading("temperature", i);
    sensor->reading("alarms", i);
  }
  // Stored once its line is in the stream's segment file.
  auto lines_on_disk = [&] {
    std::size_t n = 0;
    if (fs::exists(dir / "data" / "temperature"))
      for (const auto& e : fs::directory_iterator(dir / "data" / "temperature"))
        if (e.path().extension() == ".seg") {
          std::ifstream in(e.path());
          for (std::string l; std::getline(in, l);) ++n;
        }
    return n;
  };
  ASSERT_TRUE(run_until(io, [&] { return lines_on_disk() == 20; }, std::chrono::seconds(10))) << lines_on_disk();
  for (const auto& e : fs::directory_iterator(dir / "data" / "alarms"))  // memory: its messages never on disk
    EXPECT_NE(e.path().extension(), ".seg") << e.path();
  ::kill(pid, SIGKILL);
  EXPECT_EQ(wait_exit(pid, std::chrono::seconds(10)), 128 + SIGKILL);
  sensor.reset();

  ingest.set_available(true);
  pid = spawn_daemon(FLEETSIM_BUS_BINARY, {(dir / "bus.json").string(), "--log-level", "debug"}, dir / "bus2.log");
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(run_until(io, [&] { return ingest.accepted() == 20; }, std::chrono::seconds(20))) << file_bytes(dir / "bus2.log");
  run_for(io, std::chrono::milliseconds(500));
  const auto by = received(dir / "received.jsonl");
  ASSERT_EQ(by.at("temperature").size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(by.at("temperature")[static_cast<std::size_t>(i)]["seq"], i + 1);
    EXPECT_EQ(by.at("temperature")[static_cast<std::size_t>(i)]["payload"]["i"], i);
  }
  EXPECT_EQ(by.count("alarms"), 0u);
  EXPECT_NE(file_bytes(dir / "bus2.log").find("restored=20"), std::string::npos) << file_bytes(dir / "bus2.log");

  // New readings after the restart, in both streams, are new to the ingest: the restarted bus numbers above every
  // message it ever sent (its reserved block), or the ingest's mark would drop them as duplicates.
  auto connect = [&] {
    std::unique_ptr<Sensor> s;
    for (int k = 0; k < 200 && !s; ++k) {
      try {
        s = std::make_unique<Sensor>(port);
      } catch (const std::exception&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
      }
    }
    return s;
  };
  sensor = connect();
  ASSERT_TRUE(sensor);
  for (int i = 0; i < 3; ++i) {
    sensor->reading("temperature", 100 + i);
    sensor->reading("alarms", 100 + i);
  }
  ASSERT_TRUE(run_until(io, [&] { return ingest.accepted() == 26; }, std::chrono::seconds(20))) << ingest.accepted();
  sensor.reset();
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid, std::chrono::seconds(10)), 0);

  // Everything was acknowledged: the next start restores nothing, and what comes after is new again.
  pid = spawn_daemon(FLEETSIM_BUS_BINARY, {(dir / "bus.json").string()}, dir / "bus3.log");
  sensor = connect();
  ASSERT_TRUE(sensor) << file_bytes(dir / "bus3.log");
  sensor->reading("temperature", 200);
  sensor->reading("alarms", 200);
  ASSERT_TRUE(run_until(io, [&] { return ingest.accepted() == 28; }, std::chrono::seconds(20))) << ingest.accepted();
  sensor.reset();
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid, std::chrono::seconds(10)), 0);
  EXPECT_NE(file_bytes(dir / "bus3.log").find("restored=0"), std::string::npos) << file_bytes(dir / "bus3.log");
  EXPECT_EQ(ingest.duplicates(), 0u);
  const auto all = received(dir / "received.jsonl");
  for (const auto& [stream, messages] : all)
    for (std::size_t k = 1; k < messages.size(); ++k)
      EXPECT_GT(messages[k]["seq"].get<std::uint64_t>(), messages[k - 1]["seq"].get<std::uint64_t>()) << stream;
  EXPECT_EQ(all.at("temperature").back()["payload"]["i"], 200);
  EXPECT_EQ(all.at("alarms").size(), 4u);

  // A store it cannot read back is named (file:line), and the daemon does not start.
  std::ofstream(dir / "data" / "temperature" / "09000000000000000000.seg") << "{\"seq\":9000000000000000000,\"t\":1,\"payload\":1}\ngarbage\n{\"seq\":23}\n";
  const pid_t bad = spawn_daemon(FLEETSIM_BUS_BINARY, {(dir / "bus.json").string()}, dir / "bus4.log");
  EXPECT_EQ(wait_exit(bad, std::chrono::seconds(10)), 2);
  EXPECT_NE(file_bytes(dir / "bus4.log").find("09000000000000000000.seg:2: not JSON"), std::string::npos)
      << file_bytes(dir / "bus4.log");
}

}  // namespace
}  // namespace fleetsim::net

namespace fleetsim::net {
namespace {

// A line the JSON parser refuses for a number out of range (found by wire_fuzz: it escaped as another exception
// than a parse error and ended the daemon) is refused like any line that is not JSON.
TEST(Bus, ANumberOutOfRangeIsRefusedNotThrown) {
  const std::vector<std::string> streams{"temperature"};
  for (const std::string line : {R"({"stream":"temperature","payload":1e999})", R"({"node":4e02000e":4000Pe":"he1})"}) {
    const auto parsed = parse_sensor_line(line, streams);
    ASSERT_TRUE(std::holds_alternative<std::string>(parsed)) << line;
    EXPECT_NE(std::get<std::string>(parsed).find("not JSON"), std::string::npos) << std::get<std::string>(parsed);
  }
}

}  // namespace
}  // namespace fleetsim::net
