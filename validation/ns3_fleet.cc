// The packet-level twin of a fleetsim rollout (issue 15, validation/README.md): the same registry, egress, site
// uplinks, LAN ports and nodes, in ns-3 with TCP CUBIC over drop-tail queues of one bandwidth-delay product, and the
// same pulls: each node opens `parallel` connections to the registry and asks for its layers one after another on
// them (an HTTP GET of `request_bytes`, answered by the layer's bytes; keep-alive), starting when fleetsim's node was
// notified. Prints, as JSON, when each node asked and when its last layer's last byte arrived, and the wall time.
//
//   ns3_fleet case.json > result.json
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ns3/core-module.h"
#include "ns3/internet-module.h"
#include "ns3/network-module.h"
#include "ns3/point-to-point-module.h"
#include "ns3/traffic-control-module.h"

using namespace ns3;
using json = nlohmann::json;

namespace {

constexpr uint16_t kPort = 80;

// ---- the registry: answers each request (its first 8 bytes: the layer's size) with that many bytes -------------
struct ServerConn {
  std::string pending;  // request bytes not yet parsed
  uint64_t to_send = 0;
};
std::map<Socket*, ServerConn> g_server;
uint32_t g_request_bytes = 200;

void server_fill(Ptr<Socket> s) {
  ServerConn& c = g_server[PeekPointer(s)];
  while (c.to_send > 0 && s->GetTxAvailable() > 0) {
    const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>({c.to_send, s->GetTxAvailable(), 65536}));
    const int sent = s->Send(Create<Packet>(n));
    if (sent <= 0) break;
    c.to_send -= static_cast<uint64_t>(sent);
  }
}

void server_send(Ptr<Socket> s, uint32_t) { server_fill(s); }

void server_recv(Ptr<Socket> s) {
  ServerConn& c = g_server[PeekPointer(s)];
  while (Ptr<Packet> p = s->Recv()) {
    std::string bytes(p->GetSize(), '\0');
    p->CopyData(reinterpret_cast<uint8_t*>(bytes.data()), p->GetSize());
    c.pending += bytes;
    while (c.pending.size() >= g_request_bytes) {
      uint64_t size = 0;
      std::memcpy(&size, c.pending.data(), sizeof size);
      c.pending.erase(0, g_request_bytes);
      c.to_send += size;
    }
  }
  server_fill(s);
}

void server_accept(Ptr<Socket> s, const Address&) {
  g_server[PeekPointer(s)] = ServerConn{};
  s->SetRecvCallback(MakeCallback(&server_recv));
  s->SetSendCallback(MakeCallback(&server_send));
}

// ---- the nodes: `parallel` connections each, taking the node's next layer when the previous one has arrived ----
struct NodeState {
  std::string name;
  Ptr<Node> node;
  double start_s = 0;
  std::deque<uint64_t> layers;  // not yet asked for
  std::size_t total = 0, done = 0;
  int parallel = 3;
  double finish_s = -1;
};
struct ClientConn {
  NodeState* node = nullptr;
  uint64_t expecting = 0, got = 0;
};
std::vector<NodeState> g_nodes;
std::map<Socket*, ClientConn> g_client;
Ipv4Address g_registry;

void client_request_next(Ptr<Socket> s) {
  ClientConn& c = g_client[PeekPointer(s)];
  if (c.node->layers.empty()) {
    s->Close();
    return;
  }
  c.expecting = c.node->layers.front();
  c.node->layers.pop_front();
  c.got = 0;
  std::vector<uint8_t> request(g_request_bytes, 0);
  std::memcpy(request.data(), &c.expecting, sizeof c.expecting);
  s->Send(Create<Packet>(request.data(), g_request_bytes));
}

void client_recv(Ptr<Socket> s) {
  ClientConn& c = g_client[PeekPointer(s)];
  while (Ptr<Packet> p = s->Recv()) c.got += p->GetSize();
  if (c.expecting > 0 && c.got >= c.expecting) {
    c.expecting = 0;
    if (++c.node->done == c.node->total) c.node->finish_s = Simulator::Now().GetSeconds();
    client_request_next(s);
  }
}

