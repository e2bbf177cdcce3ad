#include "fleetsim/net/orchestrator_host.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <sstream>

#include <boost/asio/ip/address.hpp>
#include <spdlog/spdlog.h>

#include "fleetsim/net/asio_ports.hpp"
#include "fleetsim/net/control.hpp"
#include "fleetsim/net/operations_json.hpp"
#include "fleetsim/net/wire.hpp"
#include "http_server.hpp"
#include "json_keys.hpp"

namespace fleetsim::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

std::pair<std::string, unsigned short> host_port(Keys& k, const std::string& key, const json& v) {
  const std::string at = k.string(key, v);
  const auto colon = at.rfind(':');
  int port = -1;
  try {
    if (colon != std::string::npos) port = std::stoi(at.substr(colon + 1));
  } catch (const std::exception&) {
  }
  if (colon == std::string::npos || colon == 0 || port < 0 || port > 65535) k.fail(k.path(key), "'" + at + "' is not host:port");
  return {at.substr(0, colon), static_cast<unsigned short>(port)};
}

json inventory_json(const std::vector<agents::NodeInfo>& inventory) {
  json out = json::array();
  for (const auto& n : inventory)
    out.push_back({{"id", n.id}, {"name", n.name}, {"site", n.site}, {"labels", n.labels}, {"capacity", n.capacity}});
  return out;
}

// An operation's id from a URL: 1..count, digits only.
std::optional<std::uint32_t> operation_id(const std::string& text, std::size_t count) {
  if (text.empty() || text.size() > 9 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  const auto id = static_cast<std::uint32_t>(std::stoul(text));
  if (id == 0 || id > count) return std::nullopt;
  return id;
}

}  // namespace

OrchestratorHostConfig parse_orchestrator_config(const std::string& text, const std::string& origin) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    throw ConfigError(origin + ": not JSON: " + e.what());
  }
  OrchestratorHostConfig c;
  Keys top(doc, "", origin);
  if (const json* v = top.find("control")) std::tie(c.control_host, c.control_port) = host_port(top, "control", *v);
  if (const json* v = top.find("http")) std::tie(c.http_host, c.http_port) = host_port(top, "http", *v);
  c.journal = top.string("journal", top.need("journal"));
  const json& inventory = top.need("inventory");
  if (!inventory.is_array() || inventory.empty()) top.fail("inventory", "must be a non-empty array of nodes");
  std::set<agents::NodeId> ids;
  for (std::size_t i = 0; i < inventory.size(); ++i) {
    Keys n(inventory[i], "inventory[" + std::to_string(i) + "]", origin);
    agents::NodeInfo node;
    const json& id = n.need("id");
    if (!id.is_number_unsigned() || id.get<std::uint64_t>() > 0xffffffffULL) n.fail(n.path("id"), "must be an integer 0..4294967295");
    node.id = id.get<agents::NodeId>();
    if (!ids.insert(node.id).second) n.fail(n.path("id"), "node " + std::to_string(node.id) + " appears twice");
    node.name = n.find("name") ? n.string("name", *n.find("name")) : "node-" + std::to_string(node.id);
    node.site = n.find("site") ? n.string("site", *n.find("site")) : "site";
    if (const json* labels = n.find("labels")) {
      if (!labels->is_object()) n.fail(n.path("labels"), "must map names to strings");
      for (auto it = labels->begin(); it != labels->end(); ++it) {
        if (!it.value().is_string()) n.fail(n.path("labels." + it.key()), "must be a string");
        node.labels[it.key()] = it.value().get<std::string>();
      }
    }
    if (const json* capacity = n.find("capacity")) {
      if (!capacity->is_object()) n.fail(n.path("capacity"), "must map resources to amounts");
      for (auto it = capacity->begin(); it != capacity->end(); ++it)
        node.capacity[it.key()] = n.number("capacity." + it.key(), it.value(), 0);
    }
    n.done();
    c.inventory.push_back(std::move(node));
  }
  top.done();
  return c;
}

