#include "fleetsim/net/agent_host.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <set>
#include <sstream>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "fleetsim/checks/node_recorder.hpp"
#include "fleetsim/models/units.hpp"
#include "fleetsim/net/asio_ports.hpp"
#include "fleetsim/net/control.hpp"
#include "fleetsim/net/layer_store.hpp"
#include "fleetsim/net/wire.hpp"
#include "json_keys.hpp"

namespace fleetsim::net {

namespace asio = boost::asio;
using json = nlohmann::json;

AgentHostConfig parse_agent_host_config(const std::string& text, const std::string& origin) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    throw ConfigError(origin + ": not JSON: " + e.what());
  }
  AgentHostConfig c;
  Keys top(doc, "", origin);
  {
    const std::string at = top.string("orchestrator", top.need("orchestrator"));
    const auto colon = at.rfind(':');
    int port = 0;
    try {
      port = colon == std::string::npos ? 0 : std::stoi(at.substr(colon + 1));
    } catch (const std::exception&) {
    }
    if (colon == std::string::npos || colon == 0 || port <= 0 || port > 65535)
      top.fail("orchestrator", "'" + at + "' is not host:port");
    c.orchestrator_host = at.substr(0, colon);
    c.orchestrator_port = static_cast<unsigned short>(port);
  }
  {
    Keys reg(top.need("registry"), "registry", origin);
    c.registry.url = reg.string("url", reg.need("url"));
    try {
      HttpUrl::parse(c.registry.url);
    } catch (const std::invalid_argument& e) {
      reg.fail("registry.url", e.what());
    }
    c.registry.repository = reg.string("repository", reg.need("repository"));
    if (c.registry.repository.empty()) reg.fail("registry.repository", "must not be empty");
    if (const json* v = reg.find("idle_timeout")) {
      const double s = reg.duration("idle_timeout", *v);
      if (!(s > 0) || s > 86400) reg.fail("registry.idle_timeout", "must be above 0 and at most a day");
      c.registry.idle_timeout = std::chrono::milliseconds(static_cast<long long>(s * 1000));
    }
    reg.done();
  }
  c.state_dir = top.string("state_dir", top.need("state_dir"));
  {
    const json& nodes = top.need("nodes");
    if (nodes.is_array()) {
      for (const auto& id : nodes) {
        if (!id.is_number_unsigned() || id.get<std::uint64_t>() > 0xffffffffULL) top.fail("nodes", "ids must be integers 0..4294967295");
        c.nodes.push_back(id.get<agents::NodeId>());
      }
    } else {
      Keys range(nodes, "nodes", origin);
      const double first = range.number("first", range.need("first"), 0);
      const double count = range.number("count", range.need("count"), 1);
      if (first != static_cast<double>(static_cast<std::uint64_t>(first)) || count != static_cast<double>(static_cast<std::uint64_t>(count)) ||
          first + count - 1 > 4294967295.0)
        range.fail("nodes", "first and count must be whole numbers within the 32-bit id range");
      if (count > 10000) range.fail("nodes.count", "at most 10000 agents in one process");
      for (std::uint64_t i = 0; i < static_cast<std::uint64_t>(count); ++i)
        c.nodes.push_back(static_cast<agents::NodeId>(static_cast<std::uint64_t>(first) + i));
      range.done();
    }
    if (c.nodes.empty()) top.fail("nodes", "no node to host");
    std::set<agents::NodeId> unique(c.nodes.begin(), c.nodes.end());
    if (unique.size() != c.nodes.size()) top.fail("nodes", "an id appears twice");
  }
  if (const json* v = top.find("seed")) {
    if (!v->is_number_unsigned()) top.fail("seed", "must be a non-negative integer");
    c.seed = v->get<std::uint64_t>();
  }
  if (const json* v = top.find("uplink")) {
    try {
      c.uplink_bytes_per_s = models::parse_rate(top.string("uplink", *v)).bytes_per_s;
    } catch (const models::UnitError& e) {
      top.fail("uplink", e.what());
    }
    if (!(c.uplink_bytes_per_s > 0)) top.fail("uplink", "must be above 0 (leave it out for no limit)");
  }
  if (const json* v = top.find("agent")) {
    Keys a(*v, "agent", origin);
    if (const json* d = a.find("disk")) c.agent.disk_bytes = a.bytes("disk", *d);
    if (const json* d = a.find("max_concurrent_downloads")) c.agent.max_concurrent_downloads = static_cast<unsigned>(a.number("max_concurrent_downloads", *d, 1));
    if (const json* d = a.find("max_fetch_attempts")) c.agent.max_fetch_attempts = static_cast<unsigned>(a.number("max_fetch_attempts", *d, 1));
    if (const json* d = a.find("retry_initial")) c.agent.retry_initial_s = a.duration("retry_initial", *d);
    if (const json* d = a.find("retry_max")) c.agent.retry_max_s = a.duration("retry_max", *d);
    if (const json* d = a.find("notify_jitter")) c.agent.notify_jitter_s = a.duration("notify_jitter", *d);
    if (const json* d = a.find("verification_window")) c.agent.verification_window_s = a.duration("verification_window", *d);
    if (const json* d = a.find("poll_interval")) c.agent.poll_interval_s = a.duration("poll_interval", *d);
    if (const json* d = a.find("local_rollback")) {
      if (!d->is_boolean()) a.fail("agent.local_rollback", "must be true or false");
      c.agent.local_rollback = d->get<bool>();
    }
    if (const json* d = a.find("stop_grace")) {
      const double s = a.duration("stop_grace", *d);
      if (s > 86400) a.fail("agent.stop_grace", "must be at most a day");
      c.stop_grace = std::chrono::milliseconds(static_cast<long long>(s * 1000));
    }
    if (const json* d = a.find("reconnect_initial")) c.reconnect_initial_s = a.duration("reconnect_initial", *d);
    if (const json* d = a.find("reconnect_max")) c.reconnect_max_s = a.duration("reconnect_max", *d);
    a.done();
    if (c.agent.retry_initial_s <= 0 || c.agent.retry_max_s < c.agent.retry_initial_s)
      a.fail("agent.retry_initial", "must be > 0 and at most agent.retry_max");
    if (c.reconnect_initial_s <= 0 || c.reconnect_max_s < c.reconnect_initial_s)
      a.fail("agent.reconnect_initial", "must be > 0 and at most agent.reconnect_max");
  }
  if (c.agent.disk_bytes == 0) top.fail("agent.disk", "missing: the layer store's budget (e.g. \"20GiB\")");
  {
    const json& apps = top.need("apps");
    if (!apps.is_object() || apps.empty()) top.fail("apps", "must map each app to its command");
    for (auto it = apps.begin(); it != apps.end(); ++it) {
      Keys app(it.value(), "apps." + it.key(), origin);
      AppCommand cmd;
      cmd.argv = strings(app, "command", app.need("command"));
      if (const json* p = app.find("probe")) {
        cmd.probe_url = app.string("probe", *p);
        try {
          HttpUrl::parse(cmd.probe_url);
        } catch (const std::invalid_argument& e) {
          app.fail(app.path("probe"), e.what());
        }
      }
      if (const json* r = app.find("ready_file")) {
        if (!r->is_boolean()) app.fail(app.path("ready_file"), "must be true or false");
        cmd.ready_file = r->get<bool>();
        if (cmd.ready_file && !cmd.probe_url.empty()) app.fail(app.path("ready_file"), "and probe: use one of them");
      }
      if (const json* e = app.find("env")) {
        if (!e->is_object()) app.fail(app.path("env"), "must map names to strings");
        for (auto kv = e->begin(); kv != e->end(); ++kv) {
          if (!kv.value().is_string()) app.fail(app.path("env." + kv.key()), "must be a string");
          cmd.env[kv.key()] = kv.value().get<std::string>();
        }
      }
      app.done();
      c.apps[it.key()] = std::move(cmd);
    }
  }
  top.done();
  return c;
}

