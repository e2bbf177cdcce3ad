// fleetsim's HTML reports (docs/REPORTS.md): self-contained pages, Chart.js and the data inlined.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fleetsim::reports {

// A run's report.html, built from the run directory's report.json, nodes.csv, telemetry.csv and junit.xml. Throws
// std::runtime_error naming the file (and line) that is missing or malformed.
std::string report_html_of(const std::string& run_dir);

// sweep.html: sweep.json's content, the metrics to chart (the sweep's metrics of interest) and, per point id, a
// link relative to the page to that point's report.html.
void write_sweep_html(const nlohmann::ordered_json& sweep, const std::vector<std::string>& shown,
                      const std::map<std::string, std::string>& links, const std::string& path);

// Per operation of a run directory, its completion curve as report.html has it (name, targeted, healthy_s, ranks).
nlohmann::ordered_json completion_curves(const std::string& run_dir);

// compare.html: the comparison's data (baseline, current, kind, result, rows of metrics, and for two runs their
// curves: {"baseline": completion_curves, "current": ...}).
void write_compare_html(const nlohmann::ordered_json& comparison, const std::string& path);

}  // namespace fleetsim::reports
