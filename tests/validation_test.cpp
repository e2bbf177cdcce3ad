// The loader fed bad input: every mistake exits 2 at load time with a message naming file:line and the key (or the
// --set / --cfg text), and the valid neighbours of each mistake still load and run.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

#include "fleetsim/sim/scenario.hpp"
#include "sim_test_support.hpp"

namespace fleetsim::testing {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMiB = 1ULL << 20;

// Two site templates, two apps (one version declared with layers, one with an image), a deploy and a rollout.
const char* kBase = R"(scenario { name = "validation" }
site { name = "store", count = 2, nodes = 2, uplink = { down = "20Mbps", up = "2Mbps", latency = "40ms" },
       labels = { region = "eu", role = "pos" } }
site { name = "lte", count = 1, nodes = 1, uplink = { down = "10Mbps", latency = "60ms" }, labels = { region = "us" } }
app { name = "pos", versions = { ["1.0"] = { image = "10MiB" },
                                 ["2.0"] = { layers = { { name = "base", size = "30MiB" }, "80MiB", "12MiB" } } } }
app { name = "cam", versions = { ["1.0"] = { image = "5MiB" } } }
at("0s", deploy { app = "pos", version = "1.0", name = "install" })
at("1h", rollout { app = "pos", version = "2.0", name = "upgrade" })
)";

std::string base_scenario(const std::string& name, const std::string& extra = "") {
  return write_scenario(fresh_dir("scenario"), name, kBase + extra);
}

std::uint64_t layer(const sim::Scenario& s, const std::string& app, const std::string& version, std::size_t i) {
  for (const auto& a : s.apps)
    if (a.name == app) return a.find(version)->layers.at(i).size.count;
  ADD_FAILURE() << "no app " << app;
  return 0;
}

// A bad scenario: exit 2, a message with every text, and nothing simulated (the "seed" line comes after loading).
void expect_load_error(const RunOutput& run, const std::vector<std::string>& texts) {
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  for (const auto& text : texts) EXPECT_NE(run.err.find(text), std::string::npos) << "'" << text << "' in " << run.err;
  EXPECT_EQ(run.out.find(" seed "), std::string::npos) << "simulated before the error: " << run.out;
}

RunOutput run_with(const std::string& scenario, const std::vector<std::string>& args) {
  return run_fleetsim(scenario, args, fresh_dir("out"));
}

// ---- 1. --set reaches everything ----------------------------------------------------------------------------------

TEST(SetOverrides, ListElementsAreNumberedFromOneAsInLua) {
  // --set layers.N replaces the N-th layer counting from 1 and N = count + 1 adds one (checked on the loaded scenario),
  // while any other index is exit 2 naming the list and its length (through the binary).
  std::string path = base_scenario("list.lua");
  auto s = sim::load_scenario(path, {"app.pos.versions.2.0.layers.2=70MiB", "app.pos.versions.2.0.layers.4=1MiB"});
  EXPECT_EQ(layer(s, "pos", "2.0", 0), 30 * kMiB);
  EXPECT_EQ(layer(s, "pos", "2.0", 1), 70 * kMiB);
  EXPECT_EQ(layer(s, "pos", "2.0", 2), 12 * kMiB);
  EXPECT_EQ(layer(s, "pos", "2.0", 3), 1 * kMiB);
  auto shared = sim::load_scenario(path, {"app.pos.versions.2.0.layers.1.size=31MiB"});
  EXPECT_EQ(layer(shared, "pos", "2.0", 0), 31 * kMiB);  // a key inside an element
  for (const char* index : {"0", "5", "01", "x", "-1"}) {
    std::string set = std::string("app.pos.versions.2.0.layers.") + index + "=1MiB";
    expect_load_error(run_with(path, {"--set", set}),
                      {"--set " + set + ": 'versions.2.0.layers' is a list of 3", "got '" + std::string(index) + "'"});
  }
  // A value of the wrong kind for an element is the reader's usual message, marked as coming from --set.
  expect_load_error(run_with(path, {"--set", "app.pos.versions.2.0.layers.3=big"}),
                    {path + ":5:", "key 'versions.2.0.layers.3'", "(value from --set)"});
}

TEST(SetOverrides, CreatesTablesTheScenarioDidNotDeclare) {
  // --set creates the outages table the scenario lacks (checked on the loaded scenario), and half of it, a misspelt key
  // in it or a path through a value that is not a table is exit 2 with the reader's or --set's message.
  std::string path = base_scenario("create.lua");
  auto s = sim::load_scenario(path, {"site.store.outages.mtbf=20h", "site.store.outages.mttr=10m"});
  EXPECT_DOUBLE_EQ(s.sites[0].outages.mtbf.seconds, 20 * 3600.0);
  EXPECT_DOUBLE_EQ(s.sites[0].outages.mttr.seconds, 600.0);
  EXPECT_DOUBLE_EQ(s.sites[1].outages.mtbf.seconds, 0.0);  // only the named template
  auto hw = sim::load_scenario(path, {"site.lte.hardware.gpu.model=T4"});
  ASSERT_TRUE(hw.sites[1].hardware.gpu.has_value());
  EXPECT_EQ(hw.sites[1].hardware.gpu->model, "T4");

  auto half = run_with(path, {"--set", "site.store.outages.mtbf=20h"});
  expect_load_error(half, {path + ":2:", "key 'outages.mttr': is required"});
  EXPECT_EQ(half.err.find("did you mean"), std::string::npos) << "mtbf is a known key: " << half.err;
  expect_load_error(run_with(path, {"--set", "site.store.uplink.down.fast=1"}),
                    {"--set site.store.uplink.down.fast=1: 'uplink.down' is not a table"});
  expect_load_error(run_with(path, {"--set", "site.store.outages.mtbff=20h"}),
                    {"key 'outages.mtbf': is required (did you mean it instead of 'mtbff'?)", "(value from --set)"});
}