AgentHostConfig load_agent_host_config(const std::filesystem::path& path) {
  return parse_agent_host_config(read_config_file(path), path.string());
}

namespace {

json release_on_disk(const agents::Release& r) { return json::parse(encode(agents::DesiredState{0, r, false})); }
agents::Release release_from_disk(const json& v) { return std::get<agents::DesiredState>(decode(v.dump())).release; }

}  // namespace

json disk_json(const agents::NodeAgentDisk& disk) {
  json apps = json::object();
  for (const auto& [name, app] : disk.apps) {
    json a{{"failed", app.failed}, {"last_generation", app.last_generation}};
    if (app.running) a["running"] = release_on_disk(*app.running);
    if (app.previous) a["previous"] = release_on_disk(*app.previous);
    if (app.target) a["target"] = json::parse(encode(*app.target));
    apps[name] = a;
  }
  json layers = json::object();
  for (const auto& [digest, layer] : disk.layers) layers[digest] = {layer.size_bytes, layer.have_bytes};
  return {{"v", 1}, {"apps", apps}, {"layers", layers}};
}

agents::NodeAgentDisk disk_from_json(const std::string& text, const std::string& origin) {
  agents::NodeAgentDisk disk;
  try {
    const json doc = json::parse(text);
    if (doc.value("v", 0) != 1) throw ConfigError(origin + ": key 'v': version 1 expected");
    for (const auto& [name, a] : doc.at("apps").items()) {
      agents::NodeAgentDisk::App& app = disk.apps[name];
      app.failed = a.at("failed").get<bool>();
      app.last_generation = a.at("last_generation").get<std::uint64_t>();
      if (a.contains("running")) app.running = release_from_disk(a["running"]);
      if (a.contains("previous")) app.previous = release_from_disk(a["previous"]);
      if (a.contains("target")) app.target = std::get<agents::DesiredState>(decode(a["target"].dump()));
    }
    for (const auto& [digest, layer] : doc.at("layers").items())
      disk.layers[digest] = {layer.at(0).get<std::uint64_t>(), layer.at(1).get<std::uint64_t>()};
  } catch (const ConfigError&) {
    throw;
  } catch (const std::exception& e) {
    throw ConfigError(origin + ": not a node's state (" + e.what() + "); move it away to start the node empty");
  }
  return disk;
}

