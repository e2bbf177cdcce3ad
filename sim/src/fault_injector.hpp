// Faults: the scripted windows of the timeline (resolved to their targets from the scenario and the seed) and the
// random on/off outage processes of the site templates, injected into the platform and the actors. A site's uplink
// is down while any window covers it. Runs its own event loop; stop_and_close() (from the timeline actor at the
// end of the run) ends every window still open at that instant.
#pragma once

#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "fleetsim/models/rng.hpp"
#include "site_bus.hpp"
#include "fleet_plan.hpp"
#include "world.hpp"

namespace fleetsim::sim {

class FaultInjector {
 public:
  FaultInjector(World& world, std::vector<reports::FaultWindow> scripted);

  bool has_work() const;
  void run();
  void stop_and_close();
  // The windows that were injected (scripted ones whose start the run reached, and every random outage).
  std::vector<reports::FaultWindow> injected() const;
  // Scripted faults whose start the run never reached, by index into the scenario's faults.
  std::vector<std::size_t> never_injected() const;

 private:
  void schedule_next_outage(const PlatformSite& site);
  void open(std::size_t w);
  void close(std::size_t w);
  // Starts (on = true) or ends the fault of `window` on one target.
  void apply(const reports::FaultWindow& window, const std::string& target, bool on);
  void uplink(const PlatformSite& site, bool down);
  void registry(bool down);
  SiteBus* bus_on(std::size_t node) const;
  void apply_bandwidth(const PlatformSite& site);
  void links_changed(std::initializer_list<const simgrid::s4u::Link*> links);

  World& world_;
  EventLoop loop_;
  std::vector<reports::FaultWindow> windows_;
  std::vector<bool> open_;
  std::vector<bool> injected_;
  std::vector<int> down_count_;  // per site index
  std::vector<double> degrade_;  // per site index
  int registry_down_ = 0;
  std::vector<int> gpu_down_;  // per node
  std::map<std::string, const PlatformSite*> site_by_name_;
  std::map<std::string, std::size_t> node_by_name_;
  std::map<std::size_t, models::RandomStream> streams_;  // per site index, for random outages
};

}  // namespace fleetsim::sim