TEST(SetOverrides, WildcardSetsEveryTemplateOfItsKind) {
  // site.*.<key> and app.*.<key> set the key in every template of their kind with later values winning per template
  // (loaded scenario), and '*' elsewhere or over no template is exit 2 (binary).
  std::string path = base_scenario("wild.lua");
  auto s = sim::load_scenario(path, {"site.*.uplink.down=50Mbps", "app.*.versions.1.0.start_time=7s"});
  ASSERT_EQ(s.sites.size(), 2u);
  for (const auto& site : s.sites) EXPECT_DOUBLE_EQ(site.uplink_down.bytes_per_s, 50e6 / 8) << site.name;
  for (const auto& app : s.apps) EXPECT_DOUBLE_EQ(app.find("1.0")->start_time.seconds, 7.0) << app.name;
  // Later --set values win, per template.
  auto later = sim::load_scenario(path, {"site.*.count=3", "site.lte.count=5"});
  EXPECT_EQ(later.sites[0].count, 3);
  EXPECT_EQ(later.sites[1].count, 5);

  expect_load_error(run_with(path, {"--set", "site.*.count=many"}), {"key 'count'", "(value from --set)"});
  expect_load_error(run_with(path, {"--set", "site.store.*=1"}),
                    {"--set site.store.*=1: '*' stands only for the name of a site or app template"});
  expect_load_error(run_with(path, {"--set", "site.*.uplink.down.x=1"}), {"'uplink.down' is not a table (site '"});
  std::string no_apps = write_scenario(fresh_dir("noapp"), "noapp.lua", R"(
site { name = "s", uplink = { down = "8Mbps", latency = "20ms" } }
simulation { duration = "1m" }
)");
  expect_load_error(run_with(no_apps, {"--set", "app.*.versions.1.image=1MiB"}),
                    {"--set app.*.versions.1.image=1MiB: the scenario declares no app (apps: none)"});
}

TEST(SetOverrides, ImageAndLayersReplaceEachOther) {
  // Setting image on a version declared with layers replaces them (the example of docs/LUA_API.md and --help) and
  // setting a layer of an image version replaces the image, checked on the loaded layers, while a file declaring both
  // stays exit 2.
  std::string path = base_scenario("image.lua");
  auto s = sim::load_scenario(path, {"app.pos.versions.2.0.image=300MiB", "app.pos.versions.1.0.layers.1=7MiB",
                                     "app.pos.versions.1.0.layers.2=8MiB"});
  const auto* v2 = s.apps[0].find("2.0");
  ASSERT_EQ(v2->layers.size(), 1u);
  EXPECT_EQ(v2->layers[0].size.count, 300 * kMiB);
  const auto* v1 = s.apps[0].find("1.0");
  ASSERT_EQ(v1->layers.size(), 2u);
  EXPECT_EQ(v1->layers[0].size.count, 7 * kMiB);
  EXPECT_EQ(v1->layers[1].size.count, 8 * kMiB);
  // Declared both ways in the file is still an error; layers.2 of an image version has no first layer.
  std::string both = write_scenario(fresh_dir("both"), "both.lua", R"(
site { name = "s", uplink = { down = "8Mbps", latency = "20ms" } }
app { name = "a", versions = { ["1"] = { image = "1MiB", layers = { "1MiB" } } } }
at("0s", deploy { app = "a", version = "1" })
)");
  expect_load_error(run_with(both, {}), {both + ":3:", "give either image"});
  expect_load_error(run_with(path, {"--set", "app.pos.versions.1.0.layers.2=1MiB"}),
                    {"'versions.1.0.layers' is a list of 0", "got '2'"});
}

TEST(SetOverrides, OnlyPlainDecimalNumbersAreNumbers) {
  // Only plain decimal --set values are numbers: "010", "1e1" and "+3" load as 10, 10 and 3, while "0x10", "inf", "nan"
  // and blanks stay text that the key's reader rejects with its usual message (exit 2).
  std::string path = base_scenario("numbers.lua");
  EXPECT_EQ(sim::load_scenario(path, {"site.store.count=010"}).sites[0].count, 10);
  EXPECT_EQ(sim::load_scenario(path, {"site.store.count=1e1"}).sites[0].count, 10);
  EXPECT_EQ(sim::load_scenario(path, {"site.store.count=+3"}).sites[0].count, 3);
  EXPECT_DOUBLE_EQ(sim::load_scenario(path, {"simulation.precision=1e-6"}).simulation.precision_s, 1e-6);
  for (const char* text : {"0x10", "inf", "nan", "1_000", " 5", "5 "}) {
    auto run = run_with(path, {"--set", std::string("site.store.count=") + text});
    expect_load_error(
        run, {"key 'count': must be a whole number, got string '" + std::string(text) + "'", "(value from --set)"});
  }
  expect_load_error(run_with(path, {"--set", "simulation.precision=inf"}),
                    {"key 'precision': must be a number, got string", "(value from --set)"});
  expect_load_error(run_with(path, {"--set", "site.store.count=99999999999999999999"}),
                    {"key 'count': must be a whole number"});
  expect_load_error(run_with(path, {"--set", "site.store.count=-1"}), {"key 'count': must be between 1 and"});
}

