// The CSV files of a run's per-event and per-sample series that report.html draws beyond report.json's summary:
// telemetry_drains.csv (one row per drain after an uplink outage) and network.csv (bytes over time per link).
#include <cstdio>
#include <string>

#include "fleetsim/reports/run_result.hpp"
#include "internal.hpp"

namespace fleetsim::reports {

void write_telemetry_drains_csv(const RunResult& r, const std::string& path) {
  std::string out = "site,scope,uplink_up_at_s,backlog_bytes,drained_after_s\n";
  char buf[96];
  for (const auto& site : r.telemetry_sites)
    for (const auto& d : site.drains) {
      std::snprintf(buf, sizeof buf, ",%.3f,%llu,", d.up_at_s, static_cast<unsigned long long>(d.backlog_bytes));
      out += csv_field(site.site) + "," + csv_field(site.scope) + buf;
      if (d.drained_after_s) {
        std::snprintf(buf, sizeof buf, "%.3f", *d.drained_after_s);
        out += buf;
      }
      out += "\n";
    }
  write_file(path, out);
}

void write_network_csv(const RunResult& r, const std::string& path) {
  std::string out = "time_s,link,direction,bytes,capacity_bytes_per_s\n";
  char buf[96];
  for (std::size_t k = 0; k < r.network_times_s.size(); ++k)
    for (const auto& series : r.network) {
      std::snprintf(buf, sizeof buf, "%.3f,", r.network_times_s[k]);
      out += buf + csv_field(series.link) + "," + series.direction;
      std::snprintf(buf, sizeof buf, ",%.0f,%.0f\n", series.bytes[k], series.capacity_bytes_per_s[k]);
      out += buf;
    }
  write_file(path, out);
}

}  // namespace fleetsim::reports
