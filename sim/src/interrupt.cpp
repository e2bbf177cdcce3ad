#include "fleetsim/sim/interrupt.hpp"

#include <unistd.h>

#include <csignal>

namespace fleetsim::sim {
namespace {

volatile std::sig_atomic_t requested = 0;

extern "C" void on_signal(int /*signal*/) {
  if (requested != 0) _exit(130);  // the second Ctrl-C: the user wants out now
  requested = 1;
}

}  // namespace

void install_interrupt_handlers() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

bool interrupt_requested() { return requested != 0; }

void request_interrupt() { requested = 1; }

}  // namespace fleetsim::sim
