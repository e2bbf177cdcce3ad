// app { ... }: an app's versions, each an image or a list of layers (named layers are shared), with its start and
// ready times, placement needs (requires) and release behaviour (crash_on_start, fail_after, fails_on).
#include "fields.hpp"
#include "loader_sections.hpp"

namespace fleetsim::sim::loader {
namespace {

using namespace fleetsim::models;

// One entry of layers = { ... }: a size ("80MiB", unique to this version) or { name = ..., size = ... } (shared).
LayerSpec read_layer(Fields& v, const json& layer, const std::string& key, const std::string& app,
                     const std::string& version) {
  LayerSpec ls;
  if (layer.is_string()) {
    try {
      ls.size = parse_bytes(layer.get<std::string>());
    } catch (const UnitError& e) {
      v.fail_at("layers." + key, e.what());
    }
    ls.digest = app + "@" + version + "/" + key;
  } else if (layer.is_object()) {
    Fields one = v.item("layers." + key, layer);
    ls.digest = "shared/" + one.string("name");
    ls.size = one.bytes("size");
    one.finish();
  } else {
    v.fail_at("layers." + key, "must be a size such as \"80MiB\" or { name = \"base\", size = \"80MiB\" }");
  }
  if (ls.size.count == 0) v.fail_at("layers." + key, "a layer must not be empty");
  return ls;
}

// image = "<size>" (one layer) or layers = { ... }, not both.
std::vector<LayerSpec> read_layers(Fields& v, const std::string& app, const std::string& version) {
  bool has_image = v.has("image");
  bool has_layers = v.has("layers");
  if (has_image == has_layers) v.fail_at("", "give either image = \"<size>\" or layers = { ... }, not both");
  if (has_image) return {{app + "@" + version + "/image", v.bytes("image")}};
  const json* layers = v.list("layers", "must be a list of sizes or { name = \"...\", size = \"...\" } tables");
  std::vector<LayerSpec> out;
  for (std::size_t i = 0; i < layers->size(); ++i)
    out.push_back(read_layer(v, (*layers)[i], std::to_string(i + 1), app, version));
  return out;
}

// requires = { cpu = 0.5, gpu = 1, memory = "2GiB", gpu_memory = "4GiB" }
std::map<std::string, double> read_requires(Fields rq) {
  std::map<std::string, double> needs;
  if (rq.given("cpu")) needs["cpu"] = rq.number("cpu", std::nullopt, 0, 1e6);
  if (rq.given("gpu")) needs["gpu"] = static_cast<double>(rq.integer("gpu", std::nullopt, 0, 1024));
  if (rq.given("memory")) needs["memory"] = static_cast<double>(rq.bytes("memory").count);
  if (rq.given("gpu_memory")) needs["gpu_memory"] = static_cast<double>(rq.bytes("gpu_memory").count);
  rq.finish();
  return needs;
}

AppVersionSpec read_version(Fields v, const std::string& app, const std::string& version) {
  AppVersionSpec spec;
  spec.version = version;
  spec.layers = read_layers(v, app, version);
  spec.start_time = v.duration("start_time", Duration{1});
  spec.ready_time = v.duration("ready_time", Duration{0});
  spec.crash_on_start = v.number("crash_on_start", 0.0, 0.0, 1.0);
  spec.fail_after = v.duration("fail_after", Duration{0});
  spec.fails_on = v.string_map("fails_on");
  if (v.given("requires")) spec.requires = read_requires(v.sub("requires"));
  for (const auto& [key, value] : spec.fails_on)
    if (key != "gpu_model" && key != "gpu_driver" && key != "arch")
      v.fail_at("fails_on." + key, "unknown hardware key (known: gpu_model, gpu_driver, arch)");
  v.finish();
  return spec;
}

}  // namespace

void load_app(const Declaration& d, Overridden overridden, Scenario& scenario) {
  Fields f(d.value, d.where, named_subject(d.value, "app"), "", overridden);
  AppSpec a;
  a.where = d.where;
  a.name = f.name("name");
  for (const auto& other : scenario.apps)
    if (other.name == a.name) f.fail_at("name", "an app '" + a.name + "' is already declared at " + other.where);
  const json* versions = f.raw("versions");
  if (versions == nullptr || !versions->is_object() || versions->empty())
    f.fail_at("versions", "is required: a table of version = { image = \"200MiB\" } or { layers = {...} }");
  Fields vf = f.sub("versions");
  for (const auto& [version, body] : versions->items())
    a.versions.push_back(read_version(vf.sub(version), a.name, version));
  f.finish();
  scenario.apps.push_back(std::move(a));
}

}  // namespace fleetsim::sim::loader

namespace fleetsim::sim {

bool AppVersionSpec::bad_on(const HardwareSpec& hardware) const {
  for (const auto& [key, value] : fails_on) {
    if (key == "arch" && hardware.arch != value) return false;
    if (key == "gpu_model" && (!hardware.gpu || hardware.gpu->model != value)) return false;
    if (key == "gpu_driver" && (!hardware.gpu || hardware.gpu->driver != value)) return false;
  }
  return true;
}

const AppVersionSpec* AppSpec::find(const std::string& version) const {
  for (const auto& v : versions)
    if (v.version == version) return &v;
  return nullptr;
}

}  // namespace fleetsim::sim
