#include "site_network.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

extern char** environ;

namespace fleetsim::emulate {

namespace {

constexpr const char* kHubAddress = "198.18.0.1";

// iproute2's tools live in /usr/sbin, which a user's PATH may not hold.
std::string tool(const std::string& name) {
  for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) {
    const std::string path = dir + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return name;
}

// tc's tbf for a link whose TCP payload should flow at `goodput_bytes_per_s`. tbf counts a packet's IP length and its
// Ethernet header: a full segment on a veth is 1514 B for 1448 B of payload (TCP/IPv4 with timestamps), so the
// token rate is the goodput times 1514 / 1448. The bucket holds 10 ms of the rate, at least 8 full packets: with
// 2 ms, a watchdog timer that fired late on a busy machine lost the tokens beyond the bucket, and 2 x 4 MiB over
// 10 Mbps took 3 % longer than the rate allows; with 128 KiB, a link idle through a round trip (the agents' latency
// wait between layers) or a degrade's new tbf got its full bucket free, and 6 layers came 2 % before the closed form.
// The queue holds 0.5 s of the rate, at least 1 MiB: with 64 KiB, the flows (whose round trip on the veths is ~0,
// the latency being the agents' wait) overflowed it, and a tail loss waited TCP's 200 ms minimum retransmission
// timeout, once 2.2 s for a 7 s pull. The price: a control message behind a full queue waits what is queued.
std::string tbf(double goodput_bytes_per_s) {
  const double wire = goodput_bytes_per_s * 1514.0 / 1448.0;
  const long long bits = std::max(8LL, std::llround(wire * 8));
  const long long burst = std::max(8LL * 1514, std::llround(wire * 0.01));
  const long long limit = std::max(1LL << 20, std::llround(wire * 0.5));
  return "tbf rate " + std::to_string(bits) + "bit burst " + std::to_string(burst) + " limit " + std::to_string(limit);
}

// Runs argv (argv[0] found in PATH), its output to `log` (or inherited when empty), and waits for it. Returns its exit
// status as waitpid gives it, or throws NamespacesUnavailable if it cannot start.
int run_and_wait(std::vector<std::string> argv, const std::string& log) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!log.empty()) {
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
  }
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0)
    throw NamespacesUnavailable("cannot run " + argv[0] + " (" + std::strerror(rc) + "): install Debian's iproute2");
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

}  // namespace

std::string SiteNetwork::site_address(std::size_t i) const {
  const std::size_t j = i + 1;  // 198.19.a.b, b in 1..250: room for 64,000 sites
  return "198.19." + std::to_string(j / 250) + "." + std::to_string(j % 250 + 1);
}

void SiteNetwork::run(const std::vector<std::string>& argv_in, const std::string& batch) {
  std::vector<std::string> argv = argv_in;
  argv[0] = tool(argv[0]);
  const std::string stem = (log_dir_ / ("command-" + std::to_string(++commands_))).string();
  if (!batch.empty()) {
    std::ofstream(stem + ".batch") << batch;
    argv.push_back("-batch");
    argv.push_back(stem + ".batch");
  }
  const std::string log = stem + ".log";
  std::string line;
  for (const auto& a : argv) line += (line.empty() ? "" : " ") + a;
  const int status = run_and_wait(argv, log);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  std::ifstream in(log);
  std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  std::ifstream commands(stem + ".batch");
  const std::string what((std::istreambuf_iterator<char>(commands)), std::istreambuf_iterator<char>());
  throw NamespacesUnavailable("`" + line + "` failed: " + (out.empty() ? "no output" : out) +
                              (what.empty() ? "" : " (its commands are in " + stem + ".batch)"));
}

