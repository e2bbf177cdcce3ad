// End-of-run invariants of each operation, from the orchestrator's records and the nodes' own notification times:
// terminal states account for every target, batch gates (on both paths), revert_all converges, the abort fires
// within one check of its threshold, the rolling window holds in every site, the exponential rate's maximum holds.
#pragma once

#include <functional>

#include "fleetsim/checks/history.hpp"
#include "violation_log.hpp"

namespace fleetsim::checks {

// first_notified(app, generation, node): when the node first received that desired state (negative: never).
using FirstNotified = std::function<double(const std::string&, std::uint64_t, std::size_t)>;

void check_operation(const FleetLayout& fleet, const OperationRecord& record, const RunEnd& end,
                     const FirstNotified& first_notified, ViolationLog& log);

}  // namespace fleetsim::checks
