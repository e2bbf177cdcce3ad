// Quantities people write in scenarios: "450MiB", "20Mbps", "60ms", "6h", "5/s".
// Parsing is strict: a missing or unknown unit, a negative value, garbage after the number, or a value that
// does not fit is an error (UnitError), never a silent zero.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace fleetsim::models {

class UnitError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A count of bytes (image layers, caches, disks).
struct Bytes {
  std::uint64_t count = 0;
  friend constexpr bool operator==(Bytes a, Bytes b) { return a.count == b.count; }
  friend constexpr bool operator<(Bytes a, Bytes b) { return a.count < b.count; }
};

// A data rate, stored in bytes per second (links are usually written in bits: "20Mbps").
struct Rate {
  double bytes_per_s = 0;
  double bits_per_s() const { return bytes_per_s * 8.0; }
  friend constexpr bool operator==(Rate a, Rate b) { return a.bytes_per_s == b.bytes_per_s; }
};

// A span of simulated time, in seconds (SimGrid's unit).
struct Duration {
  double seconds = 0;
  friend constexpr bool operator==(Duration a, Duration b) { return a.seconds == b.seconds; }
  friend constexpr bool operator<(Duration a, Duration b) { return a.seconds < b.seconds; }
};

// An event rate ("5/s", "12/min", "1/h"), in events per second.
struct Frequency {
  double per_s = 0;
};

// Byte units: B; SI kB/KB, MB, GB, TB, PB (powers of 1000); IEC KiB, MiB, GiB, TiB, PiB (powers of 1024).
Bytes parse_bytes(std::string_view text);
// Rate units: bit rates bps, kbps/Kbps, Mbps, Gbps, Tbps (powers of 1000 bits per second) and byte rates
// B/s, kB/s, MB/s, GB/s, KiB/s, MiB/s, GiB/s.
Rate parse_rate(std::string_view text);
// Duration units: ns, us, ms, s, m/min, h, d, w; components may be chained: "1h30m", "2m30s".
Duration parse_duration(std::string_view text);
// Frequency: "<number>/<unit>" with unit s, m/min, h, d.
Frequency parse_frequency(std::string_view text);

// Human-readable renderings used in summaries and error messages (not for machine output).
std::string format_bytes(double bytes);
std::string format_rate(Rate rate);
std::string format_duration(double seconds);

}  // namespace fleetsim::models
