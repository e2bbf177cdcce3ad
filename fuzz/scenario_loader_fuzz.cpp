// libFuzzer target for the scenario loader: the input bytes become a scenario file, which load_scenario() reads as
// `fleetsim run` would, with the sandbox's budgets lowered (--set lua.instructions=1e6, lua.memory=64MiB) so that an
// endless loop or a memory blow-up ends in the budget's ScenarioError well within -timeout and -rss_limit_mb. A ScenarioError is the expected outcome for bad input; any other exception, a
// crash, a hang (-timeout), a memory blow-up (-rss_limit_mb) or a sanitizer report is a finding. docs/TESTING.md.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <unistd.h>

#include "fleetsim/sim/scenario.hpp"

namespace {

std::string temp_dir;  // this process's own directory: parallel jobs and workers never share a file

void remove_temp_dir() {
  std::remove((temp_dir + "/scenario.lua").c_str());
  rmdir(temp_dir.c_str());
}

const std::string& scenario_path() {
  static const std::string path = [] {
    const char* tmp = std::getenv("TMPDIR");
    temp_dir = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/fleetsim-fuzz-XXXXXX";
    if (mkdtemp(temp_dir.data()) == nullptr) {
      std::perror("scenario_loader_fuzz: mkdtemp");
      std::abort();
    }
    std::atexit(remove_temp_dir);
    return temp_dir + "/scenario.lua";
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = scenario_path();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) {
      std::perror("scenario_loader_fuzz: cannot write the scenario file");
      std::abort();
    }
  }
  try {
    fleetsim::sim::load_scenario(path, {"lua.instructions=1e6", "lua.memory=64MiB"});
  } catch (const fleetsim::sim::ScenarioError&) {
    // The loader refused the input with a message: what it must do with bad input.
  }
  return 0;
}