SiteNetwork::SiteNetwork(const std::vector<Link>& sites, double registry_egress_bytes_per_s,
                         const std::filesystem::path& log_dir)
    : prefix_("fleetsim-" + std::to_string(::getpid()) + "-"), log_dir_(log_dir) {
  if (sites.size() > 64000) throw NamespacesUnavailable("more than 64,000 sites");
  std::filesystem::create_directories(log_dir_);
  remove_stale();
  const std::string hub = prefix_ + "hub", registry = prefix_ + "registry", orchestrator = prefix_ + "orchestrator";
  std::vector<std::string> leaves = {registry, orchestrator};
  for (std::size_t i = 0; i < sites.size(); ++i) leaves.push_back(prefix_ + "s" + std::to_string(i));
  std::string batch = "netns add " + hub + "\n";
  for (const auto& leaf : leaves) batch += "netns add " + leaf + "\n";
  try {
    run({"ip"}, batch);
  } catch (...) {
    names_ = leaves;  // whichever were made
    names_.push_back(hub);
    remove_all();
    throw;
  }
  names_ = leaves;
  names_.push_back(hub);
  try {
    // The hub: a veth to each leaf, a host route to each leaf's address, and forwarding between them.
    const std::vector<std::string> ends = [&] {
      std::vector<std::string> e = {"r", "o"};
      for (std::size_t i = 0; i < sites.size(); ++i) e.push_back("s" + std::to_string(i));
      return e;
    }();
    std::vector<std::string> addresses = {kRegistryAddress, kOrchestratorAddress};
    for (std::size_t i = 0; i < sites.size(); ++i) addresses.push_back(site_address(i));
    std::string h = "link set lo up\naddr add " + std::string(kHubAddress) + "/32 dev lo\n";
    for (std::size_t k = 0; k < leaves.size(); ++k)
      h += "link add " + ends[k] + " type veth peer name uplink netns " + leaves[k] + "\nlink set " + ends[k] +
           " up\nroute add " + addresses[k] + "/32 dev " + ends[k] + "\n";
    run({"ip", "-n", hub}, h);
    {
      const net::Netns::Enter inside(*net::Netns::open_named(hub));
      std::ofstream forward("/proc/sys/net/ipv4/ip_forward");
      forward << "1\n";
      forward.flush();
      if (!forward) throw NamespacesUnavailable("cannot turn on forwarding in " + hub);
    }
    // Each leaf: its address on its end of the veth, the hub its default route.
    for (std::size_t k = 0; k < leaves.size(); ++k)
      run({"ip", "-n", leaves[k]}, "link set lo up\naddr add " + addresses[k] + "/32 dev uplink\nlink set uplink up\n"
                                   "route add default via " + kHubAddress + " dev uplink onlink\n");
    // The shaping: a site's downlink leaves the hub on its veth end, its uplink leaves the site on the other end.
    std::string down;
    for (std::size_t i = 0; i < sites.size(); ++i)
      if (sites[i].down_bytes_per_s > 0) down += "qdisc add dev s" + std::to_string(i) + " root handle 1: " + tbf(sites[i].down_bytes_per_s) + "\n";
    if (!down.empty()) run({"tc", "-n", hub}, down);
    for (std::size_t i = 0; i < sites.size(); ++i)
      if (sites[i].up_bytes_per_s > 0)
        run({"tc", "-n", leaves[i + 2]}, "qdisc add dev uplink root handle 1: " + tbf(sites[i].up_bytes_per_s) + "\n");
    if (registry_egress_bytes_per_s > 0)
      run({"tc", "-n", registry}, "qdisc add dev uplink root handle 1: " + tbf(registry_egress_bytes_per_s) + "\n");
    registry_ = net::Netns::open_named(registry);
    orchestrator_ = net::Netns::open_named(orchestrator);
    for (std::size_t i = 0; i < sites.size(); ++i) sites_.push_back(net::Netns::open_named(leaves[i + 2]));
  } catch (const std::system_error& e) {
    remove_all();
    throw NamespacesUnavailable(e.what());
  } catch (...) {
    remove_all();
    throw;
  }
  for (const auto& s : sites) down_.push_back(s.down_bytes_per_s);
}

SiteNetwork::~SiteNetwork() { remove_all(); }

void SiteNetwork::remove_all() noexcept {
  if (names_.empty()) return;
  std::string batch;
  for (const auto& n : names_)
    if (std::filesystem::exists("/run/netns/" + n)) batch += "netns del " + n + "\n";
  names_.clear();
  try {
    if (!batch.empty()) run({"ip", "-force"}, batch);
  } catch (const std::exception&) {
    // left for remove_stale at the next start
  }
}

void SiteNetwork::set_cut(std::size_t site, bool cut) {
  const std::string& leaf = sites_.at(site)->name();
  if (cut)
    run({"ip", "-n", leaf, "link", "set", "uplink", "down"});
  else
    run({"ip", "-n", leaf}, std::string("link set uplink up\nroute replace default via ") + kHubAddress + " dev uplink onlink\n");
}

void SiteNetwork::set_down_rate(std::size_t site, double bytes_per_s) {
  const std::string dev = "s" + std::to_string(site);
  if (bytes_per_s > 0)
    run({"tc", "-n", prefix_ + "hub"}, "qdisc replace dev " + dev + " root handle 1: " + tbf(bytes_per_s) + "\n");
  else if (down_.at(site) > 0)
    run({"tc", "-n", prefix_ + "hub"}, "qdisc del dev " + dev + " root\n");
  down_.at(site) = bytes_per_s;
}

void SiteNetwork::remove_stale() {
  std::error_code ec;
  std::string batch;
  for (const auto& entry : std::filesystem::directory_iterator("/run/netns", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("fleetsim-", 0) != 0) continue;
    const std::size_t dash = name.find('-', 9);
    if (dash == std::string::npos) continue;
    const std::string pid_text = name.substr(9, dash - 9);
    if (pid_text.empty() || !std::all_of(pid_text.begin(), pid_text.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    const long pid = std::stol(pid_text);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) batch += "netns del " + name + "\n";
  }
  if (batch.empty()) return;
  const std::string path = (std::filesystem::temp_directory_path() / ("fleetsim-stale-" + std::to_string(::getpid()))).string();
  std::ofstream(path) << batch;
  try {
    run_and_wait({tool("ip"), "-force", "-batch", path}, "");
  } catch (const NamespacesUnavailable&) {
    // no ip: the constructor says so next
  }
  std::filesystem::remove(path, ec);
}

}  // namespace fleetsim::emulate