TEST(SetOverrides, HelpSetExamplesLoad) {
  // Every --set example printed by `fleetsim --help` is run on scenarios/rollout_basic.lua and must load and run (exit
  // 0 or 1, never "bad scenario").
  auto help = run_raw({"--help"});
  ASSERT_EQ(help.exit_code, 0);
  std::vector<std::string> args;
  std::regex set_example("--set ([a-z][^ \n]*=[^ \n]+)");
  for (std::sregex_iterator it(help.out.begin(), help.out.end(), set_example), end; it != end; ++it)
    args.insert(args.end(), {"--set", (*it)[1].str()});
  ASSERT_GE(args.size(), 4u) << help.out;
  auto run = run_with(source_path("scenarios/rollout_basic.lua"), args);
  EXPECT_TRUE(run.exit_code == 0 || run.exit_code == 1) << run.out << run.err;
  EXPECT_EQ(run.err.find("bad scenario"), std::string::npos) << run.err;
}

// A shell code block of the documentation that runs `fleetsim run ... --set ...`, `fleetsim run ... -p ...` or
// `fleetsim params ...`.
struct DocCommand {
  std::string where;  // file:line of the block
  std::string script;
  std::vector<int> exit_codes;  // of each fleetsim run in it, from <!-- docs-test: exit ... --> (default: all 0)
};

std::vector<int> annotated_exit_codes(const std::vector<std::string>& lines, std::size_t block_start) {
  static const std::regex annotation(R"(<!--\s*docs-test:\s*exit\s+([0-9 ]+?)\s*-->)");
  for (std::size_t i = block_start; i-- > 0 && block_start - i <= 3;) {
    std::smatch m;
    if (std::regex_search(lines[i], m, annotation)) {
      std::vector<int> codes;
      std::istringstream in(m[1].str());
      for (int code; in >> code;) codes.push_back(code);
      return codes;
    }
  }
  return {};
}

// Fenced blocks (```...```) and indented blocks (four spaces after a blank line) that contain a command.
std::vector<DocCommand> doc_commands(const std::string& file) {
  std::vector<std::string> lines;
  std::istringstream in(read_file(file));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::vector<DocCommand> commands;
  auto add = [&](std::size_t start, std::size_t end, std::size_t indent) {
    std::string script;
    for (std::size_t i = start; i < end; ++i)
      script += (lines[i].size() > indent ? lines[i].substr(indent) : "") + "\n";
    const bool runs = script.find("fleetsim run ") != std::string::npos ||
                      script.find("fleetsim params ") != std::string::npos ||
                      script.find("fleetsim sweep ") != std::string::npos ||
                      script.find("fleetsim compare ") != std::string::npos;
    if (runs && (script.find("--set ") != std::string::npos || script.find(" -p ") != std::string::npos ||
                 script.find("fleetsim params ") != std::string::npos ||
                 script.find("fleetsim sweep ") != std::string::npos ||
                 script.find("fleetsim compare ") != std::string::npos))
      commands.push_back({file + ":" + std::to_string(start + 1), script, annotated_exit_codes(lines, start)});
  };
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind("```", 0) == 0) {
      std::size_t end = i + 1;
      while (end < lines.size() && lines[end].rfind("```", 0) != 0) ++end;
      if (lines[i].find("lua") == std::string::npos) add(i + 1, end, 0);
      i = end;
    } else if (lines[i].rfind("    ", 0) == 0 && (i == 0 || lines[i - 1].empty())) {
      std::size_t end = i;
      while (end < lines.size() && (lines[end].rfind("    ", 0) == 0 || lines[end].empty())) ++end;
      add(i, end, 4);
      i = end - 1;
    }
  }
  return commands;
}

// A folder where the documented commands find `build/sim/fleetsim`, `fleetsim` on the PATH and the repository's
// scenarios; both fleetsim commands append each run's exit code to `exit_codes`.
std::string command_sandbox() {
  std::string dir = fresh_dir("docs");
  for (const char* shared : {"scenarios", "bench"}) fs::create_symlink(source_path(shared), fs::path(dir) / shared);
  std::string wrapper = std::string("#!/bin/sh\n'") + FLEETSIM_BINARY + "' \"$@\"\ncode=$?\necho $code >> '" + dir +
                        "/exit_codes'\nexit $code\n";
  for (const char* bin : {"build/sim", "bin"}) {
    fs::create_directories(fs::path(dir) / bin);
    std::ofstream(fs::path(dir) / bin / "fleetsim") << wrapper;
    fs::permissions(fs::path(dir) / bin / "fleetsim", fs::perms::owner_all);
  }
  return dir;
}

TEST(DocumentedCommands, EverySetCommandInTheDocsRunsAsWritten) {
  // Each code block of README.md and docs/*.md that runs `fleetsim run ... --set ...` (or -p, or any fleetsim params,
  // sweep or compare) is run as written by sh in a
  // folder shaped like the repository, and each fleetsim run in it must exit with the code of the block's <!--
  // docs-test: exit N ... --> annotation (0 without one).
  std::vector<std::string> files{source_path("README.md")};
  for (const auto& entry : fs::directory_iterator(source_path("docs")))
    if (entry.path().extension() == ".md") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  std::vector<DocCommand> commands;
  for (const auto& file : files)
    for (auto& c : doc_commands(file)) commands.push_back(std::move(c));
  ASSERT_GE(commands.size(), 2u) << "the README's sweep and LUA_API.md's --set example";
  for (const auto& command : commands) {
    std::string dir = command_sandbox();
    std::string script = dir + "/command.sh";
    std::ofstream(script) << command.script;
    std::string shell = "cd '" + dir + "' && PATH='" + dir + "/bin':\"$PATH\" CI=1 sh command.sh > out.txt 2>&1";
    ASSERT_NE(std::system(shell.c_str()), -1);
    std::vector<int> codes;
    std::ifstream log(dir + "/exit_codes");
    for (int code; log >> code;) codes.push_back(code);
    std::vector<int> expected = command.exit_codes;
    if (expected.empty()) expected.assign(std::max<std::size_t>(codes.size(), 1), 0);
    if (expected.size() == 1 && codes.size() > 1) expected.assign(codes.size(), expected[0]);
    EXPECT_EQ(codes, expected) << command.where << ":\n" << command.script << read_file(dir + "/out.txt");
  }
}

