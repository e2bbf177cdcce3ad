// Helpers for tests that run the fleetsim binary the way a user or CI does (SimGrid allows one engine per
// process, so every simulation runs in its own process).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fleetsim::testing {

struct RunOutput {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
  std::string dir;  // the --out directory
};

// A fresh directory under the test temp dir.
std::string fresh_dir(const std::string& name);
// Writes a scenario file and returns its path.
std::string write_scenario(const std::string& dir, const std::string& name, const std::string& lua);
// Runs `fleetsim run <scenario> <args...> --out <dir> --no-progress -q`.
RunOutput run_fleetsim(const std::string& scenario, const std::vector<std::string>& args, const std::string& out_dir);
// Runs fleetsim with exactly these arguments (for usage errors).
RunOutput run_raw(const std::vector<std::string>& args);
std::string read_file(const std::string& path);
nlohmann::json read_report(const RunOutput& run);
// nodes.csv as rows of column -> text.
std::vector<std::vector<std::string>> read_csv(const std::string& path, std::vector<std::string>* header);
std::string source_path(const std::string& relative);
// What xmllint finds wrong with a junit.xml against the Jenkins xUnit JUnit schema (tests/junit-10.xsd); empty if
// it validates. Also checks that the suite's tests, failures and errors count its test cases, failures and errors.
std::string junit_problems(const std::string& path);
// Index of a column of nodes.csv by its header name (fails the test if absent).
std::size_t column(const std::vector<std::string>& header, const std::string& name);

// The share of a line rate that a TCP transfer's payload gets by default (docs/ENGINE.md, "Wire efficiency"): 1448 B
// of payload per 1500-byte IPv4 packet with TCP timestamps, plus the Ethernet header a shaped uplink counts (14 B),
// or plus header, FCS, preamble and inter-frame gap an Ethernet port counts (38 B: LAN, registry, orchestrator).
inline constexpr double kUplinkEfficiency = 1448.0 / (1500.0 + 14.0);
inline constexpr double kPortEfficiency = 1448.0 / (1500.0 + 38.0);

// From a layer's request to its first byte over a route of one-way latency `one_way_s` (docs/ENGINE.md, "Connection
// set-up"): a new connection's handshakes (by default TCP's and TLS 1.3's, one round trip each), then the request's
// round trip; on a reused connection, `connect_rtts` = 0.
inline double first_byte_s(double one_way_s, double connect_rtts = 2) { return (connect_rtts + 1) * 2 * one_way_s; }

}  // namespace fleetsim::testing
