// libFuzzer target for the unit parsers and formatters (models/units.hpp). The input is one unit string, given to
// every parser. A UnitError is the expected outcome for bad input; any other exception or a sanitizer report is a
// finding, and so is a broken property:
//   - a parsed value is finite and not negative;
//   - formatting a parsed value and reading it back gives it again, within the formatter's rounding
//     (format_rate: 3 significant digits; format_duration: 1 ms under a minute, 0.1 s above, 6 significant digits past
//     1e14 s; format_bytes: 2 decimals of its unit).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "fleetsim/models/units.hpp"

namespace {

using namespace fleetsim::models;

[[noreturn]] void broken(const char* property, std::string_view input, const std::string& detail) {
  std::fprintf(stderr, "units_fuzz: %s does not hold for input '%.*s': %s\n", property, static_cast<int>(input.size()),
               input.data(), detail.c_str());
  std::abort();
}

void check_value(const char* what, std::string_view input, double value) {
  if (!std::isfinite(value) || value < 0)
    broken(what, input, "parsed to " + std::to_string(value) + ", not a finite non-negative value");
}

bool close(double a, double b, double relative, double absolute) {
  return std::fabs(a - b) <= absolute + relative * std::fmax(std::fabs(a), std::fabs(b));
}

// format_bytes writes "<number> <unit>" with a binary unit; parse_bytes refuses fractions of a byte, so read it here.
double read_formatted_bytes(const std::string& text, std::string_view input) {
  double number = 0;
  char unit[8] = {};
  if (std::sscanf(text.c_str(), "%lf %7s", &number, unit) != 2) broken("format_bytes is readable", input, text);
  for (auto [name, size] : {std::pair{"B", 1.0}, std::pair{"KiB", 1024.0}, std::pair{"MiB", 1048576.0},
                            std::pair{"GiB", 1073741824.0}, std::pair{"TiB", 1099511627776.0}})
    if (std::strcmp(unit, name) == 0) return number * size;
  broken("format_bytes uses a known unit", input, text);
}

template <typename Parse>
bool parses(Parse parse, std::string_view text) {
  try {
    parse(text);
    return true;
  } catch (const UnitError&) {
    return false;  // bad input, refused with a message: expected
  }
}

void check_bytes(std::string_view input) {
  Bytes bytes;
  if (!parses([&](std::string_view t) { bytes = parse_bytes(t); }, input)) return;
  auto value = static_cast<double>(bytes.count);
  std::string text = format_bytes(value);
  double back = read_formatted_bytes(text, input);
  // Two decimals of a unit at least 1 of which is printed: within 0.5 %; plain bytes exactly.
  if (!close(back, value, 0.005, 0.5)) broken("format_bytes round trip", input, text);
}

void check_rate(std::string_view input) {
  Rate rate;
  if (!parses([&](std::string_view t) { rate = parse_rate(t); }, input)) return;
  check_value("parse_rate", input, rate.bytes_per_s);
  std::string text = format_rate(rate);
  Rate back;
  if (!parses([&](std::string_view t) { back = parse_rate(t); }, text))
    broken("parse_rate reads format_rate", input, text);
  // Three significant digits: within 0.5 % (the absolute term covers subnormal rates).
  if (!close(back.bytes_per_s, rate.bytes_per_s, 0.005, 1e-300))
    broken("format_rate round trip", input, text + " reads back as " + std::to_string(back.bytes_per_s) + " B/s");
}

void check_duration(std::string_view input) {
  Duration duration;
  if (!parses([&](std::string_view t) { duration = parse_duration(t); }, input)) return;
  check_value("parse_duration", input, duration.seconds);
  std::string text = format_duration(duration.seconds);
  Duration back;
  if (!parses([&](std::string_view t) { back = parse_duration(t); }, text))
    broken("parse_duration reads format_duration", input, text);
  // Milliseconds under a minute, tenths above, six significant digits past 1e14 s.
  double absolute = duration.seconds < 59.9995 ? 0.0005 : 0.05;
  double relative = duration.seconds < 1e14 ? 1e-12 : 5e-6;
  if (!close(back.seconds, duration.seconds, relative, absolute * 1.000001))
    broken("format_duration round trip", input, text + " reads back as " + std::to_string(back.seconds) + " s");
}

void check_frequency(std::string_view input) {
  Frequency frequency;
  if (!parses([&](std::string_view t) { frequency = parse_frequency(t); }, input)) return;
  check_value("parse_frequency", input, frequency.per_s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  check_bytes(input);
  check_rate(input);
  check_duration(input);
  check_frequency(input);
  return 0;
}