// ---- 2. a typo in a parent key ----------------------------------------------------------------------------------

TEST(UnknownKeys, AMisspeltTableIsNamedNotItsRequiredKeys) {
  // Misspelt tables (uplnk, hardwre) and nested keys are reported through the binary as the unknown keys they are, with
  // the key they resemble, instead of a required key of the absent table, while an unrelated key lists the known keys
  // and a truly absent table is still "is required".
  std::string dir = fresh_dir("typo");
  auto site = [&](const std::string& body) {
    return write_scenario(dir, "typo.lua",
                          "site {\n  name = \"s\",\n  " + body + "\n}\nsimulation { duration = \"1m\" }\n");
  };
  expect_load_error(run_with(site(R"(uplnk = { down = "20Mbps", latency = "40ms" })"), {}),
                    {dir + "/typo.lua:1:", "site 's': unknown key 'uplnk' (did you mean 'uplink'?)"});
  auto hardware = run_with(site(R"(uplink = { down = "2Mbps", latency = "4ms" }, hardwre = { cpu = 2 })"), {});
  expect_load_error(hardware, {"unknown key 'hardwre' (did you mean 'hardware'?)"});
  expect_load_error(
      run_with(site(R"(uplink = { down = "2Mbps", latency = "4ms" }, agent = { retry_intial = "5s" })"), {}),
      {"unknown key 'agent.retry_intial' (did you mean 'agent.retry_initial'?)"});
  auto unrelated = run_with(site(R"(uplink = { down = "2Mbps", latency = "4ms" }, colour = "red")"), {});
  expect_load_error(unrelated, {"unknown key 'colour' (known keys here: ", "uplink"});
  // A table that is really missing is still "is required".
  expect_load_error(run_with(site(R"(count = 2)"), {}), {"key 'uplink.down': is required"});
}

// ---- 3. site and node names resolve exactly ---------------------------------------------------------------------

TEST(FaultTargets, SiteAndNodeNamesResolveExactly) {
  // With templates "a-1" (1 site of 2 nodes) and "a" (2 sites of 4 nodes), names that only match by prefix or with
  // leading zeros (a-1-1/n3, a-01/n1, a-1-2) are exit 2, and exact ones (a-1-1/n2, a-2/n4, a-1/n4) run and are the
  // fault's targets in report.json.
  std::string dir = fresh_dir("names");
  auto scenario = [&](const std::string& target) {
    return write_scenario(dir, "names.lua", R"(
site { name = "a-1", count = 1, nodes = 2, uplink = { down = "8Mbps", latency = "20ms" } }
site { name = "a", count = 2, nodes = 4, uplink = { down = "8Mbps", latency = "20ms" } }
at("10s", fault.node_crash { )" + target + R"(, reboot_after = "10s" })
simulation { duration = "1m" }
)");
  };
  for (const char* node : {"a-1-1/n3", "a-01/n1", "a-1/n01", "a-1-2/n1", "a-3/n1", "a-1-1/n0", "a-1-1/"}) {
    auto run = run_with(scenario(std::string("nodes = { \"") + node + "\" }"), {});
    expect_load_error(run, {dir + "/names.lua:4:", "no node named '" + std::string(node) + "'"});
  }
  for (const char* site : {"a-1-2", "a-01", "a-0"})
    expect_load_error(run_with(scenario(std::string("sites = { \"") + site + "\" }"), {}),
                      {"key 'sites'", "no site named '" + std::string(site) + "'"});
  auto ok = run_with(scenario(R"(nodes = { "a-1-1/n2", "a-2/n4", "a-1/n4" })"), {});
  ASSERT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_EQ(read_report(ok)["faults"][0]["targets"], nlohmann::json({"a-1-1/n2", "a-2/n4", "a-1/n4"}));
}

// ---- 4. fault.gpu_failure needs GPU inference -------------------------------------------------------------------

const char* kGpuSites = R"(
site { name = "cam", count = 2, nodes = 2, uplink = { down = "20Mbps", latency = "40ms" }, labels = { kind = "cam" },
       hardware = { gpu = { model = "T4", throughput = "60/s" } }, inference = { cameras = 1 } }
site { name = "plain", count = 1, nodes = 2, uplink = { down = "20Mbps", latency = "40ms" }, labels = { kind = "plain" } }
simulation { duration = "10m" }
)";

TEST(FaultTargets, GpuFailureWithoutInferenceIsALoadError) {
  // A gpu_failure whose nodes, sites, template, where or whole fleet include no GPU inference is exit 2 before anything
  // is simulated, naming file:line and the key.
  std::string dir = fresh_dir("gpu");
  auto with = [&](const std::string& sites, const std::string& selection) {
    return write_scenario(dir, "gpu.lua",
                          sites + "at(\"1m\", fault.gpu_failure { " + selection + ", duration = \"2m\" })\n");
  };
  expect_load_error(run_with(with(kGpuSites, R"(nodes = { "plain-1/n1" })"), {}),
                    {"gpu.lua:6:", "key 'nodes'", "runs no GPU inference"});
  expect_load_error(run_with(with(kGpuSites, R"(sites = { "cam-1", "plain-1" })"), {}),
                    {"gpu.lua:6:", "key 'sites'", "site 'plain-1' runs no GPU inference"});
  expect_load_error(run_with(with(kGpuSites, R"(template = "plain")"), {}),
                    {"gpu.lua:6:", "key 'template'", "site template 'plain' runs no GPU inference"});
  expect_load_error(run_with(with(kGpuSites, R"(where = { kind = "plain" }, fraction = 0.5)"), {}),
                    {"gpu.lua:6:", "key 'where'", "runs GPU inference"});
  std::string no_gpu = R"(
site { name = "plain", count = 1, nodes = 2, uplink = { down = "20Mbps", latency = "40ms" } }
simulation { duration = "10m" }
)";
  expect_load_error(run_with(with(no_gpu, R"(fraction = 0.5)"), {}),
                    {"gpu.lua:4:", "no site template runs GPU inference"});
}