OrchestratorHostConfig load_orchestrator_config(const std::filesystem::path& path) {
  return parse_orchestrator_config(read_config_file(path), path.string());
}

// The orchestrator's ports, each with a replay mode: while the journal is replayed, time is the journal's, timers
// are numbered but never fire, and nothing is sent.
struct OrchestratorHost::Parts final : agents::Clock, agents::Timers, agents::OrchestratorChannel {
  Parts(asio::io_context& io, const OrchestratorHostConfig& config, std::function<void(agents::TimerId)> fire)
      : live_timers(io, std::move(fire)),
        control(io, tcp::endpoint(asio::ip::make_address(config.control_host), config.control_port)) {
    live.parts = this;
  }

  // Clock: seconds since the journal began (wall clock, so that it goes on across restarts, never backwards).
  agents::Time now() const override { return frozen; }
  agents::Time live_now() const {
    const double t = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count() - epoch_s;
    return std::max(t, frozen);
  }
  // Timers
  agents::TimerId set_timer(double delay_s) override {
    if (replaying) return next_replay_timer++;
    return live_timers.set_timer(delay_s);
  }
  void cancel_timer(agents::TimerId id) override {
    if (!replaying) live_timers.cancel_timer(id);
  }
  // Channel
  void send_to_node(agents::NodeId node, const agents::Message& message) override {
    if (!replaying) control.send_to_node(node, message);
  }

  struct Live final : agents::Clock {
    const Parts* parts = nullptr;
    agents::Time now() const override { return parts->live_now(); }
  } live;
  bool replaying = false;
  double epoch_s = 0;
  agents::Time frozen = 0;
  agents::TimerId next_replay_timer = 1;
  AsioTimers live_timers;
  ControlServer control;
  std::unique_ptr<HttpServer> http;
  std::FILE* journal = nullptr;
};

