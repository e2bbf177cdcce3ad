// The network of an emulated fleet, made of Linux network namespaces (docs/EMULATE.md, "Shaping"): a hub namespace
// that routes between the registry's namespace, the orchestrator's, and one namespace per site, each joined to the
// hub by a veth pair. Each link is shaped by the kernel (tc tbf) at the scenario's rates: a site's downlink on the
// hub's end, its uplink on the site's end, the registry's egress on the registry's end. Traffic is real kernel TCP:
// its sharing of a link, its headers and acknowledgements, its queueing. This kernel's tc has no netem: latency
// stays at application level (the agents wait it). Built by `ip` and `tc` (Debian's iproute2) as root; every
// namespace is deleted with the object, and those of an emulation whose process is gone at the next start.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "fleetsim/net/netns.hpp"

namespace fleetsim::emulate {

// This machine cannot build the namespaces (not root, no iproute2, a kernel without veth or tbf): why.
class NamespacesUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class SiteNetwork {
 public:
  // A link's goodput for TCP payload, each way; 0: not shaped.
  struct Link {
    double down_bytes_per_s = 0;  // towards the site's nodes
    double up_bytes_per_s = 0;    // from them
  };
  // Builds the namespaces, links and shaping; `log_dir` keeps the commands' output. NamespacesUnavailable if the
  // machine cannot; std::runtime_error if a later step fails (everything built so far is removed again).
  SiteNetwork(const std::vector<Link>& sites, double registry_egress_bytes_per_s, const std::filesystem::path& log_dir);
  ~SiteNetwork();
  SiteNetwork(const SiteNetwork&) = delete;
  SiteNetwork& operator=(const SiteNetwork&) = delete;

  const net::Netns& registry() const { return *registry_; }
  const net::Netns& orchestrator() const { return *orchestrator_; }
  std::shared_ptr<net::Netns> site(std::size_t i) const { return sites_.at(i); }
  static constexpr const char* kRegistryAddress = "198.18.0.2";      // RFC 2544's benchmarking range:
  static constexpr const char* kOrchestratorAddress = "198.18.0.3";  // no real host has these addresses
  std::string site_address(std::size_t i) const;

  // The site's link goes down (its nodes' connections find no route) or comes back.
  void set_cut(std::size_t site, bool cut);
  // The site's downlink runs at this goodput from now on (fault.degrade).
  void set_down_rate(std::size_t site, double bytes_per_s);

  // Deletes the namespaces of emulations whose process has ended (a killed run cannot delete its own).
  static void remove_stale();

 private:
  void run(const std::vector<std::string>& argv, const std::string& batch = "");
  void remove_all() noexcept;
  std::string prefix_;
  std::filesystem::path log_dir_;
  std::vector<std::string> names_;  // every namespace made, to delete
  std::shared_ptr<net::Netns> registry_, orchestrator_;
  std::vector<std::shared_ptr<net::Netns>> sites_;
  std::vector<double> down_;
  unsigned commands_ = 0;
};

}  // namespace fleetsim::emulate
