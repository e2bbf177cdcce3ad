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

std::string junit_problems(const std::string& path) {
  const std::string log = path + ".xmllint";
  const std::string command = "xmllint --noout --schema '" + source_path("tests/junit-10.xsd") + "' '" + path +
                              "' > '" + log + "' 2>&1";
  const int status = std::system(command.c_str());
  if (status != 0) return "xmllint (exit " + std::to_string(status) + "): " + read_file(log);
  const std::string xml = read_file(path);
  auto count = [](const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  auto attribute = [](const std::string& text, const std::string& element, const std::string& name) {
    const auto start = text.find("<" + element + " ");
    const auto end = text.find('>', start);
    const auto at = text.find(" " + name + "=\"", start);
    if (start == std::string::npos || at == std::string::npos || at > end) return std::string("missing");
    const auto value = at + name.size() + 3;
    return text.substr(value, text.find('"', value) - value);
  };
  // Each suite's counts are those of its own test cases; the file's, those of all of them (no skipped there:
  // the schema has none on testsuites).
  auto check = [&](const std::string& text, const std::string& element, bool with_skipped) {
    std::string found;
    for (const auto& [attr, what] : std::vector<std::pair<std::string, std::string>>{
             {"tests", "<testcase "}, {"failures", "<failure "}, {"errors", "<error "}, {"skipped", "<skipped "}}) {
      if (attr == "skipped" && !with_skipped) continue;
      if (attribute(text, element, attr) != std::to_string(count(text, what)))
        found += element + " " + attr + "=" + attribute(text, element, attr) + " for " +
                 std::to_string(count(text, what)) + " " + what + "; ";
    }
    if (attribute(text, element, "time") == "missing") found += element + " has no time; ";
    return found;
  };
  std::string problems = check(xml, "testsuites", false);
  std::size_t suites = 0;
  for (auto start = xml.find("<testsuite "); start != std::string::npos; start = xml.find("<testsuite ", start + 1)) {
    const auto end = xml.find("</testsuite>", start);
    problems += check(xml.substr(start, end == std::string::npos ? std::string::npos : end - start), "testsuite", true);
    ++suites;
  }
  if (suites == 0) problems += "no testsuite; ";
  return problems;
}

}  // namespace fleetsim::testing
