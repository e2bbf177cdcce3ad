// What the writers of reports/src share and do not publish.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "fleetsim/reports/run_result.hpp"

namespace fleetsim::reports {

// report.json's content (write_report_json dumps it; report.html embeds it).
nlohmann::ordered_json report_json(const RunResult& result);
// Writes a file whole: to a temporary name, renamed into place; throws std::runtime_error naming the path.
void write_file(const std::string& path, const std::string& content);

namespace html_assets {
std::string run_page();  // reports/html/run_report.html
std::string run_js();    // reports/html/run_report.js
std::string chart_js();  // Chart.js, from Debian's libjs-chart.js
}  // namespace html_assets

}  // namespace fleetsim::reports