void client_connected(Ptr<Socket> s) { client_request_next(s); }
void client_failed(Ptr<Socket>) { std::cerr << "ns3_fleet: a connection failed\n"; }

void start_node(std::size_t index) {
  NodeState& n = g_nodes[index];
  const int connections = std::min<int>(n.parallel, static_cast<int>(n.layers.size()));
  for (int k = 0; k < connections; ++k) {
    Ptr<Socket> s = Socket::CreateSocket(n.node, TcpSocketFactory::GetTypeId());
    g_client[PeekPointer(s)] = ClientConn{&n};
    s->SetConnectCallback(MakeCallback(&client_connected), MakeCallback(&client_failed));
    s->SetRecvCallback(MakeCallback(&client_recv));
    s->Bind();
    s->Connect(InetSocketAddress(g_registry, kPort));
  }
}

// ---- the platform ------------------------------------------------------------------------------------------------
struct Links {
  Ipv4AddressHelper addresses;
  Links() { addresses.SetBase("10.0.0.0", "255.255.255.252"); }
  // A link a -> b of `a_to_b_bps` (and b -> a of `b_to_a_bps`), one-way `delay_s`, each side's queue `queue_packets`.
  NetDeviceContainer connect(Ptr<Node> a, Ptr<Node> b, double a_to_b_bps, double b_to_a_bps, double delay_s,
                             uint32_t queue_packets) {
    PointToPointHelper p2p;
    p2p.SetChannelAttribute("Delay", TimeValue(Seconds(delay_s)));
    p2p.SetQueue("ns3::DropTailQueue<Packet>", "MaxSize",
                 QueueSizeValue(QueueSize(QueueSizeUnit::PACKETS, std::max<uint32_t>(queue_packets, 4))));
    NetDeviceContainer devices = p2p.Install(a, b);
    DynamicCast<PointToPointNetDevice>(devices.Get(0))->SetDataRate(DataRate(static_cast<uint64_t>(a_to_b_bps)));
    DynamicCast<PointToPointNetDevice>(devices.Get(1))->SetDataRate(DataRate(static_cast<uint64_t>(b_to_a_bps)));
    addresses.Assign(devices);
    addresses.NewNetwork();
    TrafficControlHelper().Uninstall(devices);  // the device's drop-tail queue is the only one (no FqCoDel)
    return devices;
  }
};

// One bandwidth-delay product of a link, in 1500-byte packets, for paths of round-trip time rtt_s.
uint32_t bdp_packets(double bps, double rtt_s) { return static_cast<uint32_t>(std::ceil(bps * rtt_s / (1500 * 8))); }

