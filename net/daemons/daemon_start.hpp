// What both daemons do before their own work: read `NAME CONFIG.json [--log-level warn|info|debug]`, raise the
// open-file limit, and set up structured logging (one line per event, key=value after the time and level).
#pragma once

#include <sys/resource.h>

#include <iostream>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>

namespace fleetsim::net {

// The configuration file's path; or the exit code when the daemon must not start (0 after --help, 2 for a mistake).
struct DaemonStart {
  std::string config_path;
  std::optional<int> exit_code;
};

inline DaemonStart start_daemon(const std::string& name, const char* usage, int argc, char** argv) {
  std::string config_path, level = "info";
  auto stop = [](int code) { return DaemonStart{{}, code}; };
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      return stop(0);
    }
    if (arg == "--log-level" && i + 1 < argc) {
      level = argv[++i];
      if (level != "warn" && level != "info" && level != "debug") {
        std::cerr << name << ": --log-level '" << level << "' is not warn, info or debug\n";
        return stop(2);
      }
    } else if (!arg.empty() && arg[0] == '-') {
      std::cerr << name << ": unknown option '" << arg << "'\n" << usage;
      return stop(2);
    } else if (config_path.empty()) {
      config_path = arg;
    } else {
      std::cerr << name << ": one configuration file only ('" << arg << "')\n";
      return stop(2);
    }
  }
  if (config_path.empty()) {
    std::cerr << usage;
    return stop(2);
  }
  // Each hosted agent holds a connection and a pidfd per process, and the orchestrator a connection per node: the
  // default soft limit of 1,024 descriptors is too few for a thousand nodes.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %l " + name + " %v");
  spdlog::set_level(level == "warn" ? spdlog::level::warn : level == "debug" ? spdlog::level::debug : spdlog::level::info);
  return {config_path, std::nullopt};
}

}  // namespace fleetsim::net
