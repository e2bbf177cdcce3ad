// `fleetsim emulate SCENARIO.lua`: the scenario's fleet for real, on this machine, at wall-clock speed. The agents
// library's orchestrator (net/'s OrchestratorHost, its HTTP API on a free loopback port) and one node agent per node
// (one AgentHost per site, all on one io_context), pulling the scenario's layers, generated at their declared sizes,
// from a real OCI registry (Debian's docker-registry, started here) over each site's link, shaped by the kernel in
// network namespaces (site_network.hpp) where this machine allows it, else by a token bucket per site, and running
// each release as a real process that behaves as the scenario declares (start time, crash_on_start drawn as the
// simulator draws it, fail_after). The runtime records the same history as a simulated
// run; checks/ judges it unchanged, and the same reports come out. docs/EMULATE.md says what is emulated and what
// is not yet.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "fleetsim/reports/run_result.hpp"
#include "fleetsim/sim/scenario.hpp"

namespace fleetsim::emulate {

// What this machine lacks for an emulation (no docker-registry, a registry that refuses the layers, agents that
// cannot reach the orchestrator): the run cannot start; exit code 2 with this message.
class EnvironmentError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct EmulateOptions {
  std::uint64_t seed = 1;
  // Every layer size and every duration of the scenario is multiplied by this (0 < scale <= 1) for a quick check;
  // the report's times and bytes are divided by it again, so they read in the scenario's units.
  double scale = 1;
  std::string registry_url;  // an OCI registry to push to and pull from; empty: start Debian's docker-registry
  // How the sites' links are shaped. namespaces: a network namespace per site, the registry and the orchestrator
  // in theirs, links shaped by the kernel (tc tbf): real kernel TCP (root, iproute2, and the registry fleetsim
  // starts). tokens: every socket on loopback, a token bucket per site in the agents' process. automatic:
  // namespaces where this machine allows them, else tokens; the report's engine.shaping says which ran and why.
  enum class Shaping { automatic, namespaces, tokens };
  Shaping shaping = Shaping::automatic;
  std::filesystem::path work_dir;  // the orchestrator's journal, the nodes' stores and logs, the registry's data
  int verbosity = 0;               // -1 quiet ... 2 trace (the daemons' logs)
};

// Runs the scenario for real. A scenario that asks for what is not emulated yet (faults, telemetry, packet loss,
// more than 1,000 nodes) is a sim::ScenarioError naming the file:line and the key, before anything starts; a
// registry that cannot be started or filled is an EnvironmentError saying why.
reports::RunResult emulate_scenario(const sim::Scenario& scenario, const EmulateOptions& options);

// The scenario as emulate runs it: sizes and durations multiplied by `scale` (rates per minute divided by it).
sim::Scenario scaled(const sim::Scenario& scenario, double scale);

// The bytes of a generated layer: deterministic from its name, so a registry filled once serves any later run.
std::string layer_bytes(const std::string& name, std::uint64_t size);

}  // namespace fleetsim::emulate
