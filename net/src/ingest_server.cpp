// fleetsim-ingest's core: the cloud end of fleetsim-bus. Batches are de-duplicated by (site, stream, sequence) with
// the agents library's CloudReceiver, appended to a file and synced before they are acknowledged.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>

#include <boost/asio/ip/tcp.hpp>

#include "fleetsim/net/agent_host.hpp"
#include "fleetsim/net/bus_host.hpp"
#include "http_server.hpp"
#include "json_keys.hpp"

namespace fleetsim::net {

namespace telem = agents::telemetry;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

IngestBatch parse_ingest_batch(const json& body, const std::string& where) {
  if (!body.is_object() || !body.contains("site") || !body["site"].is_string() || !body.contains("messages") ||
      !body["messages"].is_array())
    throw std::invalid_argument(where + ": a batch is {\"site\": ..., \"batch\": ..., \"messages\": [...]}");
  IngestBatch b;
  b.site = body["site"].get<std::string>();
  for (std::size_t i = 0; i < body["messages"].size(); ++i) {
    const json& m = body["messages"][i];
    if (!m.is_object() || !m.contains("stream") || !m["stream"].is_string() || !m.contains("seq") ||
        !m["seq"].is_number_unsigned() || m["seq"].get<std::uint64_t>() == 0 || !m.contains("payload"))
      throw std::invalid_argument(where + ": messages[" + std::to_string(i) +
                                  "]: a message is {\"stream\": name, \"seq\": n >= 1, \"t\": time, \"payload\": ...}");
    b.messages.push_back({m["stream"].get<std::string>(), m["seq"].get<std::uint64_t>(), m});
  }
  return b;
}

struct IngestServer::Parts {
  std::filesystem::path out_path;
  std::string path;
  std::FILE* out = nullptr;
  telem::CloudReceiver receiver;
  std::map<std::string, std::uint32_t> sites;
  std::map<std::pair<std::uint32_t, std::string>, std::uint32_t> streams;
  std::uint64_t accepted = 0, duplicates = 0, batches = 0;
  bool available = true;
  std::unique_ptr<HttpServer> http;

  std::uint32_t site_index(const std::string& name) { return sites.emplace(name, static_cast<std::uint32_t>(sites.size())).first->second; }
  std::uint32_t stream_index(std::uint32_t site, const std::string& name) {
    std::uint32_t next = 0;
    for (const auto& [key, v] : streams)
      if (key.first == site) ++next;
    return streams.emplace(std::make_pair(site, name), next).first->second;
  }