// Calls in order, each `delay_s` after it was pushed (a constant delay keeps them in order): a path's latency.
// Destroying it drops what is still waiting.
class DelayLine {
 public:
  DelayLine(asio::io_context& io, double delay_s) : timer_(io), delay_(delay_s) {}
  ~DelayLine() { *alive_ = false; }
  void push(std::function<void()> fn) {
    if (!(delay_ > 0)) return fn();
    queue_.push_back({std::chrono::steady_clock::now() + to_duration(delay_), std::move(fn)});
    if (queue_.size() == 1) arm();
  }

 private:
  static std::chrono::steady_clock::duration to_duration(double s) {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s));
  }
  void arm() {
    timer_.expires_at(queue_.front().first);
    timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
      if (ec || !*alive) return;
      while (!queue_.empty() && queue_.front().first <= std::chrono::steady_clock::now()) {
        auto fn = std::move(queue_.front().second);
        queue_.pop_front();
        fn();
        if (!*alive) return;  // fn may end the node
      }
      if (!queue_.empty()) arm();
    });
  }
  asio::steady_timer timer_;
  double delay_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::function<void()>>> queue_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// One hosted node: the NodeAgent and its ports. Members are built in order; the agent last, since the callbacks of
// the others reach it (they run only from the io_context, after construction).
struct AgentHost::Node final : agents::NodeChannel {
  Node(asio::io_context& io, const AgentHostConfig& config, agents::NodeId node_id, const asio::ip::tcp::endpoint& orchestrator,
       agents::Clock& host_clock, std::size_t index, const std::function<void(const checks::Record&)>& sink)
      : id(node_id), clock(host_clock), recorder(index, [&sink](const checks::Record& r) {
          if (sink) sink(r);
        }), dir(config.state_dir / ("node-" + std::to_string(node_id))), store(dir / "layers"),
        random(config.seed, "node-" + std::to_string(node_id)),
        timers(io, [this](agents::TimerId t) {
          agent->on_timer(t);
          save();
        }),
        channel(io, node_id, orchestrator),
        outgoing(io, config.control_latency_s),
        incoming(io, config.control_latency_s),
        registry(io, config.registry, store, [this](agents::TransferId t, const agents::FetchResult& r) {
          if (!r.ok) spdlog::info("node={} pull failed: {}", this->id, r.error);
          bytes_pulled += r.bytes_received;
          agent->on_fetch_done(t, r);
          save();
        }),
        runtime(
            io,
            [this, &config](const agents::Release& release) {
              auto it = config.apps.find(release.app);
              if (it == config.apps.end()) throw std::runtime_error("no command configured for app " + release.app);
              ProcessSpec spec;
              spec.argv = it->second.argv;
              spec.probe_url = it->second.probe_url;
              spec.env = it->second.env;
              if (it->second.ready_file) {
                std::filesystem::create_directories(dir / "run");
                spec.ready_file = (dir / "run" / (release.app + ".ready")).string();
                spec.probe_period = std::chrono::milliseconds(50);
              }
              spec.env["FLEETSIM_NODE"] = std::to_string(this->id);
              std::string layers;
              for (const auto& layer : release.layers) layers += (layers.empty() ? "" : ":") + store.path(layer.digest).string();
              spec.env["FLEETSIM_LAYERS"] = layers;
              std::filesystem::create_directories(dir / "logs");
              spec.log_path = (dir / "logs" / (release.app + ".log")).string();
              if (config.adjust_process) config.adjust_process(this->id, release, spec);
              return spec;
            },
            [this](const std::string& app, agents::ContainerEvent e) {
              spdlog::info("node={} app={} process {}", this->id, app, e == agents::ContainerEvent::started ? "ready" : "exited");
              agent->on_container_event(app, e);
              save();
            },
            config.stop_grace) {
    sync_to_disk = config.sync_to_disk;
    agents::NodeAgentConfig agent_config = config.agent;
    agent_config.id = node_id;
    agent = std::make_unique<agents::NodeAgent>(agent_config, agents::NodeAgentPorts{clock, random, timers, *this, registry, runtime});
    channel.on_message = [this](const agents::Message& m) {
      incoming.push([this, m] {
        recorder.message(clock.now(), *agent, m, [&] { agent->on_message(m); });
        save();
      });
    };
    channel.on_send_failed = [this](const agents::Message& m) {
      agent->on_send_failed(m);
      save();
    };
    // A process that ran before this one left the node's disk: the node reboots from it. Its app processes, if the
    // daemon was killed without stopping them, are ended first (a restart is a reboot: nothing survives but disk).
    if (const std::size_t killed = ProcessRuntime::kill_recorded(dir / "pids"))
      spdlog::info("node={} ended {} app process(es) left by the previous run", node_id, killed);
    runtime.record_in(dir / "pids");
    const std::filesystem::path state = dir / "agent-state.json";
    if (std::filesystem::exists(state)) {
      agent->restore(disk_from_json(read_config_file(state), state.string()));
      saved = disk_json(agent->disk()).dump();
      rebooted = true;
    }
    channel.on_connected = [this] { spdlog::info("node={} connected", this->id); };
    channel.on_disconnected = [this](const std::string& why) { spdlog::info("node={} disconnected: {}", this->id, why); };
  }
  // Logs each status report (the agent's progress, one structured line), then sends it.
  void send_to_orchestrator(const agents::Message& m) override {
    if (const auto* s = std::get_if<agents::StatusReport>(&m)) recorder.status(clock.now(), *agent, *s);
    if (const auto* s = std::get_if<agents::StatusReport>(&m))
      spdlog::info("node={} app={} revision={} state={}{}{}", s->node, s->app, s->revision, agents::to_string(s->state),
                   s->reason == agents::FailureReason::none ? "" : std::string(" reason=") + agents::to_string(s->reason),
                   s->detail.empty() ? "" : " detail=\"" + s->detail + "\"");
    outgoing.push([this, m] { channel.send_to_orchestrator(m); });
  }

