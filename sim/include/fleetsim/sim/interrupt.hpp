// Ctrl-C and SIGTERM: the first one asks the run to stop cleanly (the simulation ends at the next event, and the
// reports of what was simulated so far are written, marked "interrupted"); a second one exits at once with 130.
#pragma once

namespace fleetsim::sim {

// Installs the handlers for SIGINT and SIGTERM (again after SimGrid installed its own).
void install_interrupt_handlers();
// Whether a stop was asked for (async-signal-safe to set, cheap to read).
bool interrupt_requested();
// Asks for a stop as a signal would (tests, internal errors).
void request_interrupt();

}  // namespace fleetsim::sim