OrchestratorHost::OrchestratorHost(asio::io_context& io, OrchestratorHostConfig config)
    : io_(io), config_(std::move(config)) {
  parts_ = std::make_unique<Parts>(io_, config_, [this](agents::TimerId id) {
    parts_->frozen = parts_->live_now();
    record({{"t", parts_->frozen}, {"timer", id}}, false);
    orchestrator_->on_timer(id);
  });
  orchestrator_ = std::make_unique<agents::Orchestrator>(config_.inventory, agents::OrchestratorPorts{*parts_, *parts_, *parts_});
  orchestrator_->on_operation_finished([this](const agents::Operation& op) {
    if (!parts_->replaying)
      spdlog::info("operation={} app={} revision={} finished succeeded={} failed={} timed_out={} canceled={}", op.id,
                   op.app, op.to_revision, op.succeeded, op.failed, op.timed_out, op.canceled);
  });
  replay();

  Parts& p = *parts_;
  p.control.on_message = [this](const agents::Message& m) {
    parts_->frozen = parts_->live_now();
    record({{"t", parts_->frozen}, {"message", json::parse(encode(m))}}, false);
    orchestrator_->on_message(m);
  };
  p.control.on_send_failed = [this](agents::NodeId node, const agents::Message& m) {
    parts_->frozen = parts_->live_now();
    record({{"t", parts_->frozen}, {"send_failed", node}, {"message", json::parse(encode(m))}}, false);
    orchestrator_->on_send_failed(node, m);
  };
  p.control.on_node_connected = [this](agents::NodeId node) {
    spdlog::info("node={} connected", node);
    parts_->frozen = parts_->live_now();
    record({{"t", parts_->frozen}, {"connected", node}}, false);
    orchestrator_->on_node_connected(node);
  };
  p.control.on_error = [](const std::string& e) { spdlog::warn("{}", e); };
  p.http = std::make_unique<HttpServer>(
      io_, tcp::endpoint(asio::ip::make_address(config_.http_host), config_.http_port), [this](const HttpRequest& r) {
        auto error = [](unsigned status, const std::string& what) {
          return HttpResponse{status, json{{"error", what}}.dump(), "application/json", {}};
        };
        std::string path = r.target.substr(0, r.target.find('?'));
        if (path.size() > 1 && path.back() == '/') path.pop_back();
        if (path == "/healthz") return HttpResponse{200, "ok\n", "text/plain", {}};
        if (path == "/v1/nodes" || path == "/v1/apps" || path == "/v1/operations" || path.rfind("/v1/operations/", 0) == 0) {
          if (path == "/v1/operations" && r.method == "POST") {
            json body;
            try {
              body = json::parse(r.body);
            } catch (const json::exception& e) {
              return error(400, std::string("request body: not JSON: ") + e.what());
            }
            try {
              const agents::Command command = command_from_json(body, "request body");
              const std::uint32_t id = submit(command);
              const agents::Operation& op = orchestrator_->operations().at(id - 1);
              return HttpResponse{201, operation_json(op, false).dump(), "application/json", "/v1/operations/" + std::to_string(id)};
            } catch (const ConfigError& e) {
              return error(400, e.what());
            }
          }
          const auto& ops = orchestrator_->operations();
          // POST /v1/operations/<id>/abort ({"revert": true} to go back), POST /v1/operations/<id>/revert
          for (const std::string action : {"/abort", "/revert"}) {
            if (path.size() <= action.size() || path.compare(path.size() - action.size(), action.size(), action) != 0) continue;
            if (r.method != "POST") return error(405, r.method + " " + path + ": not allowed (POST)");
            const std::string id_text = path.substr(15, path.size() - 15 - action.size());
            const auto id = operation_id(id_text, ops.size());
            if (!id) return error(404, "no operation " + id_text);
            bool revert_too = false;
            if (action == "/abort" && !r.body.empty()) {
              try {
                const json body = json::parse(r.body);
                Keys k(body, "", "request body");
                if (const json* v = k.find("revert")) {
                  if (!v->is_boolean()) k.fail("revert", "must be true or false");
                  revert_too = v->get<bool>();
                }
                k.done();
              } catch (const json::exception& e) {
                return error(400, std::string("request body: not JSON: ") + e.what());
              } catch (const ConfigError& e) {
                return error(400, e.what());
              }
            }
            const auto refused = action == "/abort" ? abort(*id, revert_too) : revert(*id);
            if (refused) return error(409, *refused);
            const agents::Operation& done = orchestrator_->operations().at(*id - 1);
            if (done.rolled_back_by) {
              const std::string where = "/v1/operations/" + std::to_string(*done.rolled_back_by);
              return HttpResponse{201, operation_json(orchestrator_->operations().at(*done.rolled_back_by - 1), false).dump(),
                                  "application/json", where};
            }
            return HttpResponse{200, operation_json(done, false).dump(), "application/json", {}};
          }
          if (r.method != "GET") return error(405, r.method + " " + path + ": not allowed");
          if (path == "/v1/nodes") return HttpResponse{200, nodes_json().dump(), "application/json", {}};
          if (path == "/v1/apps") return HttpResponse{200, apps_json().dump(), "application/json", {}};
          if (path == "/v1/operations") {
            json list = json::array();
            for (const auto& op : ops) list.push_back(operation_json(op, false));
            return HttpResponse{200, json{{"operations", list}}.dump(), "application/json", {}};
          }
          const std::string id_text = path.substr(std::string("/v1/operations/").size());
          const auto id = operation_id(id_text, ops.size());
          if (!id) return error(404, "no operation " + id_text);
          return HttpResponse{200, operation_json(ops[*id - 1], true).dump(), "application/json", {}};
        }
        return error(404, "no route " + r.method + " " + path);
      });
}