  // One batch: the messages above each (site, stream)'s mark are appended; returns (accepted, duplicates).
  std::pair<std::uint64_t, std::uint64_t> take(const json& body, const std::string& where, bool write) {
    const IngestBatch batch = parse_ingest_batch(body, where);
    // The marks move only once what they accept is on disk: a failed write leaves them, and the file, as they were
    // (the bus sends the batch again and it is accepted then).
    const telem::CloudReceiver marks_before = receiver;
    const std::uint32_t site = site_index(batch.site);
    std::uint64_t acc = 0, dup = 0;
    const double received = unix_now();
    std::string lines;
    for (const auto& m : batch.messages) {
      telem::Batch b;
      telem::MessageRun r;
      r.stream = stream_index(site, m.stream);
      r.first_seq = m.seq;
      r.count = 1;
      r.msg_bytes = 1;
      b.runs.push_back(r);
      const auto result = receiver.receive(site, b);
      dup += result.duplicates;
      if (result.accepted.empty()) continue;
      ++acc;
      if (write) {
        json line = m.message;
        line["site"] = batch.site;
        line["received_t"] = received;
        lines += line.dump() + "\n";
      }
    }
    if (write && !lines.empty()) {
      std::error_code size_error;
      const std::uintmax_t size_before = std::filesystem::file_size(out_path, size_error);  // all flushed before
      if (std::fwrite(lines.data(), 1, lines.size(), out) != lines.size() || std::fflush(out) != 0 ||
          ::fdatasync(::fileno(out)) != 0) {
        receiver = marks_before;
        std::clearerr(out);
        if (!size_error) std::filesystem::resize_file(out_path, size_before, size_error);
        throw std::runtime_error("cannot write " + out_path.string() + " (disk full?): the batch is not taken");
      }
    }
    return {acc, dup};
  }
};

IngestServer::IngestServer(asio::io_context& io, const std::string& host, unsigned short port, std::filesystem::path out,
                           std::string path)
    : parts_(std::make_unique<Parts>()) {
  Parts& p = *parts_;
  p.out_path = std::move(out);
  p.path = std::move(path);
  // What was accepted before sets the marks again: a restarted ingest refuses what it already has.
  if (std::filesystem::exists(p.out_path)) {
    std::ifstream in(p.out_path, std::ios::binary);
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    std::size_t begin = 0, line_no = 0;
    for (std::size_t nl; (nl = text.find('\n', begin)) != std::string::npos; begin = nl + 1) {
      ++line_no;
      json m;
      try {
        m = json::parse(text.substr(begin, nl - begin));
      } catch (const json::exception&) {
        throw ConfigError(p.out_path.string() + ":" + std::to_string(line_no) + ": not JSON");
      }
      try {
        p.take(json{{"site", m.value("site", json())}, {"messages", json::array({m})}}, p.out_path.string() + ":" + std::to_string(line_no), false);
      } catch (const std::invalid_argument& e) {
        throw ConfigError(e.what());
      }
    }
    if (begin < text.size()) std::filesystem::resize_file(p.out_path, begin);
  }
  if (!p.out_path.parent_path().empty()) std::filesystem::create_directories(p.out_path.parent_path());
  p.out = std::fopen(p.out_path.c_str(), "a");
  if (p.out == nullptr) throw ConfigError(p.out_path.string() + ": cannot be opened for writing");
  p.http = std::make_unique<HttpServer>(
      io, tcp::endpoint(asio::ip::make_address(host), port),
      [this](const HttpRequest& r) {
        Parts& q = *parts_;
        auto error = [](unsigned status, const std::string& what) {
          return HttpResponse{status, json{{"error", what}}.dump(), "application/json", {}};
        };
        const std::string target = r.target.substr(0, r.target.find('?'));
        if (target == "/healthz") return HttpResponse{200, "ok\n", "text/plain", {}};
        if (target != q.path) return error(404, "no route " + r.method + " " + target);
        if (r.method != "POST") return error(405, r.method + " " + target + ": not allowed (POST)");
        if (!q.available) return error(503, "unavailable");
        json body;
        try {
          body = json::parse(r.body);
        } catch (const json::exception& e) {
          return error(400, std::string("request body: not JSON: ") + e.what());
        }
        std::pair<std::uint64_t, std::uint64_t> got;
        try {
          got = q.take(body, "request body", true);
        } catch (const std::invalid_argument& e) {
          return error(400, e.what());
        }
        q.accepted += got.first;
        q.duplicates += got.second;
        ++q.batches;
        return HttpResponse{200, json{{"accepted", got.first}, {"duplicates", got.second}}.dump(), "application/json", {}};
      },
      std::size_t{256} << 20);
}

IngestServer::~IngestServer() {
  stop();
  if (parts_->out) std::fclose(parts_->out);
}
unsigned short IngestServer::port() const { return parts_->http->port(); }
void IngestServer::set_available(bool available) { parts_->available = available; }
std::uint64_t IngestServer::accepted() const { return parts_->accepted; }
std::uint64_t IngestServer::duplicates() const { return parts_->duplicates; }
std::uint64_t IngestServer::batches() const { return parts_->batches; }
void IngestServer::stop() { parts_->http->stop(); }

}  // namespace fleetsim::net
