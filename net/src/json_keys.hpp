// Strict reading of JSON objects for the daemons' configurations and the HTTP API: every key read once, unknown
// keys are errors (a typo never falls back to a default), every error names the origin and the key's full path.
#pragma once

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fleetsim/models/units.hpp"
#include "fleetsim/net/agent_host.hpp"

namespace fleetsim::net {

using json = nlohmann::json;

// Reads keys of one JSON object, each once; what is left over at the end is an unknown key (a typo).
class Keys {
 public:
  Keys(const json& object, std::string where, std::string origin)
      : object_(object), where_(std::move(where)), origin_(std::move(origin)) {
    if (!object_.is_object()) fail(where_.empty() ? "the file" : where_, "must be a JSON object");
  }
  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw ConfigError(origin_ + ": key '" + key + "': " + what);
  }
  std::string path(const std::string& key) const { return where_.empty() ? key : where_ + "." + key; }
  const json* find(const std::string& key) {
    seen_.insert(key);
    auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }
  const json& need(const std::string& key) {
    const json* v = find(key);
    if (v == nullptr) fail(path(key), "missing");
    return *v;
  }
  std::string string(const std::string& key, const json& v) const {
    if (!v.is_string()) fail(path(key), "must be a string");
    return v.get<std::string>();
  }
  double number(const std::string& key, const json& v, double min) const {
    if (!v.is_number()) fail(path(key), "must be a number");
    const double d = v.get<double>();
    if (!(d >= min)) fail(path(key), "must be at least " + json(min).dump());
    return d;
  }
  double duration(const std::string& key, const json& v) const {
    if (v.is_number()) return number(key, v, 0);
    try {
      return models::parse_duration(string(key, v)).seconds;
    } catch (const models::UnitError& e) {
      fail(path(key), e.what());
    }
  }
  std::uint64_t bytes(const std::string& key, const json& v) const {
    if (v.is_number_unsigned()) return v.get<std::uint64_t>();
    try {
      return models::parse_bytes(string(key, v)).count;
    } catch (const models::UnitError& e) {
      fail(path(key), e.what());
    }
  }
  void done() const {
    for (auto it = object_.begin(); it != object_.end(); ++it)
      if (seen_.count(it.key()) == 0) fail(path(it.key()), "unknown key");
  }

 private:
  const json& object_;
  std::string where_, origin_;
  std::set<std::string> seen_;
};

inline std::vector<std::string> strings(Keys& keys, const std::string& key, const json& v) {
  if (!v.is_array() || v.empty()) keys.fail(keys.path(key), "must be a non-empty array of strings");
  std::vector<std::string> out;
  for (const auto& s : v) {
    if (!s.is_string()) keys.fail(keys.path(key), "must be a non-empty array of strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}


// The text of a configuration file; a ConfigError naming it when it cannot be read.
inline std::string read_config_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path.string() + ": cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace fleetsim::net