TEST(FaultTargets, NodeFaultsGivenSitesTargetTheirNodes) {
  // gpu_failure and node_crash given sites = { ... } run and target every node of those sites (it used to abort with
  // std::out_of_range), and gpu_failure by where picks among the GPU nodes, as report.json's targets show.
  std::string dir = fresh_dir("gpu");
  std::string path = write_scenario(dir, "gpu.lua", std::string(kGpuSites) + R"(
at("1m", fault.gpu_failure { sites = { "cam-2" }, duration = "2m", name = "g" })
at("1m", fault.node_crash { sites = { "plain-1" }, reboot_after = "2m", name = "c" })
at("5m", fault.gpu_failure { where = { kind = "cam" }, fraction = 0.5, duration = "1m", name = "w" })
)");
  auto run = run_with(path, {});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  auto faults = read_report(run)["faults"];
  ASSERT_EQ(faults.size(), 3u);
  std::map<std::string, nlohmann::json> targets;
  for (const auto& f : faults) targets[f["name"].get<std::string>()] = f["targets"];
  EXPECT_EQ(targets["g"], nlohmann::json({"cam-2/n1", "cam-2/n2"}));
  EXPECT_EQ(targets["c"], nlohmann::json({"plain-1/n1", "plain-1/n2"}));
  EXPECT_EQ(targets["w"].size(), 2u);  // half of the 4 GPU nodes
}

// ---- 5. SimGrid settings ------------------------------------------------------------------------------------------

TEST(SimGridSettings, CommandLineKeysAndValuesAreCheckedBeforeSimGrid) {
  // Each bad --cfg (unknown key, malformed value, refused key, value known to abort) is exit 2 with one line naming the
  // --cfg text instead of SimGrid's abort and its dump of keys, and well-formed SimGrid settings still run and are
  // recorded in report.json.
  std::string path = base_scenario("cfg.lua");
  struct Bad {
    std::string cfg, text;
  };
  for (const Bad& bad : std::vector<Bad>{
           {"foo:bar", "is not a SimGrid 3.32 setting"},
           {"network/TCP-gama:1", "(did you mean 'network/TCP-gamma'?)"},
           {"network/TCP-gamma:abc", "must be a decimal number"},
           {"network/TCP-gamma:0x10", "must be a decimal number"},
           {"network/TCP-gamma:inf", "must be a decimal number"},
           {"network/crosstraffic:maybe", "must be yes, no, on, off, true, false, 1 or 0"},
           {"contexts/stack-size:010", "without leading zeros"},
           {"contexts/stack-size:99999999999", "whole number"},
           {"network/optim:Fast", "must be one of Lazy, TI, Full"},
           {"network/model:help", "'help' would print SimGrid's help"},
           {"network/model:Constant", "Constant is refused"},
           {"cpu/optim:TI", "TI is refused"},
           {"surf/precision:0", "must be above 0"},
           {"contexts/nthreads:2", "must be 1"},
           {"surf/precision:1e-9,tracing:yes", "must not contain blanks or commas"},
           {"debug/breakpoint:1", "is refused: it raises SIGTRAP"},
           {"tracing:yes", "is refused: SimGrid's tracing writes"},
           {"tracing/filename:/tmp/x", "is refused"},
           {"fleetsim/control-messages:network", "is not a setting --cfg may change: fleetsim's one key there is"},
       }) {
    auto run = run_with(path, {"--cfg", bad.cfg});
    EXPECT_EQ(run.exit_code, 2) << bad.cfg << "\n" << run.err;
    EXPECT_NE(run.err.find("--cfg " + bad.cfg + ": "), std::string::npos) << run.err;
    EXPECT_NE(run.err.find(bad.text), std::string::npos) << bad.text << " in " << run.err;
    EXPECT_EQ(run.err.find("Existing config keys"), std::string::npos) << run.err;
    EXPECT_LE(std::count(run.err.begin(), run.err.end(), '\n'), 2) << run.err;
  }
  // The escape hatch still passes any well-formed setting SimGrid knows, and the report records it.
  auto ok = run_with(path, {"--cfg", "network/optim:Lazy", "--cfg", "network/solver:fairbottleneck", "--cfg",
                            "contexts/stack-size:128", "--cfg", "network/crosstraffic:no"});
  ASSERT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  auto engine = read_report(ok)["engine"];
  EXPECT_EQ(engine["network/optim"], "Lazy");
  EXPECT_EQ(engine["network/solver"], "fairbottleneck");
}

