// Operations as JSON: what the orchestrator's HTTP API accepts (a deploy or a rollout, docs/DAEMONS.md) and returns
// (an operation's progress, per node), and what its journal stores. Reading is strict: an unknown key, a missing
// one, a wrong type or a bad value is a ConfigError naming the origin and the key's path.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "fleetsim/agents/orchestrator.hpp"

namespace fleetsim::net {

// {"kind": "deploy"|"rollout", "release": {...}, "selector": {...}, "strategy": {...}, "node_deadline": "30m",
//  "abort": {"failure_threshold": 30, "min_executed": 5, "failure_type": "all"}, "rollback": "none"|"revert_all"}
agents::Command command_from_json(const nlohmann::json& body, const std::string& origin);
// The inverse, for the journal: command_from_json(command_json(c)) == c for every command a client can submit.
nlohmann::json command_json(const agents::Command& command);

nlohmann::json operation_json(const agents::Operation& op, bool with_targets);

}  // namespace fleetsim::net