OrchestratorHost::~OrchestratorHost() {
  if (parts_ && parts_->journal) std::fclose(parts_->journal);
}

agents::Clock& OrchestratorHost::live_clock() const { return parts_->live; }
double OrchestratorHost::epoch_unix_s() const { return parts_->epoch_s; }

unsigned short OrchestratorHost::control_port() const { return parts_->control.port(); }
unsigned short OrchestratorHost::http_port() const { return parts_->http->port(); }
std::size_t OrchestratorHost::connected() const { return parts_->control.connected(); }

void OrchestratorHost::stop() {
  parts_->control.stop();
  parts_->http->stop();
}

// Appends one input to the journal. A submitted command is flushed to the disk before it is acted on (fdatasync):
// an operator's request must not be lost. Nodes' reports are flushed to the kernel only: lost in a power cut, they
// come back when the restarted orchestrator sends the desired state again and the nodes report again.
void OrchestratorHost::record(json entry, bool sync) {
  const std::string line = entry.dump() + "\n";
  if (std::fwrite(line.data(), 1, line.size(), parts_->journal) != line.size() || std::fflush(parts_->journal) != 0)
    throw std::runtime_error("cannot write the journal " + config_.journal.string());
  if (sync) ::fdatasync(::fileno(parts_->journal));
}

std::uint32_t OrchestratorHost::submit(const agents::Command& command) {
  parts_->frozen = parts_->live_now();
  record({{"t", parts_->frozen}, {"submit", command_json(command)}}, true);
  const std::uint32_t id = orchestrator_->submit(command);
  const agents::Operation& op = orchestrator_->operations().at(id - 1);
  spdlog::info("operation={} {} app={} revision={} targets={}", id, op.kind == agents::Command::Kind::deploy ? "deploy" : "rollout",
               op.app, op.to_revision, op.targets.size());
  return id;
}

std::optional<std::string> OrchestratorHost::abort(std::uint32_t id, bool revert) {
  parts_->frozen = parts_->live_now();
  record({{"t", parts_->frozen}, {"abort", id}, {"revert", revert}}, true);
  auto refused = orchestrator_->abort(id, revert);
  if (!refused) spdlog::info("operation={} aborted{}", id, revert ? " with revert" : "");
  return refused;
}

std::optional<std::string> OrchestratorHost::revert(std::uint32_t id) {
  parts_->frozen = parts_->live_now();
  record({{"t", parts_->frozen}, {"revert_operation", id}}, true);
  auto refused = orchestrator_->revert(id);
  if (!refused) spdlog::info("operation={} reverted", id);
  return refused;
}

