// The product's test hook: nothing. Weak, so that the test build's definition (tests/hooked/misbehave.cpp) wins.
#include "fleetsim/sim/test_hooks.hpp"

namespace fleetsim::sim::test_hooks {

__attribute__((weak)) void before_finish(checks::InvariantChecks& /*checks*/, checks::RunEnd& /*end*/) {}

}  // namespace fleetsim::sim::test_hooks
