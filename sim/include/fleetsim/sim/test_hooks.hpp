// A seam for tests only. The fleetsim binary links the default below, which does nothing; the test build of the
// command (tests/hooked_main, `fleetsim_hooked`) defines it to make a run misbehave in one chosen way, so that tests
// can show each invariant failing a whole run: exit code 1, named in report.json, junit.xml and the summary.
#pragma once

#include "fleetsim/checks/invariants.hpp"

namespace fleetsim::sim::test_hooks {

// Called once the simulation ended, before its end is judged: may feed the checks more records and change the end.
void before_finish(checks::InvariantChecks& checks, checks::RunEnd& end);

}  // namespace fleetsim::sim::test_hooks