TEST(SimGridSettings, AScenarioMaySetOnlyTheAllowList) {
  // simulation { simgrid = ... } and network_model refuse tracing (no file is written), breakpoints, unknown keys,
  // settings off the allow-list and out-of-range values at load time naming file:line and the key, and accept the
  // allow-listed knobs, which report.json records.
  std::string dir = fresh_dir("sim");
  auto with = [&](const std::string& simulation) {
    return write_scenario(dir, "s.lua", R"(
site { name = "s", uplink = { down = "8Mbps", latency = "20ms" } }
app { name = "a", versions = { ["1"] = { image = "1MiB" } } }
at("0s", deploy { app = "a", version = "1" })
simulation { )" + simulation + R"( })");
  };
  std::string trace_file = dir + "/overwritten.txt";
  struct Bad {
    std::string simulation, text;
  };
  for (const Bad& bad : std::vector<Bad>{
           {"simgrid = { tracing = \"yes\", [\"tracing/filename\"] = \"" + trace_file + "\" }",
            "key 'simgrid.tracing': is refused: SimGrid's tracing writes"},
           {R"(simgrid = { ["debug/breakpoint"] = 1 })", "key 'simgrid.debug/breakpoint': is refused"},
           {R"(simgrid = { ["network/TCP-gama"] = "1" })", "(did you mean 'network/TCP-gamma'?)"},
           {R"(simgrid = { ["contexts/nthreads"] = 1 })", "is not a setting a scenario may change"},
           {R"(simgrid = { ["surf/precision"] = 100 })", "must be a number from 1e-12 to 60, got '100'"},
           {R"(simgrid = { ["network/TCP-gamma"] = "0x10" })", "must be a decimal number"},
           {R"(simgrid = { ["network/crosstraffic"] = "maybe" })", "must be yes, no"},
           {R"(simgrid = { ["contexts/factory"] = "thread" })", "must be one of raw, ucontext, boost"},
           {R"(network_model = "Constant")", "key 'network_model': must be one of CM02, LV08, SMPI, got 'Constant'"},
           {R"(network_model = "IB")", "must be one of CM02, LV08, SMPI, got 'IB'"},
       }) {
    auto run = run_with(with(bad.simulation), {});
    expect_load_error(run, {dir + "/s.lua:5:", bad.text});
  }
  EXPECT_FALSE(fs::exists(trace_file));
  auto ok = run_with(with(R"(network_model = "LV08", simgrid = { ["network/TCP-gamma"] = 4194304,
    ["network/optim"] = "Lazy", ["maxmin/precision"] = "1e-6", ["network/crosstraffic"] = true,
    ["contexts/stack-size"] = 256, ["network/weight-S"] = 0 })"),
                     {});
  ASSERT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  auto engine = read_report(ok)["engine"];
  EXPECT_EQ(engine["network/model"], "LV08");
  EXPECT_EQ(engine["network/TCP-gamma"], "4194304");
  EXPECT_EQ(engine["network/crosstraffic"], "true");
}

// ---- 6. trace files -------------------------------------------------------------------------------------------

// A scenario in <dir>/scenario whose trace is `file`.
std::string trace_scenario(const std::string& dir, const std::string& file) {
  fs::create_directories(dir + "/scenario");
  return write_scenario(dir + "/scenario", "trace.lua", R"(
site { name = "s", count = 2, nodes = 1, uplink = { down = "8Mbps", latency = "20ms" } }
at("0s", fault.trace { file = ")" + file + R"(" })
simulation { duration = "10m" }
)");
}

// The message without the path, to compare a refused file that exists with one that does not.
std::string without(std::string text, const std::string& path) {
  for (auto pos = text.find(path); pos != std::string::npos; pos = text.find(path)) text.erase(pos, path.size());
  return text;
}

TEST(TraceFiles, PathsOutsideTheScenarioFolderAreRefusedAlike) {
  // Absolute paths, ".." that climbs out and symlinks that lead out are exit 2 with the same message whether or not the
  // file exists (compared with the path removed), and /dev/zero is refused without being read.
  std::string dir = fresh_dir("trace");
  write_scenario(dir, "outside.csv", "s-1,1s,2s\n");
  struct Pair {
    std::string existing, missing;
  };
  for (const Pair& p : std::vector<Pair>{{"/etc/passwd", "/etc/no-such-file"},
                                         {"../outside.csv", "../no-such.csv"},
                                         {dir + "/outside.csv", dir + "/no-such.csv"}}) {
    auto a = run_with(trace_scenario(dir, p.existing), {});
    expect_load_error(a, {"trace.lua:3:", "key 'file'", "is outside the scenario's folder"});
    auto b = run_with(trace_scenario(dir, p.missing), {});
    expect_load_error(b, {"is outside the scenario's folder"});
    EXPECT_EQ(without(a.err, p.existing), without(b.err, p.missing));
  }
  fs::create_symlink(dir + "/outside.csv", dir + "/scenario/link.csv");
  expect_load_error(run_with(trace_scenario(dir, "link.csv"), {}), {"'link.csv' is outside the scenario's folder"});
  expect_load_error(run_with(trace_scenario(dir, "/dev/zero"), {}), {"is outside the scenario's folder"});
}

TEST(TraceFiles, OnlyRegularFilesOfAtMost64MiB) {
  // Inside the scenario's folder a directory, a (sparse) file over 64 MiB, a missing file and an empty name are exit 2
  // with their own messages, and traces below the folder load and run.
  std::string dir = fresh_dir("trace");
  fs::create_directories(dir + "/scenario/traces");
  expect_load_error(run_with(trace_scenario(dir, "traces"), {}),
                    {"'" + dir + "/scenario/traces' is not a regular file"});
  std::ofstream(dir + "/scenario/big.csv").close();
  fs::resize_file(dir + "/scenario/big.csv", (64ULL << 20) + 1);  // sparse: no disk used
  expect_load_error(run_with(trace_scenario(dir, "big.csv"), {}), {"is larger than 64 MiB"});
  expect_load_error(run_with(trace_scenario(dir, "none.csv"), {}), {"cannot open the trace"});
  expect_load_error(run_with(trace_scenario(dir, ""), {}), {"key 'file': must name a CSV file"});
  write_scenario(dir + "/scenario/traces", "ok.csv", "s-1,1s,2s\ns-2,3s,4s\n");
  auto s = sim::load_scenario(trace_scenario(dir, "traces/ok.csv"), {});
  EXPECT_EQ(s.faults.size(), 2u);
  auto run = run_with(trace_scenario(dir, "traces/../traces/ok.csv"), {});
  EXPECT_EQ(run.exit_code, 0) << run.err;
}

