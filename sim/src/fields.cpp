#include "fields.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <vector>

namespace fleetsim::sim::loader {
namespace {

using namespace fleetsim::models;

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
  });
}

// "30%" -> 30: a number followed by '%', from 0 (or above 0 unless zero_ok) to 100; nullopt otherwise.
std::optional<double> parse_percent(const std::string& text, bool zero_ok) {
  char* end = nullptr;
  double percent = std::strtod(text.c_str(), &end);
  if (end == nullptr || std::string(end) != "%") return std::nullopt;
  if (zero_ok ? (percent < 0 || percent > 100) : (!(percent > 0) || percent > 100)) return std::nullopt;
  return percent;
}

std::string fmt(double d) {
  std::ostringstream out;
  out << d;
  return out.str();
}

std::string join_path(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

// Skips the digits at text[i...]; returns how many there were.
std::size_t skip_digits(const std::string& text, std::size_t& i) {
  std::size_t start = i;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  return i - start;
}

}  // namespace

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::optional<std::string> closest(const std::string& word, const std::set<std::string>& candidates) {
  std::optional<std::string> best;
  std::size_t best_distance = 3;
  for (const auto& candidate : candidates) {
    std::size_t d = edit_distance(word, candidate);
    if (candidate != word && d < best_distance && d < word.size()) {  // "x" resembles nothing
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

bool is_decimal_integer(const std::string& text) {
  std::size_t i = (!text.empty() && (text[0] == '-' || text[0] == '+')) ? 1 : 0;
  return skip_digits(text, i) > 0 && i == text.size();
}

std::optional<double> parse_decimal(const std::string& text) {
  std::size_t i = (!text.empty() && (text[0] == '-' || text[0] == '+')) ? 1 : 0;
  std::size_t digits = skip_digits(text, i);
  if (i < text.size() && text[i] == '.') digits += skip_digits(text, ++i);
  if (digits == 0) return std::nullopt;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
    if (skip_digits(text, i) == 0) return std::nullopt;
  }
  if (i != text.size()) return std::nullopt;
  double value = std::strtod(text.c_str(), nullptr);  // the text is plain decimal: strtod reads all of it
  if (!std::isfinite(value)) return std::nullopt;
  return value;
}

Fields::Fields(const json& value, std::string where, std::string subject, std::string prefix,
               const std::set<std::string>* overridden)
    : value_(value),
      where_(std::move(where)),
      subject_(std::move(subject)),
      prefix_(std::move(prefix)),
      overridden_(overridden) {
  if (!value_.is_object()) fail_at("", std::string("must be a table of named keys, got ") + value_.type_name());
}

std::string Fields::path_of(const std::string& key) const {
  return prefix_.empty() ? key : (key.empty() ? prefix_ : prefix_ + "." + key);
}

void Fields::fail_path(const std::string& path, const std::string& message) const {
  std::string text = where_ + ": " + subject_ + ": " + message;
  if (overridden_ != nullptr && !path.empty() && overridden_->count(path) != 0) text += " (value from --set)";
  throw ScenarioError(text);
}

void Fields::fail_at(const std::string& key, const std::string& problem) const {
  std::string path = path_of(key);
  fail_path(path, (path.empty() ? "" : "key '" + path + "': ") + problem);
}

void Fields::unknown_key(const std::string& path, const std::string& hint) const {
  fail_path(path, "unknown key '" + path + "' " + hint);
}

// A missing key is often a misspelt one: name the present key that is closest to it. When the whole table is
// absent, the mistake is more likely its own name (uplnk = { down = ... }): name the parent's unknown key instead.
void Fields::missing(const std::string& key) const {
  if (absent_in_) {
    std::set<std::string> unread;  // the parent's keys it has not read: unknown so far
    for (const auto& [present, v] : absent_in_->value->items())
      if (absent_in_->read.count(present) == 0 && present.rfind("__", 0) != 0) unread.insert(present);
    for (const auto& present : unread)
      if (closest(present, {absent_in_->key}))
        unknown_key(join_path(absent_in_->prefix, present),
                    "(did you mean '" + join_path(absent_in_->prefix, absent_in_->key) + "'?)");
  }
  for (const auto& [present, v] : value_.items())  // a key already read is known, not a misspelling (mtbf, mttr)
    if (present != key && used_.count(present) == 0 && edit_distance(present, key) <= 2)
      fail_path(path_of(present),  // "(value from --set)" when the misspelt key came from there
                "key '" + path_of(key) + "': is required (did you mean it instead of '" + present + "'?)");
  fail_at(key, "is required");
}

const json* Fields::raw(const std::string& key) {
  used_.insert(key);
  if (!has(key)) return nullptr;
  return &value_.at(key);
}

std::string Fields::string(const std::string& key, std::optional<std::string> fallback) {
  const json* v = raw(key);
  if (v == nullptr) return require(key, fallback);
  if (!v->is_string()) fail_at(key, std::string("must be a string, got ") + v->type_name());
  return v->get<std::string>();
}

std::string Fields::name(const std::string& key, std::optional<std::string> fallback) {
  std::string text = string(key, std::move(fallback));
  if (!valid_name(text)) fail_at(key, "must be 1-64 letters, digits, '_', '-' or '.'");
  return text;
}

std::int64_t Fields::integer(const std::string& key, std::optional<std::int64_t> fallback, std::int64_t lo,
                             std::int64_t hi) {
  const json* v = raw(key);
  if (v == nullptr) return require(key, fallback);
  std::int64_t result = 0;
  if (v->is_number_integer()) {
    result = v->get<std::int64_t>();
  } else if (v->is_number_float()) {
    double d = v->get<double>();
    if (d != std::floor(d) || std::fabs(d) > 9e15) fail_at(key, "must be a whole number, got " + v->dump());
    result = static_cast<std::int64_t>(d);
  } else {
    fail_at(key, std::string("must be a whole number, got ") + v->type_name() +
                     (v->is_string() ? " '" + v->get<std::string>() + "'" : ""));
  }
  if (result < lo || result > hi)
    fail_at(key,
            "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + std::to_string(result));
  return result;
}

double Fields::number(const std::string& key, std::optional<double> fallback, double lo, double hi) {
  const json* v = raw(key);
  if (v == nullptr) return require(key, fallback);
  if (!v->is_number()) fail_at(key, std::string("must be a number, got ") + v->type_name());
  double d = v->get<double>();
  if (!(d >= lo && d <= hi)) fail_at(key, "must be between " + fmt(lo) + " and " + fmt(hi) + ", got " + fmt(d));
  return d;
}

bool Fields::boolean(const std::string& key, bool fallback) {
  const json* v = raw(key);
  if (v == nullptr) return fallback;
  if (!v->is_boolean()) fail_at(key, std::string("must be true or false, got ") + v->type_name());
  return v->get<bool>();
}

std::string Fields::choice(const std::string& key, const std::string& fallback,
                           std::initializer_list<const char*> allowed, const std::string& expected) {
  std::string text = string(key, fallback);
  for (const char* option : allowed)
    if (text == option) return text;
  fail_at(key, expected + " '" + text + "'");
}

void Fields::count_or_percent(const std::string& key, std::int64_t lo, std::uint64_t& count, double& percent,
                              const std::string& expected) {
  const json* v = raw(key);
  if (v == nullptr) return;
  if (v->is_string()) {
    std::string text = v->get<std::string>();
    std::optional<double> p = parse_percent(text, lo == 0);
    if (!p) fail_at(key, expected + " '" + text + "'");
    percent = *p;
  } else {
    count = static_cast<std::uint64_t>(integer(key, std::nullopt, lo, 10000000));
  }
}

double Fields::percent(const std::string& key, const std::string& expected) {
  std::string text = string(key);
  std::optional<double> p = parse_percent(text, false);
  if (!p) fail_at(key, expected + " '" + text + "'");
  return *p;
}

const json* Fields::list(const std::string& key, const std::string& problem) {
  const json* v = raw(key);
  if (v != nullptr && (!v->is_array() || v->empty())) fail_at(key, problem);
  return v;
}

void Fields::bad_unit(const std::string& key, const json& value, const char* example) const {
  fail_at(key, std::string("must be a string with a unit, e.g. \"") + example + "\", got " +
                   (value.is_number() ? "the bare number " + value.dump() + " (no unit)" : value.type_name()));
}

Bytes Fields::bytes(const std::string& key, std::optional<Bytes> fallback) {
  return unit<Bytes>(key, fallback, parse_bytes, "450MiB");
}

Rate Fields::rate(const std::string& key, std::optional<Rate> fallback) {
  Rate r = unit<Rate>(key, fallback, parse_rate, "20Mbps");
  if (!(r.bytes_per_s > 0)) fail_at(key, "must be a positive rate");
  return r;
}

Duration Fields::duration(const std::string& key, std::optional<Duration> fallback) {
  return unit<Duration>(key, fallback, parse_duration, "60ms");
}

Frequency Fields::frequency(const std::string& key, std::optional<Frequency> fallback) {
  Frequency f = unit<Frequency>(key, fallback, parse_frequency, "5/s");
  if (!(f.per_s > 0)) fail_at(key, "must be a positive rate");
  return f;
}

std::map<std::string, std::string> Fields::string_map(const std::string& key) {
  std::map<std::string, std::string> out;
  const json* v = raw(key);
  if (v == nullptr) return out;
  if (!v->is_object()) fail_at(key, std::string("must be a table of name = value, got ") + v->type_name());
  for (const auto& [k, item] : v->items()) {
    if (item.is_string())
      out[k] = item.get<std::string>();
    else if (item.is_number() || item.is_boolean())
      out[k] = item.dump();
    else
      fail_at(key + "." + k, std::string("must be a string, got ") + item.type_name());
  }
  return out;
}

Fields Fields::sub(const std::string& key) {
  used_.insert(key);
  static const json empty = json::object();
  const json& v = has(key) ? value_.at(key) : empty;
  Fields table(v, where_, subject_, join_path(prefix_, key), overridden_);
  if (!has(key)) table.absent_in_ = AbsentIn{&value_, prefix_, key, used_};
  return table;
}

Fields Fields::item(const std::string& key, const json& value) const {
  return Fields(value, where_, subject_, prefix_.empty() ? key : prefix_ + "." + key, overridden_);
}

void Fields::finish() const {
  for (const auto& [key, v] : value_.items()) {
    if (key.rfind("__", 0) == 0 || used_.count(key) != 0) continue;
    if (auto known = closest(key, used_)) unknown_key(path_of(key), "(did you mean '" + path_of(*known) + "'?)");
    unknown_key(path_of(key), "(known keys here: " + join(used_) + ")");
  }
}

std::string named_subject(const json& value, const std::string& kind) {
  if (value.is_object() && value.contains("name") && value["name"].is_string())
    return kind + " '" + value["name"].get<std::string>() + "'";
  return kind;
}

}  // namespace fleetsim::sim::loader