void lossy(NetDeviceContainer devices, double loss, uint32_t& stream) {
  if (loss <= 0) return;
  for (uint32_t d = 0; d < devices.GetN(); ++d) {
    Ptr<RateErrorModel> em = CreateObject<RateErrorModel>();
    em->SetAttribute("ErrorRate", DoubleValue(loss));
    em->SetAttribute("ErrorUnit", EnumValue(RateErrorModel::ERROR_UNIT_PACKET));
    em->AssignStreams(stream++);
    devices.Get(d)->SetAttribute("ReceiveErrorModel", PointerValue(em));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: ns3_fleet case.json\n";
    return 2;
  }
  std::ifstream in(argv[1]);
  const json c = json::parse(in);
  RngSeedManager::SetSeed(c.value("seed", 1u));
  g_request_bytes = c.value("request_bytes", 200u);
  Config::SetDefault("ns3::TcpL4Protocol::SocketType", StringValue("ns3::TcpCubic"));
  Config::SetDefault("ns3::TcpSocket::SegmentSize", UintegerValue(c.value("mss", 1448u)));
  // Buffers of TCP-gamma (SimGrid's window cap, 4 MiB): the window bounds a flow as gamma / RTT does in fleetsim.
  Config::SetDefault("ns3::TcpSocket::SndBufSize", UintegerValue(4u << 20));
  Config::SetDefault("ns3::TcpSocket::RcvBufSize", UintegerValue(4u << 20));
  // Linux's minimum retransmission timeout (TCP_RTO_MIN, 200 ms), not ns-3's default of 1 s (RFC 6298's), and its
  // delayed-ACK timeout (TCP_ATO_MIN, 40 ms), not ns-3's 200 ms, which would then fire retransmission timeouts.
  Config::SetDefault("ns3::TcpSocketBase::MinRto", TimeValue(MilliSeconds(200)));
  Config::SetDefault("ns3::TcpSocket::DelAckTimeout", TimeValue(MilliSeconds(40)));

  const json& reg = c["registry"];
  const json& lan = c["lan"];
  Ptr<Node> registry = CreateObject<Node>(), core = CreateObject<Node>();
  NodeContainer all(registry, core);
  std::vector<Ptr<Node>> routers;
  for (std::size_t s = 0; s < c["sites"].size(); ++s) routers.push_back(CreateObject<Node>());
  std::size_t node_count = 0;
  for (const auto& site : c["sites"]) node_count += site["nodes"].size();
  g_nodes.reserve(node_count);
  for (auto& r : routers) all.Add(r);
  InternetStackHelper().Install(all);

  Links links;
  double max_rtt = 0;
  for (const auto& site : c["sites"])
    max_rtt = std::max(max_rtt, 2 * (reg["latency_s"].get<double>() + site["latency_s"].get<double>() +
                                     lan["latency_s"].get<double>()));
  const double egress = reg["egress_bps"];
  NetDeviceContainer reg_devices =
      links.connect(registry, core, egress, egress, reg["latency_s"], bdp_packets(egress, max_rtt));
  g_registry = reg_devices.Get(0)->GetNode()->GetObject<Ipv4>()->GetAddress(1, 0).GetLocal();
  uint32_t stream = 1000;
  for (std::size_t s = 0; s < c["sites"].size(); ++s) {
    const json& site = c["sites"][s];
    const double rtt = 2 * (reg["latency_s"].get<double>() + site["latency_s"].get<double>() +
                            lan["latency_s"].get<double>());
    const double down = site["down_bps"], up = site["up_bps"];
    NetDeviceContainer uplink = links.connect(core, routers[s], down, up, site["latency_s"], bdp_packets(down, rtt));
    lossy(uplink, site.value("loss", 0.0), stream);
    for (const auto& n : site["nodes"]) {
      NodeState state;
      state.name = n["name"];
      state.node = CreateObject<Node>();
      InternetStackHelper().Install(state.node);
      state.start_s = n["start_s"];
      for (const auto& layer : n["layers"]) state.layers.push_back(layer.get<uint64_t>());
      state.total = state.layers.size();
      state.parallel = n.value("parallel", 3);
      links.connect(routers[s], state.node, lan["bps"], lan["bps"], lan["latency_s"], bdp_packets(lan["bps"], rtt));
      g_nodes.push_back(std::move(state));
    }
  }
  Ipv4GlobalRoutingHelper::PopulateRoutingTables();

  Ptr<Socket> listener = Socket::CreateSocket(registry, TcpSocketFactory::GetTypeId());
  listener->Bind(InetSocketAddress(Ipv4Address::GetAny(), kPort));
  listener->Listen();
  listener->SetAcceptCallback(MakeNullCallback<bool, Ptr<Socket>, const Address&>(), MakeCallback(&server_accept));
  for (std::size_t i = 0; i < g_nodes.size(); ++i) Simulator::Schedule(Seconds(g_nodes[i].start_s), &start_node, i);

  const auto wall0 = std::chrono::steady_clock::now();
  Simulator::Stop(Seconds(c.value("stop_s", 36000.0)));
  Simulator::Run();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  json out;
  out["wall_s"] = wall;
  out["nodes"] = json::object();
  for (const auto& n : g_nodes)
    out["nodes"][n.name] = {{"start_s", n.start_s}, {"finish_s", n.finish_s < 0 ? json(nullptr) : json(n.finish_s)}};
  Simulator::Destroy();
  std::cout << out.dump(1) << "\n";
  return 0;
}