TEST(TraceFiles, AllowedPathsOpenOtherFolders) {
  // With LoadOptions::allowed_paths (--allow-path) load_scenario accepts a trace given as an absolute path into that
  // folder or climbing into it, and still refuses a sibling folder, and the same path without the option.
  std::string dir = fresh_dir("trace");
  write_scenario(fresh_dir("shared"), "x.csv", "s-1,1s,2s\n");
  std::string shared = fs::path(dir).parent_path().string() + "/shared";
  write_scenario(dir, "sibling.csv", "s-1,1s,2s\n");
  sim::LoadOptions options;
  options.allowed_paths = {shared};
  EXPECT_EQ(sim::load_scenario(trace_scenario(dir, shared + "/x.csv"), {}, options).faults.size(), 1u);
  EXPECT_EQ(sim::load_scenario(trace_scenario(dir, "../../shared/x.csv"), {}, options).faults.size(), 1u);
  EXPECT_THROW(sim::load_scenario(trace_scenario(dir, "../sibling.csv"), {}, options), sim::ScenarioError);
  EXPECT_THROW(sim::load_scenario(trace_scenario(dir, shared + "/x.csv"), {}), sim::ScenarioError);
}

TEST(TraceFiles, AllowPathFlagOfTheCommand) {
  // `fleetsim run --allow-path DIR` is how a user reaches LoadOptions::allowed_paths: without it the absolute path is
  // exit 2 naming the flag, with it the run passes and its replay command carries the flag; a DIR that is not a
  // folder is a usage error.
  std::string dir = fresh_dir("trace");
  write_scenario(fresh_dir("shared"), "x.csv", "s-1,1s,2s\n");
  std::string shared = fs::path(dir).parent_path().string() + "/shared";
  std::string scenario = trace_scenario(dir, shared + "/x.csv");
  auto refused = run_fleetsim(scenario, {}, dir + "/out");
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find("--allow-path"), std::string::npos) << refused.err;
  auto allowed = run_fleetsim(scenario, {"--allow-path", shared}, dir + "/out");
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
  auto not_dir = run_fleetsim(scenario, {"--allow-path", shared + "/x.csv"}, dir + "/out");
  EXPECT_EQ(not_dir.exit_code, 2);
  EXPECT_NE(not_dir.err.find("not a directory"), std::string::npos) << not_dir.err;
}

// ---- 7. selectors that match nothing ----------------------------------------------------------------------------

TEST(Selectors, ASelectorNoTemplateCanMatchIsALoadError) {
  // Deploy, canary and fault selectors that no site template can match are exit 2 naming the key and what is wrong
  // (unknown label, unknown value, no template with all), while the site and site_template labels the orchestrator adds
  // select for deploy and canary (a deploy by site targets its 2 nodes).
  std::string path = base_scenario("where.lua");
  std::string dir = fs::path(path).parent_path().string();
  auto with = [&](const std::string& line) { return write_scenario(dir, "w.lua", kBase + line + "\n"); };
  expect_load_error(
      run_with(with(R"(at("2h", deploy { app = "cam", version = "1.0", where = { rgion = "eu" } }))"), {}),
      {"w.lua:10:", "deploy: key 'where': matches no node", "(did you mean 'region'?)"});
  expect_load_error(
      run_with(with(R"(at("2h", deploy { app = "cam", version = "1.0", where = { region = "asia" } }))"), {}),
      {"w.lua:10:", "no site template has region = \"asia\" (region: eu, us)"});
  expect_load_error(
      run_with(with(R"(at("2h", deploy { app = "cam", version = "1.0", where = { region = "us", role = "pos" } }))"),
               {}),
      {"w.lua:10:", "no site template has all of these labels together"});
  expect_load_error(
      run_with(with(R"(at("2h", deploy { app = "cam", version = "1.0", where = { site = "lte-2" } }))"), {}),
      {"w.lua:10:", "no site template has site = \"lte-2\""});
  expect_load_error(run_with(with(R"(at("2h", rollout { app = "pos", version = "2.0", name = "c",
                   strategy = { kind = "canary", canary = { where = { rgion = "eu" } } } }))"),
                             {}),
                    {"w.lua:10:", "key 'strategy.canary.where'", "(did you mean 'region'?)"});
  expect_load_error(run_with(with(R"(at("2h", fault.partition { where = { rgion = "eu" }, duration = "1m" }))"), {}),
                    {"w.lua:10:", "key 'where'", "(did you mean 'region'?)"});
  expect_load_error(
      run_with(with(R"(at("2h", fault.partition { where = { site_template = "lte" }, duration = "1m" }))"), {}),
      {"w.lua:10:", "a fault's where reads the site templates' own labels", "template = \"...\""});

  // The implicit labels select as the orchestrator does.
  auto s = sim::load_scenario(
      with(R"(at("2h", deploy { app = "cam", version = "1.0", where = { site_template = "lte" }, name = "d1" })
at("3h", deploy { app = "cam", version = "1.0", where = { site = "store-2" }, name = "d2" })
at("4h", rollout { app = "pos", version = "2.0", name = "c", strategy = { kind = "canary", canary = { where = { site = "store-1" } } } }))"),
      {});
  EXPECT_EQ(s.timeline.size(), 5u);
  auto run =
      run_with(with(R"(at("2h", deploy { app = "cam", version = "1.0", where = { site = "store-2" }, name = "d2" })
expect "d2.targeted == 2")"),
               {});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
}