  // Writes what the agent keeps on disk when it changed (atomically: a new file renamed over the old one).
  void save() {
    recorder.disk(clock.now(), *agent);
    std::string text = disk_json(agent->disk()).dump();
    if (text == saved) return;
    const std::filesystem::path state = dir / "agent-state.json", next = dir / "agent-state.json.new";
    // The new state reaches the disk before it replaces the old one: a crash leaves one or the other, whole.
    std::FILE* out = std::fopen(next.c_str(), "w");
    const std::string line = text + "\n";
    const bool written = out != nullptr && std::fwrite(line.data(), 1, line.size(), out) == line.size() &&
                         std::fflush(out) == 0 && (!sync_to_disk || ::fsync(::fileno(out)) == 0);
    if (out != nullptr) std::fclose(out);
    if (!written) throw std::runtime_error("node " + std::to_string(id) + ": cannot write " + next.string());
    std::filesystem::rename(next, state);
    saved = std::move(text);
  }

  agents::NodeId id;
  bool sync_to_disk = true;
  std::uint64_t bytes_pulled = 0;  // layer bytes received over HTTP, resumed and failed pulls included
  agents::Clock& clock;
  checks::NodeRecorder recorder;
  std::filesystem::path dir;
  std::string saved;
  bool rebooted = false;
  LayerStore store;
  SeededRandom random;
  AsioTimers timers;
  ControlClient channel;
  DelayLine outgoing, incoming;  // the control path's emulated latency, each way
  HttpRegistry registry;
  ProcessRuntime runtime;
  std::unique_ptr<agents::NodeAgent> agent;
};

