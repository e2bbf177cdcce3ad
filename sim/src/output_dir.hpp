// The --out directory of a run: checked writable before anything is simulated, cleared of a previous run's reports
// (so that nothing stale sits beside the new ones, and a run killed midway leaves no old "pass" behind), and
// written file by file, each to a temporary name renamed into place, report.json last.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "fleetsim/reports/run_result.hpp"

namespace fleetsim::sim {

class OutputDir {
 public:
  explicit OutputDir(std::string path, bool html = true) : path_(std::move(path)), html_(html) {}

  // Creates the directory, proves it writable and removes the reports a previous run left. The problem, if any.
  std::optional<std::string> prepare();
  // Writes every report of the run; returns their names ("report.json, nodes.csv, ...") or nullopt if one failed
  // (the reason is on stderr).
  std::optional<std::string> write(reports::RunResult& result);
  // A scenario that could not be loaded or started: junit.xml with the error, so CI shows a failed test.
  void write_error(const std::string& scenario_file, const std::string& message);

  // Every file a run may write there.
  static const std::vector<std::string>& report_names();

 private:
  std::string path_;
  bool html_ = true;  // write report.html (--no-html: not)
};

}  // namespace fleetsim::sim
