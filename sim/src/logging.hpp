// One spdlog logger per module; every line starts with the simulated time and the actor@host, like SimGrid's
// "[%10.6r] (%a@%h)". Logs are for people: tests and reports never parse them.
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace fleetsim::sim {

// -1: warnings and errors only; 0: info; 1: debug; 2: trace.
// clear_line: start every line by erasing the terminal's current line (where the progress line is drawn).
void setup_logging(int verbosity, bool clear_line = false);
std::shared_ptr<spdlog::logger> logger(const std::string& module);
// Number of error-level lines logged so far (an error during a run fails it).
std::size_t error_count();

}  // namespace fleetsim::sim
