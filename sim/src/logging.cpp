#include "logging.hpp"

#include <atomic>
#include <cstdio>

#include <simgrid/s4u/Actor.hpp>
#include <simgrid/s4u/Engine.hpp>
#include <simgrid/s4u/Host.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace fleetsim::sim {
namespace {

std::atomic<std::size_t> errors{0};

class SimTimeFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&, spdlog::memory_buf_t& dest) override {
    char buf[96];
    int n;
    if (simgrid::s4u::Actor::is_maestro()) {
      n = std::snprintf(buf, sizeof buf, "[%12.6f] (maestro)", simgrid::s4u::Engine::get_clock());
    } else {
      const auto* self = simgrid::s4u::Actor::self();
      n = std::snprintf(buf, sizeof buf, "[%12.6f] (%s@%s)", simgrid::s4u::Engine::get_clock(), self->get_cname(),
                        self->get_host()->get_cname());
    }
    dest.append(buf, buf + n);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<SimTimeFlag>(); }
};

class CountingSink : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (msg.level >= spdlog::level::err) ++errors;
  }
  void flush_() override {}
};

std::shared_ptr<spdlog::sinks::stderr_sink_st> stderr_sink;
std::shared_ptr<CountingSink> counting_sink;
spdlog::level::level_enum level = spdlog::level::info;

}  // namespace

void setup_logging(int verbosity, bool clear_line) {
  level = verbosity < 0    ? spdlog::level::warn
          : verbosity == 0 ? spdlog::level::info
          : verbosity == 1 ? spdlog::level::debug
                           : spdlog::level::trace;
  stderr_sink = std::make_shared<spdlog::sinks::stderr_sink_st>();
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<SimTimeFlag>('*').set_pattern(std::string(clear_line ? "\r\033[K" : "") + "%* [%n] %^%l%$: %v");
  stderr_sink->set_formatter(std::move(formatter));
  counting_sink = std::make_shared<CountingSink>();
}

std::shared_ptr<spdlog::logger> logger(const std::string& module) {
  if (auto existing = spdlog::get(module)) return existing;
  if (!stderr_sink) setup_logging(0);
  auto made = std::make_shared<spdlog::logger>(module, spdlog::sinks_init_list{stderr_sink, counting_sink});
  made->set_level(level);
  spdlog::register_logger(made);
  return made;
}

std::size_t error_count() { return errors.load(); }

}  // namespace fleetsim::sim