AgentHost::AgentHost(asio::io_context& io, AgentHostConfig config, agents::Clock* clock)
    : io_(io), config_(std::move(config)) {
  if (clock == nullptr) {
    own_clock_ = std::make_unique<SteadyClock>();
    clock = own_clock_.get();
  }
  clock_ = clock;
  asio::ip::tcp::resolver resolver(io_);
  const auto endpoints = resolver.resolve(config_.orchestrator_host, std::to_string(config_.orchestrator_port));
  if (endpoints.empty()) throw ConfigError("orchestrator " + config_.orchestrator_host + ": no address");
  orchestrator_ = *endpoints.begin();
  if (config_.open_socket && !config_.registry.open_socket) config_.registry.open_socket = config_.open_socket;
  if (config_.uplink_bytes_per_s > 0) uplink_ = std::make_shared<TokenBucket>(io_, config_.uplink_bytes_per_s, 64 << 10);
  pulled_before_.assign(config_.nodes.size(), 0);
  for (std::size_t k = 0; k < config_.nodes.size(); ++k) nodes_.push_back(make_node(k));
}

AgentHost::~AgentHost() = default;

std::unique_ptr<AgentHost::Node> AgentHost::make_node(std::size_t index) {
  auto node = std::make_unique<Node>(io_, config_, config_.nodes[index], orchestrator_, *clock_, index, sink_);
  node->registry.limit(uplink_);
  node->channel.open_socket = config_.open_socket;
  return node;
}

void AgentHost::start_node(Node& node) {
  if (node.rebooted) {
    spdlog::info("node={} boots from its disk", node.id);
    node.agent->on_boot();
    node.recorder.power(node.clock.now(), *node.agent, true);
    node.save();
  } else {
    node.agent->start();
  }
  if (!registry_up_) node.registry.set_reachable(false);
  if (!uplink_up_) {
    node.registry.set_reachable(false);
    return;  // it connects when the uplink is back
  }
  node.channel.reconnect(config_.reconnect_initial_s, config_.reconnect_max_s);
  node.channel.connect();
}

void AgentHost::record_to(std::function<void(const checks::Record&)> sink) { sink_ = std::move(sink); }

void AgentHost::start() {
  for (auto& node : nodes_)
    if (node) start_node(*node);
}

void AgentHost::stop() {
  for (auto& node : nodes_) {
    if (!node) continue;
    node->channel.disconnect();
    for (const auto& [app, cmd] : config_.apps) node->runtime.stop_container(app);
  }
}

void AgentHost::crash(std::size_t index) {
  auto& node = nodes_.at(index);
  if (!node) return;
  spdlog::info("node={} loses power", node->id);
  node->recorder.power(node->clock.now(), *node->agent, false);
  pulled_before_[index] += node->bytes_pulled;
  // Its processes are killed (SIGKILL, as a power cut ends them), its pulls and its connection end with it; what
  // it wrote to its directory stays: the layers, partial ones included, and its last saved state.
  node.reset();
}

void AgentHost::boot(std::size_t index) {
  if (nodes_.at(index)) return;
  nodes_[index] = make_node(index);  // restores the state it saved (agent-state.json): rebooted
  start_node(*nodes_[index]);
}

bool AgentHost::up(std::size_t index) const { return nodes_.at(index) != nullptr; }

void AgentHost::set_uplink(bool up) {
  if (up == uplink_up_) return;
  uplink_up_ = up;
  for (auto& node : nodes_) {
    if (!node) continue;
    node->registry.set_reachable(up && registry_up_);
    if (up) {
      node->channel.reconnect(config_.reconnect_initial_s, config_.reconnect_max_s);
      node->channel.connect();
    } else {
      node->channel.disconnect();  // and no reconnection until the uplink is back
    }
  }
}

void AgentHost::set_uplink_rate(double bytes_per_s) {
  if (!uplink_) throw std::logic_error("set_uplink_rate: this host has no uplink limit (uplink_bytes_per_s = 0)");
  uplink_->set_rate(bytes_per_s);
}

void AgentHost::set_registry_reachable(bool reachable) {
  if (reachable == registry_up_) return;
  registry_up_ = reachable;
  for (auto& node : nodes_)
    if (node) node->registry.set_reachable(reachable && uplink_up_);
}

std::size_t AgentHost::connected() const {
  std::size_t n = 0;
  for (const auto& node : nodes_) n += node && node->channel.connected() ? 1 : 0;
  return n;
}

std::size_t AgentHost::stopping() const {
  std::size_t n = 0;
  for (const auto& node : nodes_) n += node ? node->runtime.stopping() : 0;
  return n;
}

const agents::NodeAgent& AgentHost::agent(std::size_t index) const {
  if (!nodes_.at(index)) throw std::logic_error("node " + std::to_string(config_.nodes[index]) + " is down");
  return *nodes_[index]->agent;
}

std::uint64_t AgentHost::bytes_pulled(std::size_t index) const {
  return pulled_before_.at(index) + (nodes_[index] ? nodes_[index]->bytes_pulled : 0);
}

}  // namespace fleetsim::net