// ---- 8. expectations ---------------------------------------------------------------------------------------------

TEST(Expectations, NonFiniteValuesAreRejected) {
  // Expectations against values that are not finite decimal numbers (nan, inf, 1e999, hex) or durations and sizes too
  // large to be finite, which would always or never hold, are exit 2 naming the expectation, while 1.5e1 loads as 15.
  std::string dir = fresh_dir("expect");
  for (const char* e : {"upgrade.failed == nan", "upgrade.failed < inf", "upgrade.failed < -inf",
                        "upgrade.failed < 1e999", "upgrade.failed < 0x10", "upgrade.failed < infinity"}) {
    std::string path = write_scenario(dir, "e.lua", kBase + std::string("expect \"") + e + "\"\n");
    expect_load_error(run_with(path, {}), {"e.lua:10:", "expect \"" + std::string(e) + "\"", "finite"});
  }
  for (const char* e :
       {"upgrade.time_to_100 < 1e999s", "fleet.registry_egress_bytes < 1e999GiB", "upgrade.time_to_100 < infs"}) {
    std::string path = write_scenario(dir, "e.lua", kBase + std::string("expect \"") + e + "\"\n");
    expect_load_error(run_with(path, {}), {"e.lua:10:", "expect \"" + std::string(e) + "\""});
  }
  auto s = sim::load_scenario(
      write_scenario(dir, "ok.lua", kBase + std::string("expect \"upgrade.failed <= 1.5e1\"\n")), {});
  EXPECT_DOUBLE_EQ(s.expectations.at(0).value, 15.0);
}

// ---- 9 and 10. when a scenario without deploy or rollout ends ---------------------------------------------------

TEST(RunEnd, AScenarioWithoutActionsNeedsADuration) {
  // A scenario with sensors but no deploy, rollout or simulation.duration (which used to "simulate -33m" and pass) is
  // exit 2 asking for simulation { duration }, and with a duration from the file or --set it runs to exactly that time.
  std::string dir = fresh_dir("end");
  std::string sensors = R"(
site { name = "s", uplink = { down = "8Mbps", latency = "20ms" }, sensors = { { name = "t", rate = "1/s" } } }
)";
  expect_load_error(run_with(write_scenario(dir, "a.lua", sensors), {}),
                    {dir + "/a.lua: the scenario has no deploy or rollout", "simulation { duration = \"...\" }"});
  expect_load_error(run_with(write_scenario(dir, "b.lua", sensors + "simulation { max_time = \"1h\" }\n"), {}),
                    {dir + "/b.lua:3: the scenario has no deploy or rollout"});
  auto ok = run_with(write_scenario(dir, "c.lua", sensors + "simulation { duration = \"5m\" }\n"), {});
  ASSERT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_DOUBLE_EQ(read_report(ok)["end_time_s"].get<double>(), 300.0);
  auto by_set = run_with(write_scenario(dir, "d.lua", sensors), {"--set", "simulation.duration=5m"});
  EXPECT_EQ(by_set.exit_code, 0) << by_set.out << by_set.err;
}

TEST(RunEnd, AFaultAtOrAfterTheDurationOfAScenarioWithoutActionsIsRefused) {
  // Without deploy or rollout, a scripted fault or trace line starting at or after simulation.duration is exit 2 naming
  // the fault and the duration, a fault before it runs, and with an operation the same late fault still loads (the
  // runtime's case).
  std::string dir = fresh_dir("late");
  std::string site = R"(site { name = "s", count = 2, uplink = { down = "8Mbps", latency = "20ms" } }
simulation { duration = "1h" }
)";
  expect_load_error(
      run_with(
          write_scenario(dir, "a.lua",
                         site + R"(at("1h", fault.partition { sites = { "s-1" }, duration = "1m", name = "late" }))"),
          {}),
      {dir + "/a.lua:3: at: fault 'late' starts at 1h", "simulation.duration (1h", "never be injected"});
  write_scenario(dir, "t.csv", "s-1,10m,20m\ns-2,1h,1h1m\n");
  expect_load_error(
      run_with(write_scenario(dir, "b.lua", site + R"(at("0s", fault.trace { file = "t.csv", name = "rec" }))"), {}),
      {dir + "/t.csv:2: at: fault 'rec' starts at 1h"});
  auto ok = run_with(
      write_scenario(dir, "c.lua", site + R"(at("59m", fault.partition { sites = { "s-1" }, duration = "5m" }))"), {});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  auto with_action = sim::load_scenario(write_scenario(dir, "d.lua", site + R"(
app { name = "a", versions = { ["1"] = { image = "1MiB" } } }
at("0s", deploy { app = "a", version = "1" })
at("2h", fault.partition { sites = { "s-1" }, duration = "1m" }))"),
                                        {});
  EXPECT_EQ(with_action.faults.size(), 1u);
}

TEST(Timeline, ARolloutAtTheSameTimeAsItsDeployIsAccepted) {
  // A rollout may be scheduled at the very time of the deploy that places its app (the deploy comes first in the
  // timeline): not an error. (Killed mutant: load-rollout-same-time-as-deploy.)
  std::string dir = fresh_dir("timeline");
  auto scenario = sim::load_scenario(write_scenario(dir, "same.lua", R"(
site { name = "s", uplink = { down = "8Mbps", latency = "20ms" } }
app { name = "a", versions = { ["1"] = { image = "1MiB" }, ["2"] = { image = "2MiB" } } }
at("1h", deploy { app = "a", version = "1" })
at("1h", rollout { app = "a", version = "2" })
)"),
                                     {});
  EXPECT_EQ(scenario.timeline.size(), 2u);
}

}  // namespace
}  // namespace fleetsim::testing
