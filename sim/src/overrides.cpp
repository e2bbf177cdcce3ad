#include "overrides.hpp"

#include <cmath>
#include <cstdlib>
#include <map>
#include <sstream>

#include "fields.hpp"
#include "fleetsim/sim/scenario.hpp"

namespace fleetsim::sim::loader {
namespace {

json parse_override_value(const std::string& text) {
  if (text == "true") return true;
  if (text == "false") return false;
  if (!text.empty()) {
    char* end = nullptr;
    long long integer = std::strtoll(text.c_str(), &end, 10);
    if (end != nullptr && *end == '\0' && text.find_first_not_of("+-0123456789") == std::string::npos)
      return static_cast<std::int64_t>(integer);
    double real = std::strtod(text.c_str(), &end);
    if (end != nullptr && *end == '\0' && std::isfinite(real)) return real;
  }
  return text;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, sep)) parts.push_back(part);
  return parts;
}

// site.<name> or app.<name>: the last declaration of that kind with that name.
Declaration& named_target(std::vector<Declaration>& declarations, const std::string& text,
                          const std::vector<std::string>& parts) {
  const std::string& kind = parts[0];
  if (parts.size() < 3) throw ScenarioError("--set " + text + ": expected " + kind + ".<name>.<key>=value");
  Declaration* target = nullptr;
  std::vector<std::string> names;
  for (auto& d : declarations) {
    if (d.kind != kind || !d.value.contains("name") || !d.value["name"].is_string()) continue;
    names.push_back(d.value["name"].get<std::string>());
    if (names.back() == parts[1]) target = &d;
  }
  if (target == nullptr) {
    std::string list = join(names);
    throw ScenarioError("--set " + text + ": the scenario declares no " + kind + " named '" + parts[1] + "' (" + kind +
                        "s: " + (list.empty() ? "none" : list) + ")");
  }
  return *target;
}

// cloud, simulation or scenario: the last such declaration, or a new empty one.
Declaration& single_target(std::vector<Declaration>& declarations, const std::string& text,
                           const std::vector<std::string>& parts) {
  const std::string& kind = parts[0];
  if (parts.size() < 2) throw ScenarioError("--set " + text + ": expected " + kind + ".<key>=value");
  Declaration* target = nullptr;
  for (auto& d : declarations)
    if (d.kind == kind) target = &d;
  if (target == nullptr) {
    declarations.push_back({kind, json::object(), "--set", 0});
    target = &declarations.back();
  }
  return *target;
}

// Walks parts[key_start...] down from root and returns the value to replace; key_path is set to the keys walked.
json& walk(json& root, const std::string& text, const std::vector<std::string>& parts, std::size_t key_start,
           std::string& key_path) {
  json* node = &root;
  for (std::size_t i = key_start; i < parts.size(); ++i) {
    if (parts[i].empty()) throw ScenarioError("--set " + text + ": empty key in the path");
    if (!node->is_object()) throw ScenarioError("--set " + text + ": '" + key_path + "' is not a table");
    // Keys may contain dots (version "2.0"): prefer the longest run of parts that names an existing key.
    std::string key = parts[i];
    for (std::size_t j = parts.size() - 1; j > i; --j) {
      std::string joined = parts[i];
      for (std::size_t k = i + 1; k <= j; ++k) joined += "." + parts[k];
      if (node->contains(joined)) {
        key = joined;
        i = j;
        break;
      }
    }
    key_path += (key_path.empty() ? "" : ".") + key;
    node = &(*node)[key];
  }
  return *node;
}

}  // namespace

std::vector<std::set<std::string>> apply_overrides(std::vector<Declaration>& declarations,
                                                   const std::vector<std::string>& overrides) {
  // Known issue, kept as it was: entries are keyed by address, and a declaration added for cloud, simulation or
  // scenario may move the vector, after which the earlier entries match nothing (no "(value from --set)").
  std::map<const Declaration*, std::set<std::string>> by_address;
  for (const auto& text : overrides) {
    auto eq = text.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ScenarioError("--set " + text + ": expected path=value, e.g. --set site.store.count=100");
    json value = parse_override_value(text.substr(eq + 1));
    std::vector<std::string> parts = split(text.substr(0, eq), '.');
    const std::string& kind = parts[0];
    Declaration* target = nullptr;
    std::size_t key_start = 1;
    if (kind == "site" || kind == "app") {
      target = &named_target(declarations, text, parts);
      key_start = 2;
    } else if (kind == "cloud" || kind == "simulation" || kind == "scenario") {
      target = &single_target(declarations, text, parts);
    } else {
      throw ScenarioError("--set " + text +
                          ": a path starts with site.<name>, app.<name>, cloud, simulation or "
                          "scenario");
    }
    std::string key_path;
    walk(target->value, text, parts, key_start, key_path) = value;
    by_address[target].insert(key_path);
  }
  std::vector<std::set<std::string>> overridden(declarations.size());
  for (std::size_t i = 0; i < declarations.size(); ++i)
    if (auto it = by_address.find(&declarations[i]); it != by_address.end()) overridden[i] = it->second;
  return overridden;
}

}  // namespace fleetsim::sim::loader
