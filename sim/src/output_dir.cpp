#include "output_dir.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace fleetsim::sim {

namespace fs = std::filesystem;

const std::vector<std::string>& OutputDir::report_names() {
  static const std::vector<std::string> names{"report.json",         "nodes.csv",            "junit.xml",
                                              "events.jsonl",        "states.csv",           "network.csv",
                                              "telemetry.csv",       "telemetry_sites.csv",  "telemetry_drains.csv",
                                              "report.html"};
  return names;
}

std::optional<std::string> OutputDir::prepare() {
  std::error_code ec;
  fs::create_directories(path_, ec);
  if (ec) return "cannot create it (" + ec.message() + ")";
  if (!fs::is_directory(path_, ec)) return "is not a directory";
  const fs::path probe = fs::path(path_) / (".fleetsim-probe-" + std::to_string(getpid()));
  {
    std::ofstream out(probe);
    if (!out || !(out << "probe") || !(out.flush())) return "cannot write files there";
  }
  fs::remove(probe, ec);
  for (const auto& name : report_names()) {
    fs::remove(fs::path(path_) / name, ec);
    if (ec) return "cannot remove the previous run's " + name + " (" + ec.message() + ")";
  }
  return std::nullopt;
}

std::optional<std::string> OutputDir::write(reports::RunResult& result) {
  using Writer = void (*)(const reports::RunResult&, const std::string&);
  std::vector<std::pair<std::string, Writer>> writers{{"nodes.csv", reports::write_nodes_csv},
                                                      {"junit.xml", reports::write_junit_xml},
                                                      {"events.jsonl", reports::write_events_jsonl}};
  if (!result.states.empty()) writers.emplace_back("states.csv", reports::write_states_csv);
  if (!result.network.empty()) writers.emplace_back("network.csv", reports::write_network_csv);
  if (!result.telemetry.empty()) {
    writers.emplace_back("telemetry.csv", reports::write_telemetry_csv);
    writers.emplace_back("telemetry_sites.csv", reports::write_telemetry_sites_csv);
    writers.emplace_back("telemetry_drains.csv", reports::write_telemetry_drains_csv);
  }
  if (html_) writers.emplace_back("report.html", reports::write_report_html);
  // report.json comes last and lists every file of the run: its presence says the run's reports are complete.
  writers.insert(writers.begin(), {"report.json", reports::write_report_json});
  result.files.clear();
  for (const auto& writer : writers) result.files.push_back(writer.first);
  std::rotate(writers.begin(), writers.begin() + 1, writers.end());
  bool failed = false;
  for (const auto& [name, write] : writers) {
    try {
      write(result, (fs::path(path_) / name).string());
    } catch (const std::exception& e) {
      std::cerr << "fleetsim: " << e.what() << "\n";
      failed = true;
    }
  }
  if (failed) return std::nullopt;
  std::string names;
  for (const auto& name : result.files) names += (names.empty() ? "" : ", ") + name;
  return names;
}

void OutputDir::write_error(const std::string& scenario_file, const std::string& message) {
  try {
    reports::write_junit_error((fs::path(path_) / "junit.xml").string(), scenario_file, message);
  } catch (const std::exception& e) {
    std::cerr << "fleetsim: " << e.what() << "\n";
  }
}

}  // namespace fleetsim::sim
