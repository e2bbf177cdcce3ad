#include "overrides.hpp"

#include <cerrno>
#include <cstdlib>
#include <map>
#include <sstream>

#include "fields.hpp"
#include "fleetsim/sim/scenario.hpp"

namespace fleetsim::sim::loader {
namespace {

// Only plain decimal numbers are numbers, as a reader of the command line expects: "010" is ten (never octal),
// "0x10", "inf" and "nan" stay text, which the key's own reader then rejects with its usual message.
json parse_override_value(const std::string& text) {
  if (text == "true") return true;
  if (text == "false") return false;
  std::optional<double> number = parse_decimal(text);
  if (!number) return text;
  if (is_decimal_integer(text)) {
    errno = 0;
    long long integer = std::strtoll(text.c_str(), nullptr, 10);
    if (errno != ERANGE) return static_cast<std::int64_t>(integer);
  }
  return *number;  // a real, or an integer too large for 64 bits (as Lua reads it)
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, sep)) parts.push_back(part);
  return parts;
}

// site.<name> or app.<name>: the last declaration of that kind with that name, or with "*" every one of them.
std::vector<std::size_t> named_targets(const std::vector<Declaration>& declarations, const std::string& text,
                                       const std::vector<std::string>& parts) {
  const std::string& kind = parts[0];
  if (parts.size() < 3) throw ScenarioError("--set " + text + ": expected " + kind + ".<name>.<key>=value");
  std::map<std::string, std::size_t> last;  // by name: a later declaration of a name wins, as before
  std::vector<std::string> names;
  for (std::size_t i = 0; i < declarations.size(); ++i) {
    const auto& d = declarations[i];
    if (d.kind != kind || !d.value.contains("name") || !d.value["name"].is_string()) continue;
    names.push_back(d.value["name"].get<std::string>());
    last[names.back()] = i;
  }
  std::vector<std::size_t> targets;
  for (const auto& [name, index] : last)
    if (parts[1] == "*" || parts[1] == name) targets.push_back(index);
  if (targets.empty()) {
    std::string list = join(names);
    throw ScenarioError("--set " + text + ": the scenario declares no " + kind +
                        (parts[1] == "*" ? "" : " named '" + parts[1] + "'") + " (" + kind +
                        "s: " + (list.empty() ? "none" : list) + ")");
  }
  return targets;
}

// cloud, simulation or scenario: the last such declaration, or a new empty one.
std::size_t single_target(std::vector<Declaration>& declarations, const std::string& text,
                          const std::vector<std::string>& parts) {
  const std::string& kind = parts[0];
  if (parts.size() < 2) throw ScenarioError("--set " + text + ": expected " + kind + ".<key>=value");
  for (std::size_t i = declarations.size(); i-- > 0;)
    if (declarations[i].kind == kind) return i;
  declarations.push_back({kind, json::object(), "--set", 0});
  return declarations.size() - 1;
}

// One walk of a --set path down a declared table, for its messages.
struct Walk {
  const std::string& text;        // the whole --set argument
  const std::string& kind;        // of the declaration: site, app, cloud, ...
  std::string subject;            // " (site 'store')" when a wildcard chose the declaration, else empty
  std::vector<std::string> keys;  // walked so far, as the readers name them ("layers", "2")
  std::string dotted() const {
    std::string out;
    for (const auto& k : keys) out += (out.empty() ? "" : ".") + k;
    return out;
  }
  [[noreturn]] void fail(const std::string& problem) const {
    throw ScenarioError("--set " + text + ": " + problem + subject);
  }
};

// Keys may contain dots (version "2.0"): the longest run of parts[i...] that names an existing key, else parts[i].
std::string object_key(const json& table, const std::vector<std::string>& parts, std::size_t& i) {
  for (std::size_t j = parts.size() - 1; j > i; --j) {
    std::string joined = parts[i];
    for (std::size_t k = i + 1; k <= j; ++k) joined += "." + parts[k];
    if (table.contains(joined)) {
      i = j;
      return joined;
    }
  }
  return parts[i];
}

