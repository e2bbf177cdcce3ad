#include "fleetsim/models/units.hpp"

#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

namespace fleetsim::models {
namespace {

struct UnitEntry {
  std::string_view name;
  long double factor;
};

// Splits "12.5MiB" into a non-negative decimal number and the unit text that follows it. The number grammar is
// digits [ '.' digits ] [ e|E [+-] digits ], parsed exactly enough for every value that fits a double.
struct NumberAndUnit {
  long double value;
  std::string_view unit;
};

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

NumberAndUnit split_number(std::string_view text, std::string_view what) {
  // Leading and trailing blanks are forgiven; blanks inside are not ("20 Mbps" is accepted, "2 0Mbps" is not).
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (text.empty()) throw UnitError("empty " + std::string(what));
  if (text.front() == '-') throw UnitError(std::string(what) + " " + quoted(text) + " is negative");
  std::size_t i = 0;
  long double mantissa = 0;
  int digits = 0;
  int frac_digits = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    mantissa = mantissa * 10 + (text[i] - '0');
    ++i;
    ++digits;
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      mantissa = mantissa * 10 + (text[i] - '0');
      ++i;
      ++frac_digits;
    }
  }
  if (digits + frac_digits == 0)
    throw UnitError(std::string(what) + " " + quoted(text) + " does not start with a number");
  int exponent = -frac_digits;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E') && i + 1 < text.size() &&
      (text[i + 1] == '+' || text[i + 1] == '-' || (text[i + 1] >= '0' && text[i + 1] <= '9'))) {
    ++i;
    int sign = 1;
    if (text[i] == '+' || text[i] == '-') {
      sign = text[i] == '-' ? -1 : 1;
      ++i;
    }
    int e = 0;
    int e_digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (e < 100000) e = e * 10 + (text[i] - '0');
      ++i;
      ++e_digits;
    }
    if (e_digits == 0) throw UnitError(std::string(what) + " " + quoted(text) + " has an empty exponent");
    exponent += sign * e;
  }
  long double value = mantissa * std::pow(10.0L, static_cast<long double>(exponent));
  if (!std::isfinite(static_cast<double>(value)))
    throw UnitError(std::string(what) + " " + quoted(text) + " is too large");
  std::string_view unit = text.substr(i);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  return {value, unit};
}

template <std::size_t N>
long double lookup_unit(std::string_view text, std::string_view unit, const std::array<UnitEntry, N>& table,
                        std::string_view what, std::string_view accepted) {
  if (unit.empty())
    throw UnitError(std::string(what) + " " + quoted(text) + " has no unit (expected one of " + std::string(accepted) +
                    ")");
  for (const auto& entry : table)
    if (entry.name == unit) return entry.factor;
  throw UnitError("unknown unit " + quoted(unit) + " in " + std::string(what) + " " + quoted(text) +
                  " (expected one of " + std::string(accepted) + ")");
}

constexpr long double kKi = 1024.0L;

const std::array<UnitEntry, 13> kByteUnits{{{"B", 1},
                                            {"kB", 1e3L},
                                            {"KB", 1e3L},
                                            {"MB", 1e6L},
                                            {"GB", 1e9L},
                                            {"TB", 1e12L},
                                            {"PB", 1e15L},
                                            {"KiB", kKi},
                                            {"MiB", kKi* kKi},
                                            {"GiB", kKi* kKi* kKi},
                                            {"TiB", kKi* kKi* kKi* kKi},
                                            {"PiB", kKi* kKi* kKi* kKi* kKi},
                                            {"bytes", 1}}};

const std::array<UnitEntry, 18> kRateUnits{{{"bps", 1.0L / 8},
                                            {"kbps", 1e3L / 8},
                                            {"Kbps", 1e3L / 8},
                                            {"Mbps", 1e6L / 8},
                                            {"Gbps", 1e9L / 8},
                                            {"Tbps", 1e12L / 8},
                                            {"B/s", 1},
                                            {"kB/s", 1e3L},
                                            {"KB/s", 1e3L},
                                            {"MB/s", 1e6L},
                                            {"GB/s", 1e9L},
                                            {"KiB/s", kKi},
                                            {"MiB/s", kKi* kKi},
                                            {"GiB/s", kKi* kKi* kKi},
                                            {"Bps", 1},
                                            {"KBps", 1e3L},
                                            {"MBps", 1e6L},
                                            {"GBps", 1e9L}}};

const std::array<UnitEntry, 9> kDurationUnits{{{"ns", 1e-9L},
                                               {"us", 1e-6L},
                                               {"ms", 1e-3L},
                                               {"s", 1},
                                               {"m", 60},
                                               {"min", 60},
                                               {"h", 3600},
                                               {"d", 86400},
                                               {"w", 7 * 86400}}};

constexpr std::string_view kByteAccepted = "B, kB, MB, GB, TB, PB, KiB, MiB, GiB, TiB, PiB";
constexpr std::string_view kRateAccepted =
    "bps, kbps, Mbps, Gbps, Tbps (bits); B/s, kB/s, MB/s, GB/s, KiB/s, MiB/s, GiB/s, Bps, KBps, MBps, GBps (bytes)";
constexpr std::string_view kDurationAccepted = "ns, us, ms, s, m, min, h, d, w";

}  // namespace

