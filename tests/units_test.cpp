// Unit parsing and rendering (models/units.hpp). Expected values are the unit definitions themselves (1 KiB = 1024 B,
// 1 Mbps = 10^6 / 8 B/s, 1 h = 3600 s), never numbers read off the program's output.
#include "fleetsim/models/units.hpp"

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace fleetsim::models {
namespace {

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = kKiB * 1024;
constexpr std::uint64_t kGiB = kMiB * 1024;
constexpr std::uint64_t kTiB = kGiB * 1024;
constexpr std::uint64_t kPiB = kTiB * 1024;

// The message of the UnitError that parse(text) throws; records a failure if it returns or throws anything else.
template <typename Parse>
std::string unit_error(Parse parse, std::string_view text) {
  try {
    parse(text);
  } catch (const UnitError& error) {
    return error.what();
  } catch (const std::exception& error) {
    ADD_FAILURE() << "'" << text << "' threw something other than UnitError: " << error.what();
    return {};
  }
  ADD_FAILURE() << "'" << text << "' was accepted; a UnitError was expected";
  return {};
}

::testing::AssertionResult mentions(const std::string& message, std::string_view part) {
  if (message.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "message \"" << message << "\" does not mention \"" << part << "\"";
}

// ---- bytes ---------------------------------------------------------------------------------------------------------

TEST(ParseBytes, SiPrefixesArePowersOfThousand) {
  // Goal: kB/KB, MB, GB, TB, PB mean powers of 1000; method: compare with the definitions.
  EXPECT_EQ(parse_bytes("1KB").count, 1000u);
  EXPECT_EQ(parse_bytes("1kB").count, 1000u);
  EXPECT_EQ(parse_bytes("3MB").count, 3'000'000u);
  EXPECT_EQ(parse_bytes("1.5GB").count, 1'500'000'000u);
  EXPECT_EQ(parse_bytes("2TB").count, 2'000'000'000'000u);
  EXPECT_EQ(parse_bytes("1PB").count, 1'000'000'000'000'000u);
}

TEST(ParseBytes, IecPrefixesArePowersOf1024) {
  // Goal: KiB, MiB, GiB, TiB, PiB mean powers of 1024; method: compare with the definitions.
  EXPECT_EQ(parse_bytes("1KiB").count, kKiB);
  EXPECT_EQ(parse_bytes("450MiB").count, 450 * kMiB);
  EXPECT_EQ(parse_bytes("2.5KiB").count, 2 * kKiB + kKiB / 2);
  EXPECT_EQ(parse_bytes("1GiB").count, kGiB);
  EXPECT_EQ(parse_bytes("3TiB").count, 3 * kTiB);
  EXPECT_EQ(parse_bytes("1PiB").count, kPiB);
}

TEST(ParseBytes, AcceptsPlainBytesExponentsAndBlanks) {
  // Goal: the number grammar (fraction, exponent, leading '.') and forgiven blanks; method: small exact values.
  EXPECT_EQ(parse_bytes("0B").count, 0u);
  EXPECT_EQ(parse_bytes("17B").count, 17u);
  EXPECT_EQ(parse_bytes("17bytes").count, 17u);
  EXPECT_EQ(parse_bytes("1e3B").count, 1000u);
  EXPECT_EQ(parse_bytes("2E+2KB").count, 200'000u);
  EXPECT_EQ(parse_bytes("5e-1KB").count, 500u);
  EXPECT_EQ(parse_bytes(".5KB").count, 500u);
  EXPECT_EQ(parse_bytes("  450MiB\t").count, 450 * kMiB);
  EXPECT_EQ(parse_bytes("450 MiB").count, 450 * kMiB);
}

TEST(ParseBytes, AcceptsValuesUpToTheLargestUint64) {
  // Goal: every count below 2^64 ("over 16 EiB" is the documented limit) parses exactly; method: the values just
  // below the limit and an odd value above 2^63, whose neighbours in an 80-bit long double are 1 apart.
  EXPECT_EQ(parse_bytes("16383PiB").count, 16383 * kPiB);
  EXPECT_EQ(parse_bytes("18446744073709551614B").count, std::numeric_limits<std::uint64_t>::max() - 1);
  EXPECT_EQ(parse_bytes("18446744073709551615B").count, std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(parse_bytes("9223372036854775809B").count, (std::uint64_t{1} << 63) + 1);
}

TEST(ParseBytes, RejectsMissingUnit) {
  // Goal: a bare number is not silently taken as bytes; method: the message names the text and the accepted units.
  std::string message = unit_error(parse_bytes, "450");
  EXPECT_TRUE(mentions(message, "'450'"));
  EXPECT_TRUE(mentions(message, "no unit"));
  EXPECT_TRUE(mentions(message, "MiB"));
}

TEST(ParseBytes, RejectsUnknownUnits) {
  // Goal: unknown or misspelt units, including EiB (not in the table) and trailing words, are errors naming the unit.
  std::string message = unit_error(parse_bytes, "20EiB");
  EXPECT_TRUE(mentions(message, "unknown unit 'EiB'"));
  EXPECT_TRUE(mentions(message, "'20EiB'"));
  EXPECT_TRUE(mentions(unit_error(parse_bytes, "5 MiB extra"), "'MiB extra'"));
  EXPECT_TRUE(mentions(unit_error(parse_bytes, "5mib"), "'mib'"));
  EXPECT_TRUE(mentions(unit_error(parse_bytes, "5Mb"), "'Mb'"));
  EXPECT_TRUE(mentions(unit_error(parse_bytes, "2 0MB"), "'0MB'"));
  // "1eMiB": an 'e' not followed by a digit or sign is not an exponent, so it is read as part of the unit.
  EXPECT_TRUE(mentions(unit_error(parse_bytes, "1eMiB"), "'eMiB'"));
}

TEST(ParseBytes, RejectsEmptyExponent) {
  // Goal: "1e+MiB" (a sign and no digits) is reported as an empty exponent, with the text.
  std::string message = unit_error(parse_bytes, "1e+MiB");
  EXPECT_TRUE(mentions(message, "empty exponent"));
  EXPECT_TRUE(mentions(message, "'1e+MiB'"));
}

TEST(ParseBytes, RejectsNegativeEmptyAndGarbage) {
  // Goal: negative, empty and non-numeric text are errors, never zero; method: one input per case.
  std::string negative = unit_error(parse_bytes, "-5MiB");
  EXPECT_TRUE(mentions(negative, "'-5MiB'"));
  EXPECT_TRUE(mentions(negative, "negative"));
  EXPECT_TRUE(mentions(unit_error(parse_bytes, ""), "empty"));
  EXPECT_TRUE(mentions(unit_error(parse_bytes, "   "), "empty"));
  std::string garbage = unit_error(parse_bytes, "abc");
  EXPECT_TRUE(mentions(garbage, "'abc'"));
  EXPECT_TRUE(mentions(garbage, "does not start with a number"));
  EXPECT_TRUE(mentions(unit_error(parse_bytes, "MiB"), "'MiB'"));
  EXPECT_TRUE(mentions(unit_error(parse_bytes, ".MiB"), "'.MiB'"));
  EXPECT_TRUE(mentions(unit_error(parse_bytes, "+5MiB"), "'+5MiB'"));
}

TEST(ParseBytes, RejectsValuesThatDoNotFit) {
  // Goal: 2^64 bytes and more are errors ("too large"), however written; method: 2^64 exactly, a huge mantissa, and
  // an exponent beyond double range.
  EXPECT_TRUE(mentions(unit_error(parse_bytes, "16384PiB"), "too large"));  // 16384 PiB = 2^64
  EXPECT_TRUE(mentions(unit_error(parse_bytes, "18446744073709551616B"), "too large"));
  std::string huge = unit_error(parse_bytes, "99999999999PiB");
  EXPECT_TRUE(mentions(huge, "'99999999999PiB'"));
  EXPECT_TRUE(mentions(huge, "too large"));
  EXPECT_TRUE(mentions(unit_error(parse_bytes, "1e400B"), "too large"));
}

TEST(ParseBytes, RejectsFractionalBytes) {
  // Goal: a size that is not a whole number of bytes is an error, not rounded; method: fractions that no
  // floating-point error can explain, small and large.
  std::string half = unit_error(parse_bytes, "0.5B");
  EXPECT_TRUE(mentions(half, "'0.5B'"));
  EXPECT_TRUE(mentions(half, "whole number"));
  EXPECT_TRUE(mentions(unit_error(parse_bytes, "1.1B"), "whole number"));
  EXPECT_TRUE(mentions(unit_error(parse_bytes, "0.0001KB"), "whole number"));  // 0.1 B
  EXPECT_TRUE(mentions(unit_error(parse_bytes, "1000000.5B"), "whole number"));
  EXPECT_TRUE(mentions(unit_error(parse_bytes, "1.0000005KB"), "whole number"));  // 1000.0005 B
  EXPECT_TRUE(mentions(unit_error(parse_bytes, "0.0000001B"), "whole number"));
}

// ---- rates ---------------------------------------------------------------------------------------------------------

TEST(ParseRate, BitRatesAreDividedByEight) {
  // Goal: link rates written in bits are stored in bytes per second; method: 20 Mbps = 20e6 / 8 B/s.
  EXPECT_DOUBLE_EQ(parse_rate("20Mbps").bytes_per_s, 2.5e6);
  EXPECT_DOUBLE_EQ(parse_rate("20Mbps").bits_per_s(), 20e6);
  EXPECT_DOUBLE_EQ(parse_rate("8bps").bytes_per_s, 1.0);
  EXPECT_DOUBLE_EQ(parse_rate("100kbps").bytes_per_s, 100e3 / 8);
  EXPECT_DOUBLE_EQ(parse_rate("100Kbps").bytes_per_s, 100e3 / 8);
  EXPECT_DOUBLE_EQ(parse_rate("1Gbps").bytes_per_s, 1e9 / 8);
  EXPECT_DOUBLE_EQ(parse_rate("1.5Tbps").bytes_per_s, 1.5e12 / 8);
  EXPECT_DOUBLE_EQ(parse_rate(" 20 Mbps ").bytes_per_s, 2.5e6);
}

TEST(ParseRate, ByteRatesKeepTheirPrefixes) {
  // Goal: byte rates use SI or IEC prefixes like sizes; method: compare with the definitions.
  EXPECT_DOUBLE_EQ(parse_rate("1B/s").bytes_per_s, 1.0);
  EXPECT_DOUBLE_EQ(parse_rate("3kB/s").bytes_per_s, 3e3);
  EXPECT_DOUBLE_EQ(parse_rate("3MB/s").bytes_per_s, 3e6);
  EXPECT_DOUBLE_EQ(parse_rate("2GB/s").bytes_per_s, 2e9);
  EXPECT_DOUBLE_EQ(parse_rate("1KiB/s").bytes_per_s, 1024.0);
  EXPECT_DOUBLE_EQ(parse_rate("10MiB/s").bytes_per_s, 10.0 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(parse_rate("1GiB/s").bytes_per_s, 1024.0 * 1024 * 1024);
}

TEST(ParseRate, CapitalBpsIsBytesAndLowercaseIsBits) {
  // Goal: "MBps" (bytes) is eight times "Mbps" (bits), as storage and network vendors write them; method: each
  // spelling against its definition, and the error message lists both families.
  EXPECT_DOUBLE_EQ(parse_rate("1Bps").bytes_per_s, 1.0);
  EXPECT_DOUBLE_EQ(parse_rate("5KBps").bytes_per_s, 5e3);
  EXPECT_DOUBLE_EQ(parse_rate("5MBps").bytes_per_s, 5e6);
  EXPECT_DOUBLE_EQ(parse_rate("2GBps").bytes_per_s, 2e9);
  EXPECT_DOUBLE_EQ(parse_rate("5MBps").bytes_per_s, 8 * parse_rate("5Mbps").bytes_per_s);
  const std::string listed = unit_error(parse_rate, "5MBs");
  EXPECT_TRUE(mentions(listed, "MBps"));
  EXPECT_TRUE(mentions(listed, "MB/s"));
  EXPECT_TRUE(mentions(listed, "Mbps"));
}

TEST(ParseRate, RejectsBadRates) {
  // Goal: a misspelt unit ("20Mbs"), a missing unit, a negative or empty rate, and an unrepresentable one are
  // errors naming the text.
  std::string misspelt = unit_error(parse_rate, "20Mbs");
  EXPECT_TRUE(mentions(misspelt, "unknown unit 'Mbs'"));
  EXPECT_TRUE(mentions(misspelt, "'20Mbs'"));
  EXPECT_TRUE(mentions(misspelt, "Mbps"));  // lists what is accepted
  EXPECT_TRUE(mentions(unit_error(parse_rate, "20"), "no unit"));
  EXPECT_TRUE(mentions(unit_error(parse_rate, "-20Mbps"), "negative"));
  EXPECT_TRUE(mentions(unit_error(parse_rate, ""), "empty"));
  EXPECT_TRUE(mentions(unit_error(parse_rate, "fast"), "'fast'"));
  EXPECT_TRUE(mentions(unit_error(parse_rate, "20MiB"), "'MiB'"));  // a size is not a rate
  EXPECT_TRUE(mentions(unit_error(parse_rate, "1e308Tbps"), "too large"));
  EXPECT_TRUE(mentions(unit_error(parse_rate, "1e400bps"), "too large"));
  EXPECT_TRUE(mentions(unit_error(parse_rate, "1e300Gbps"), "too large"));  // 1.25e308 B/s: its bits/s overflow
}

// ---- durations -----------------------------------------------------------------------------------------------------

TEST(ParseDuration, SingleComponents) {
  // Goal: each duration unit has its documented length in seconds.
  EXPECT_DOUBLE_EQ(parse_duration("60ms").seconds, 0.06);
  EXPECT_DOUBLE_EQ(parse_duration("250us").seconds, 250e-6);
  EXPECT_DOUBLE_EQ(parse_duration("10ns").seconds, 10e-9);
  EXPECT_EQ(parse_duration("90s").seconds, 90.0);
  EXPECT_EQ(parse_duration("5m").seconds, 300.0);
  EXPECT_EQ(parse_duration("5min").seconds, 300.0);
  EXPECT_EQ(parse_duration("6h").seconds, 6 * 3600.0);
  EXPECT_EQ(parse_duration("1d").seconds, 86400.0);
  EXPECT_EQ(parse_duration("2w").seconds, 14 * 86400.0);
  EXPECT_EQ(parse_duration("1.5h").seconds, 5400.0);
  EXPECT_EQ(parse_duration("0s").seconds, 0.0);
  EXPECT_EQ(parse_duration(" 6h ").seconds, 6 * 3600.0);
  EXPECT_EQ(parse_duration("6 h").seconds, 6 * 3600.0);
}

TEST(ParseDuration, ChainedComponentsAdd) {
  // Goal: "1h30m", "2m30s", "1d 12h" are the sums of their components.
  EXPECT_EQ(parse_duration("1h30m").seconds, 5400.0);
  EXPECT_EQ(parse_duration("2m30s").seconds, 150.0);
  EXPECT_EQ(parse_duration("1d 12h").seconds, 86400.0 + 12 * 3600.0);
  EXPECT_EQ(parse_duration("1h 1m 1s").seconds, 3661.0);
  EXPECT_DOUBLE_EQ(parse_duration("1s500ms").seconds, 1.5);
}

TEST(ParseDuration, RejectsBadDurations) {
  // Goal: missing or unknown units, negative components, empty text, garbage and trailing words are errors
  // naming the offending text.
  EXPECT_TRUE(mentions(unit_error(parse_duration, "60"), "'60'"));
  EXPECT_TRUE(mentions(unit_error(parse_duration, "60"), "no unit"));
  EXPECT_TRUE(mentions(unit_error(parse_duration, "1h30"), "no unit"));  // the trailing component lacks a unit
  std::string unknown = unit_error(parse_duration, "5sec");
  EXPECT_TRUE(mentions(unknown, "unknown unit 'sec'"));
  EXPECT_TRUE(mentions(unknown, "'5sec'"));
  EXPECT_TRUE(mentions(unit_error(parse_duration, "-5s"), "negative"));
  EXPECT_TRUE(mentions(unit_error(parse_duration, "1h-30m"), "negative"));
  EXPECT_TRUE(mentions(unit_error(parse_duration, ""), "empty"));
  EXPECT_TRUE(mentions(unit_error(parse_duration, "soon"), "'soon'"));
  EXPECT_TRUE(mentions(unit_error(parse_duration, "5s extra"), "'extra'"));
  EXPECT_TRUE(mentions(unit_error(parse_duration, "1.5.5s"), "'.5s'"));
  EXPECT_TRUE(mentions(unit_error(parse_duration, "5s/"), "'/'"));
  EXPECT_TRUE(mentions(unit_error(parse_duration, "1e+s"), "empty exponent"));
}

TEST(ParseDuration, RejectsDurationsThatDoNotFit) {
  // Goal: durations beyond double range are errors, whether the number or the sum overflows.
  std::string message = unit_error(parse_duration, "1e400s");
  EXPECT_TRUE(mentions(message, "'1e400s'"));
  EXPECT_TRUE(mentions(message, "too large"));
  EXPECT_TRUE(mentions(unit_error(parse_duration, "1e308w"), "too large"));
}

TEST(ParseDuration, RejectsNonZeroDurationThatUnderflowsToZero) {
  // Goal: the header promises "never a silent zero": a positive duration too small for a double must not become 0;
  // method: 1e-400 s underflows a double.
  std::string message = unit_error(parse_duration, "1e-400s");
  EXPECT_TRUE(mentions(message, "'1e-400s'"));
}

// ---- frequencies ---------------------------------------------------------------------------------------------------

TEST(ParseFrequency, EventsPerUnitTime) {
  // Goal: "<n>/<unit>" is n divided by the unit's length in seconds.
  EXPECT_EQ(parse_frequency("5/s").per_s, 5.0);
  EXPECT_DOUBLE_EQ(parse_frequency("12/min").per_s, 12.0 / 60);
  EXPECT_DOUBLE_EQ(parse_frequency("3/m").per_s, 3.0 / 60);
  EXPECT_DOUBLE_EQ(parse_frequency("1/h").per_s, 1.0 / 3600);
  EXPECT_DOUBLE_EQ(parse_frequency("2/d").per_s, 2.0 / 86400);
  EXPECT_DOUBLE_EQ(parse_frequency("0.5/s").per_s, 0.5);
  EXPECT_EQ(parse_frequency(" 5/s ").per_s, 5.0);
  EXPECT_EQ(parse_frequency("5 /s").per_s, 5.0);
  EXPECT_EQ(parse_frequency("0/s").per_s, 0.0);
}

TEST(ParseFrequency, RejectsBadFrequencies) {
  // Goal: the "/unit" form is required, the unit must be known, and the usual number errors apply.
  std::string bare = unit_error(parse_frequency, "5");
  EXPECT_TRUE(mentions(bare, "'5'"));
  EXPECT_TRUE(mentions(bare, "<number>/<unit>"));
  EXPECT_TRUE(mentions(unit_error(parse_frequency, "5s"), "<number>/<unit>"));
  EXPECT_TRUE(mentions(unit_error(parse_frequency, "5/fortnight"), "'fortnight'"));
  EXPECT_TRUE(mentions(unit_error(parse_frequency, "5/"), "no unit"));
  EXPECT_TRUE(mentions(unit_error(parse_frequency, "-5/s"), "negative"));
  EXPECT_TRUE(mentions(unit_error(parse_frequency, ""), "empty"));
  EXPECT_TRUE(mentions(unit_error(parse_frequency, "often"), "'often'"));
}

// ---- rendering -----------------------------------------------------------------------------------------------------

TEST(FormatBytes, UsesLargestIecUnitWithTwoDecimals) {
  // Goal: sizes render in the largest IEC unit not above them, bytes as an integer.
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(1024), "1.00 KiB");
  EXPECT_EQ(format_bytes(1536), "1.50 KiB");
  EXPECT_EQ(format_bytes(450.0 * 1024 * 1024), "450.00 MiB");
  EXPECT_EQ(format_bytes(2.0 * 1024 * 1024 * 1024), "2.00 GiB");
  EXPECT_EQ(format_bytes(3.0 * 1024 * 1024 * 1024 * 1024), "3.00 TiB");
}

TEST(FormatRate, RendersBitsPerSecond) {
  // Goal: rates render in bits per second with an SI prefix, the inverse of parse_rate's bit units.
  EXPECT_EQ(format_rate(parse_rate("20Mbps")), "20 Mbps");
  EXPECT_EQ(format_rate(parse_rate("1Gbps")), "1 Gbps");
  EXPECT_EQ(format_rate(parse_rate("100kbps")), "100 kbps");
  EXPECT_EQ(format_rate(Rate{1.0}), "8 bps");
}

TEST(FormatDuration, SecondsBelowAMinuteAndHoursMinutesSecondsAbove) {
  // Goal: the documented two shapes: "S.mmms" below a minute, "[Hh]MMmSS.Ss" from a minute on; negatives get '-'.
  EXPECT_EQ(format_duration(0), "0.000s");
  EXPECT_EQ(format_duration(1.5), "1.500s");
  EXPECT_EQ(format_duration(59.25), "59.250s");
  EXPECT_EQ(format_duration(60), "1m00.0s");
  EXPECT_EQ(format_duration(150), "2m30.0s");
  EXPECT_EQ(format_duration(5400), "1h30m00.0s");
  EXPECT_EQ(format_duration(86400 + 61.5), "24h01m01.5s");
  EXPECT_EQ(format_duration(-150), "-2m30.0s");
}

TEST(FormatDuration, RoundingCarriesIntoTheNextMinute) {
  // Goal: rounding never shows 60 seconds; method: values that round up to a whole minute, in both shapes, must
  // render as that minute.
  EXPECT_EQ(format_duration(59.9996), "1m00.0s");
  EXPECT_EQ(format_duration(119.96), "2m00.0s");
  EXPECT_EQ(format_duration(3599.97), "1h00m00.0s");
}

TEST(FormatDuration, HugeValuesInScientificNotationThatParsesBack) {
  // Goal: a duration too long for hours, minutes and tenths (any parse_duration accepts up to 1.8e308 s) still renders
  // as a duration, not as an overflowed count; method: values around and far past 1e14 s, rendered and parsed back.
  EXPECT_EQ(format_duration(99999999999999.5), "27777777777h46m39.5s");  // 27777777777 h + 2799.5 s
  EXPECT_EQ(format_duration(1e14), "1e+14s");
  EXPECT_EQ(format_duration(1e18), "1e+18s");
  EXPECT_EQ(format_duration(-1e18), "-1e+18s");
  EXPECT_DOUBLE_EQ(parse_duration(format_duration(1.7e308)).seconds, 1.7e308);
  EXPECT_EQ(format_duration(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(format_duration(std::numeric_limits<double>::quiet_NaN()), "nan");
}

}  // namespace
}  // namespace fleetsim::models