// Element `part` of a list, numbered from 1 as in Lua; the number after the last adds an element.
json& list_element(json& list, const std::string& part, const Walk& walk) {
  const std::size_t n = list.size();
  bool number =
      !part.empty() && part.size() < 10 && part[0] != '0' && part.find_first_not_of("0123456789") == std::string::npos;
  std::size_t index = number ? static_cast<std::size_t>(std::stoul(part)) : 0;
  if (index < 1 || index > n + 1)
    walk.fail("'" + walk.dotted() + "' is a list of " + std::to_string(n) + ": an element is a number from 1 to " +
              std::to_string(n) + " (or " + std::to_string(n + 1) + " to add one), got '" + part + "'");
  if (index == n + 1) list.push_back(nullptr);
  return list[index - 1];
}

// An app version is either an image or a list of layers: setting one with --set replaces the other (setting a
// layer of a version declared with an image starts its list of layers).
void replace_alternative(json& table, const std::string& key, const Walk& walk) {
  if (walk.kind != "app" || walk.keys.size() != 2 || walk.keys[0] != "versions") return;
  if (key == "image") table.erase("layers");
  if (key == "layers" && table.contains("image")) {
    table.erase("image");
    table["layers"] = json::array();
  }
}

// Walks parts[key_start...] down from root, creating the tables the scenario did not declare, and returns the value
// to replace; walk.keys ends as the key path the readers name ("outages.mtbf", "versions.2.0.layers.2").
json& walk_path(json& root, const std::vector<std::string>& parts, std::size_t key_start, Walk& walk) {
  json* node = &root;
  for (std::size_t i = key_start; i < parts.size(); ++i) {
    if (parts[i].empty()) walk.fail("empty key in the path");
    if (parts[i] == "*") walk.fail("'*' stands only for the name of a site or app template (site.*.<key>)");
    if (node->is_null()) *node = json::object();  // a table the scenario did not declare
    if (node->is_array()) {
      node = &list_element(*node, parts[i], walk);
      walk.keys.push_back(parts[i]);
    } else if (node->is_object()) {
      std::string key = object_key(*node, parts, i);
      replace_alternative(*node, key, walk);
      node = &(*node)[key];
      walk.keys.push_back(key);
    } else {
      walk.fail("'" + walk.dotted() + "' is not a table");
    }
  }
  return *node;
}

}  // namespace

std::vector<std::set<std::string>> apply_overrides(std::vector<Declaration>& declarations,
                                                   const std::vector<std::string>& overrides) {
  // By index, not address: a declaration added for cloud, simulation or scenario may move the others.
  std::map<std::size_t, std::set<std::string>> by_index;
  for (const auto& text : overrides) {
    auto eq = text.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ScenarioError("--set " + text + ": expected path=value, e.g. --set site.store.count=100");
    json value = parse_override_value(text.substr(eq + 1));
    std::vector<std::string> parts = split(text.substr(0, eq), '.');
    const std::string& kind = parts[0];
    std::vector<std::size_t> targets;
    std::size_t key_start = 1;
    if (kind == "site" || kind == "app") {
      targets = named_targets(declarations, text, parts);
      key_start = 2;
    } else if (kind == "cloud" || kind == "simulation" || kind == "scenario") {
      targets = {single_target(declarations, text, parts)};
    } else {
      throw ScenarioError("--set " + text +
                          ": a path starts with site.<name>, app.<name>, cloud, simulation or "
                          "scenario");
    }
    for (std::size_t index : targets) {
      Declaration& target = declarations[index];
      Walk walk{text, kind, parts[1] == "*" ? " (" + named_subject(target.value, kind) + ")" : "", {}};
      walk_path(target.value, parts, key_start, walk) = value;
      by_index[index].insert(walk.dotted());
    }
  }
  std::vector<std::set<std::string>> overridden(declarations.size());
  for (auto& [index, paths] : by_index) overridden[index] = std::move(paths);
  return overridden;
}

}  // namespace fleetsim::sim::loader
