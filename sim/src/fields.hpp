// The typed readers every section of the scenario language is read with. A Fields reads the keys of one declared
// table, remembering which keys it read so that finish() reports any other key as unknown; every message names
// file:line, the subject ("site 'store'") and the key path ("uplink.down"), and says when the value came from --set.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "fleetsim/sim/scenario.hpp"

namespace fleetsim::sim::loader {

using json = nlohmann::json;

// Helpers that take the message of a bad value take it up to "got": they append " '<the value>'".
class Fields {
 public:
  Fields(const json& value, std::string where, std::string subject, std::string prefix,
         const std::set<std::string>* overridden);

  [[noreturn]] void fail_at(const std::string& key, const std::string& problem) const;

  bool has(const std::string& key) const { return value_.contains(key) && !value_.at(key).is_null(); }
  // Whether the key is given (present and not nil); either way it is a known key.
  bool given(const std::string& key) {
    used_.insert(key);
    return has(key);
  }
  const json* raw(const std::string& key);

  std::string string(const std::string& key, std::optional<std::string> fallback = std::nullopt);
  // 1-64 letters, digits, '_', '-' or '.'.
  std::string name(const std::string& key, std::optional<std::string> fallback = std::nullopt);
  // Numbers may also come from --set as text; integers must be whole and within [lo, hi].
  std::int64_t integer(const std::string& key, std::optional<std::int64_t> fallback, std::int64_t lo, std::int64_t hi);
  double number(const std::string& key, std::optional<double> fallback, double lo, double hi);
  bool boolean(const std::string& key, bool fallback);

  // A string that must be one of `allowed`.
  std::string choice(const std::string& key, const std::string& fallback, std::initializer_list<const char*> allowed,
                     const std::string& expected);
  // A string that must be one of the names of `options`, read as the value it names.
  template <typename T>
  T choice_of(const std::string& key, T fallback, std::initializer_list<std::pair<const char*, T>> options,
              const std::string& expected) {
    if (!given(key)) return fallback;
    std::string text = string(key);
    for (const auto& [option, value] : options)
      if (text == option) return value;
    fail_at(key, expected + " '" + text + "'");
  }

  // key = <count> | "<p>%": a whole number of nodes from lo to 10,000,000 into count, or a percentage into percent
  // (above 0 unless lo is 0); both are left as they are when the key is absent.
  void count_or_percent(const std::string& key, std::int64_t lo, std::uint64_t& count, double& percent,
                        const std::string& expected);
  // A required percentage above 0 and at most 100, such as "30%".
  double percent(const std::string& key, const std::string& expected);
  // A non-empty list, or nullptr when the key is absent.
  const json* list(const std::string& key, const std::string& problem);

  template <typename T, typename Parse>
  T unit(const std::string& key, std::optional<T> fallback, Parse parse, const char* example) {
    const json* v = raw(key);
    if (v == nullptr) return require(key, fallback);
    if (!v->is_string()) bad_unit(key, *v, example);
    try {
      return parse(v->get<std::string>());
    } catch (const models::UnitError& e) {
      fail_at(key, e.what());
    }
  }
  models::Bytes bytes(const std::string& key, std::optional<models::Bytes> fallback = std::nullopt);
  models::Rate rate(const std::string& key, std::optional<models::Rate> fallback = std::nullopt);
  models::Duration duration(const std::string& key, std::optional<models::Duration> fallback = std::nullopt);
  models::Frequency frequency(const std::string& key, std::optional<models::Frequency> fallback = std::nullopt);

  std::map<std::string, std::string> string_map(const std::string& key);

  // The table at `key`, read with its own Fields (an empty table when absent).
  Fields sub(const std::string& key);
  // The table `value` found at `key` of this table (a list element such as "sensors.2"), read with its own Fields.
  Fields item(const std::string& key, const json& value) const;

  // Every key that was not read is a mistake (a typo or an unsupported option).
  void finish() const;

 private:
  // The table this one was read from with sub(), when it does not have the key: a required key missing here is
  // then most likely a misspelt name of the table itself (uplnk = { ... }).
  struct AbsentIn {
    const json* value;
    std::string prefix;
    std::string key;
    std::set<std::string> read;  // the keys the parent had read (known keys, not typos)
  };
  [[noreturn]] void fail_path(const std::string& path, const std::string& message) const;
  [[noreturn]] void unknown_key(const std::string& path, const std::string& hint) const;
  template <typename T>
  T require(const std::string& key, const std::optional<T>& fallback) const {
    if (!fallback) missing(key);
    return *fallback;
  }
  [[noreturn]] void missing(const std::string& key) const;
  [[noreturn]] void bad_unit(const std::string& key, const json& value, const char* example) const;
  std::string path_of(const std::string& key) const;

  const json& value_;
  std::string where_;
  std::string subject_;
  std::string prefix_;
  const std::set<std::string>* overridden_;
  std::set<std::string> used_;
  std::optional<AbsentIn> absent_in_;
};

// Levenshtein distance, for "did you mean" suggestions.
std::size_t edit_distance(const std::string& a, const std::string& b);
// The candidate closest to `word` within an edit distance of 2 (and less than the word's length, so that a short
// word does not resemble everything); nullopt when none is that close.
std::optional<std::string> closest(const std::string& word, const std::set<std::string>& candidates);

// Numbers written in plain decimal only: "16", "-3", "010" (ten), "2.5", "1e-9". Hexadecimal, octal, inf, nan,
// blanks and anything else are not numbers. An integer is digits with an optional sign.
bool is_decimal_integer(const std::string& text);
// The finite value of a decimal integer or real; nullopt for anything else (or a value too large for a double).
std::optional<double> parse_decimal(const std::string& text);

// "site 'store'" when the declared table has a string name, else just the kind.
std::string named_subject(const json& value, const std::string& kind);

// "a, b, c", with the name of each item.
template <typename Range, typename Name>
std::string join(const Range& items, Name name) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + name(item);
  return out;
}
template <typename Range>
std::string join(const Range& names) {
  return join(names, [](const std::string& n) { return n; });
}

}  // namespace fleetsim::sim::loader