void OrchestratorHost::replay() {
  Parts& p = *parts_;
  std::vector<std::string> lines;
  std::uintmax_t good_bytes = 0;  // the journal's bytes up to the end of its last whole line
  bool torn = false;              // bytes after the last newline: a write a crash cut short
  if (std::filesystem::exists(config_.journal)) {
    std::ifstream in(config_.journal, std::ios::binary);
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    std::size_t begin = 0;
    for (std::size_t nl; (nl = text.find('\n', begin)) != std::string::npos; begin = nl + 1) lines.push_back(text.substr(begin, nl - begin));
    good_bytes = begin;
    torn = begin < text.size();
    if (torn) spdlog::warn("{}: its last line is incomplete (a crash while writing it): dropped", config_.journal.string());
  }
  const std::string where = config_.journal.string();
  p.replaying = true;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string at = where + ":" + std::to_string(i + 1);
    json entry;
    try {
      entry = json::parse(lines[i]);
    } catch (const json::exception&) {
      throw ConfigError(at + ": not JSON");
    }
    if (i == 0) {
      if (!entry.is_object() || entry.value("journal", "") != "fleetsim-orchestrator" || entry.value("v", 0) != 1 ||
          !entry.contains("epoch_unix_s") || !entry["epoch_unix_s"].is_number())
        throw ConfigError(at + ": not a fleetsim-orchestrator journal (version 1)");
      p.epoch_s = entry["epoch_unix_s"].get<double>();
      // The journal's inputs only mean the same thing for the inventory they were handled with.
      if (entry.contains("inventory") && entry["inventory"] != inventory_json(config_.inventory))
        throw ConfigError(at + ": the journal was written for another inventory than the configuration's (nodes, sites, "
                               "labels or capacities changed): start with a new journal, or restore that inventory");
      continue;
    }
    try {
      if (!entry.is_object() || !entry.contains("t") || !entry["t"].is_number()) throw ConfigError("key 't': missing");
      p.frozen = entry["t"].get<double>();
      if (entry.contains("submit")) {
        orchestrator_->submit(command_from_json(entry["submit"], at));
      } else if (entry.contains("abort")) {
        orchestrator_->abort(entry["abort"].get<std::uint32_t>(), entry.value("revert", false));
      } else if (entry.contains("revert_operation")) {
        orchestrator_->revert(entry["revert_operation"].get<std::uint32_t>());
      } else if (entry.contains("send_failed")) {
        orchestrator_->on_send_failed(entry["send_failed"].get<agents::NodeId>(), decode(entry.at("message").dump()));
      } else if (entry.contains("message")) {
        orchestrator_->on_message(decode(entry["message"].dump()));
      } else if (entry.contains("connected")) {
        orchestrator_->on_node_connected(entry["connected"].get<agents::NodeId>());
      } else if (entry.contains("timer")) {
        orchestrator_->on_timer(entry["timer"].get<agents::TimerId>());
      } else if (entry.contains("restart")) {
        p.next_replay_timer = 1;  // that process's timers were numbered from 1 again
        orchestrator_->on_restart();
      } else {
        throw ConfigError("no input (submit, abort, revert_operation, message, send_failed, connected, timer, restart)");
      }
    } catch (const ConfigError& e) {
      throw ConfigError(at + ": " + e.what());
    } catch (const std::exception& e) {
      throw ConfigError(at + ": " + e.what());
    }
    ++replayed_;
  }
  p.replaying = false;

  // A torn last write is cut off (the input it held never happened), then the journal grows from its last whole line.
  const bool fresh = lines.empty();
  if (torn) std::filesystem::resize_file(config_.journal, good_bytes);
  if (!config_.journal.parent_path().empty()) std::filesystem::create_directories(config_.journal.parent_path());
  p.journal = std::fopen(config_.journal.c_str(), "a");
  if (p.journal == nullptr) throw ConfigError(where + ": cannot be opened for writing");
  if (fresh) {
    p.epoch_s = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    record({{"journal", "fleetsim-orchestrator"}, {"v", 1}, {"epoch_unix_s", p.epoch_s}, {"inventory", inventory_json(config_.inventory)}},
           true);
  } else {
    // This process is a restart of the one that wrote the journal: its timers are gone, the nodes must hear again.
    p.frozen = p.live_now();
    record({{"t", p.frozen}, {"restart", true}}, true);
    orchestrator_->on_restart();
  }
}

json OrchestratorHost::nodes_json() const {
  json out = json::array();
  for (const auto& n : config_.inventory) {
    json node{{"id", n.id}, {"name", n.name}, {"site", n.site}, {"labels", n.labels}};
    out.push_back(node);
  }
  return json{{"nodes", out}, {"connected", parts_->control.connected()}};
}

json OrchestratorHost::apps_json() const {
  std::map<std::string, json> apps;
  for (const auto& op : orchestrator_->operations()) {
    auto& app = apps[op.app];
    app["app"] = op.app;
    if (auto rev = orchestrator_->desired_revision(op.app)) app["desired_revision"] = *rev;
    app["last_operation"] = op.id;
  }
  json out = json::array();
  for (auto& [name, app] : apps) out.push_back(app);
  return json{{"apps", out}};
}

}  // namespace fleetsim::net
