#include "sim_test_support.hpp"

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>

namespace fleetsim::testing {

namespace fs = std::filesystem;

std::string fresh_dir(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path dir = fs::path(::testing::TempDir()) / "fleetsim-tests" /
                 (std::string(info->test_suite_name()) + "." + info->name()) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::string write_scenario(const std::string& dir, const std::string& name, const std::string& lua) {
  std::string path = (fs::path(dir) / name).string();
  std::ofstream(path) << lua;
  return path;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

namespace {
std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}
}  // namespace

RunOutput run_raw(const std::vector<std::string>& args) {
  RunOutput r;
  fs::path tmp = fs::path(::testing::TempDir()) / "fleetsim-tests";
  fs::create_directories(tmp);
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string stem = (tmp / (std::string(info->test_suite_name()) + "." + info->name())).string();
  std::string cmd = std::string("CI=1 ") + quote(FLEETSIM_BINARY);
  for (const auto& a : args) cmd += " " + quote(a);
  cmd += " > " + quote(stem + ".stdout") + " 2> " + quote(stem + ".stderr") + " < /dev/null";
  int status = std::system(cmd.c_str());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(stem + ".stdout");
  r.err = read_file(stem + ".stderr");
  return r;
}

RunOutput run_fleetsim(const std::string& scenario, const std::vector<std::string>& args, const std::string& out_dir) {
  std::vector<std::string> all{"run", scenario};
  all.insert(all.end(), args.begin(), args.end());
  all.insert(all.end(), {"--out", out_dir, "--no-progress", "-q"});
  RunOutput r = run_raw(all);
  r.dir = out_dir;
  return r;
}

nlohmann::json read_report(const RunOutput& run) {
  return nlohmann::json::parse(read_file((fs::path(run.dir) / "report.json").string()));
}

std::vector<std::vector<std::string>> read_csv(const std::string& path, std::vector<std::string>* header) {
  std::istringstream in(read_file(path));
  std::vector<std::vector<std::string>> rows;
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::string cell;
    std::istringstream l(line);
    while (std::getline(l, cell, ',')) cells.push_back(cell);
    if (!line.empty() && line.back() == ',') cells.emplace_back();
    if (first) {
      if (header) *header = cells;
      first = false;
    } else {
      rows.push_back(cells);
    }
  }
  return rows;
}

std::size_t column(const std::vector<std::string>& header, const std::string& name) {
  auto it = std::find(header.begin(), header.end(), name);
  EXPECT_NE(it, header.end()) << "no column " << name;
  return static_cast<std::size_t>(it - header.begin());
}

std::string source_path(const std::string& relative) { return std::string(FLEETSIM_SOURCE_DIR) + "/" + relative; }

}  // namespace fleetsim::testing
