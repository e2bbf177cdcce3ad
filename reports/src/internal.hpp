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

namespace html_assets {  // reports/html/, embedded by html/embed.cmake
std::string page();       // page.html: the template of every page
std::string style();      // report.css
std::string common_js();  // common.js: what the pages' scripts share
std::string run_js();     // run_report.js
std::string sweep_js();   // sweep_report.js
std::string compare_js(); // compare_report.js
std::string chart_js();   // Chart.js, from Debian's libjs-chart.js
}  // namespace html_assets

}  // namespace fleetsim::reports