Bytes parse_bytes(std::string_view text) {
  auto [value, unit] = split_number(text, "size");
  long double factor = lookup_unit(text, unit, kByteUnits, "size", kByteAccepted);
  long double bytes = value * factor;
  // 2^64 is exactly representable in long double; anything at or above it does not fit.
  if (bytes >= 18446744073709551616.0L) throw UnitError("size " + quoted(text) + " is too large (over 16 EiB)");
  // round() is exact on integral values (floor(x + 0.5) is not above 2^63); the tolerance covers only the few ulps of
  // error of the decimal-to-binary conversion, so "1000000.5B" or "0.0000001B" are refused, not rounded.
  long double rounded = std::round(bytes);
  if (std::fabs(bytes - rounded) > std::max(1e-9L, 8 * LDBL_EPSILON * bytes))
    throw UnitError("size " + quoted(text) + " is not a whole number of bytes");
  return Bytes{static_cast<std::uint64_t>(rounded)};
}

Rate parse_rate(std::string_view text) {
  auto [value, unit] = split_number(text, "rate");
  long double factor = lookup_unit(text, unit, kRateUnits, "rate", kRateAccepted);
  long double bps = value * factor;
  // In bytes per second, and with room for Rate::bits_per_s() (fuzz/units_fuzz found "1e300Gbps" formatted as
  // "inf Gbps").
  if (bps > static_cast<long double>(std::numeric_limits<double>::max()) / 8)
    throw UnitError("rate " + quoted(text) + " is too large");
  return Rate{static_cast<double>(bps)};
}

Duration parse_duration(std::string_view text) {
  // A chain of <number><unit> components: "90s", "1h30m", "1d 12h".
  std::string_view rest = text;
  long double total = 0;
  bool any = false;
  while (true) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (rest.empty() && any) break;
    auto [value, unit_and_more] = split_number(rest, "duration");
    std::size_t unit_len = 0;
    while (unit_len < unit_and_more.size() && ((unit_and_more[unit_len] >= 'a' && unit_and_more[unit_len] <= 'z') ||
                                               (unit_and_more[unit_len] >= 'A' && unit_and_more[unit_len] <= 'Z')))
      ++unit_len;
    std::string_view unit = unit_and_more.substr(0, unit_len);
    if (unit.empty() && !unit_and_more.empty())
      throw UnitError("unexpected " + quoted(unit_and_more) + " in duration " + quoted(text));
    long double factor = lookup_unit(text, unit, kDurationUnits, "duration", kDurationAccepted);
    total += value * factor;
    any = true;
    rest = unit_and_more.substr(unit_len);
  }
  if (total > static_cast<long double>(std::numeric_limits<double>::max()) ||
      !std::isfinite(static_cast<double>(total)))
    throw UnitError("duration " + quoted(text) + " is too large");
  if (total > 0 && static_cast<double>(total) == 0)
    throw UnitError("duration " + quoted(text) + " is too small (rounds to zero)");
  return Duration{static_cast<double>(total)};
}

Frequency parse_frequency(std::string_view text) {
  auto [value, unit] = split_number(text, "frequency");
  if (unit.empty() || unit.front() != '/')
    throw UnitError("frequency " + quoted(text) + " must be written <number>/<unit>, e.g. '5/s' or '12/min'");
  unit.remove_prefix(1);
  const std::array<UnitEntry, 5> units{{{"s", 1}, {"m", 60}, {"min", 60}, {"h", 3600}, {"d", 86400}}};
  long double per = lookup_unit(text, unit, units, "frequency", "/s, /m, /min, /h, /d");
  return Frequency{static_cast<double>(value / per)};
}

std::string format_bytes(double bytes) {
  const std::array<std::pair<const char*, double>, 5> units{
      {{"TiB", 1099511627776.0}, {"GiB", 1073741824.0}, {"MiB", 1048576.0}, {"KiB", 1024.0}, {"B", 1.0}}};
  char buf[64];
  for (const auto& [name, size] : units) {
    if (bytes >= size || size == 1.0) {
      std::snprintf(buf, sizeof buf, size == 1.0 ? "%.0f %s" : "%.2f %s", bytes / size, name);
      return buf;
    }
  }
  return "0 B";
}

std::string format_rate(Rate rate) {
  double bps = rate.bits_per_s();
  char buf[64];
  if (bps >= 1e9)
    std::snprintf(buf, sizeof buf, "%.3g Gbps", bps / 1e9);
  else if (bps >= 1e6)
    std::snprintf(buf, sizeof buf, "%.3g Mbps", bps / 1e6);
  else if (bps >= 1e3)
    std::snprintf(buf, sizeof buf, "%.3g kbps", bps / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.3g bps", bps);
  return buf;
}

std::string format_duration(double seconds) {
  char buf[64];
  if (std::isnan(seconds)) return "nan";
  if (seconds < 0) return "-" + format_duration(-seconds);
  if (std::isinf(seconds)) return "inf";
  if (seconds >= 1e14) {
    // Past ~3 million years a double no longer holds the count of tenths of a second exactly, and soon after that
    // count overflows llround (fuzz/units_fuzz found "1e18s" printed as "-33m00.-8s"): six significant digits instead.
    std::snprintf(buf, sizeof buf, "%.6gs", seconds);
    return buf;
  }
  if (std::round(seconds * 1000) < 60000) {
    std::snprintf(buf, sizeof buf, "%.3fs", seconds);
  } else {
    // Round once, to tenths, before splitting, so that 119.96 s is 2m00.0s and never 1m60.0s.
    long long tenths = std::llround(seconds * 10);
    long long h = tenths / 36000;
    long long m = (tenths % 36000) / 600;
    long long t = tenths % 600;
    if (h > 0)
      std::snprintf(buf, sizeof buf, "%lldh%02lldm%02lld.%llds", h, m, t / 10, t % 10);
    else
      std::snprintf(buf, sizeof buf, "%lldm%02lld.%llds", m, t / 10, t % 10);
  }
  return buf;
}

}  // namespace fleetsim::models
