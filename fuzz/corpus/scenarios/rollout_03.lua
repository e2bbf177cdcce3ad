
at("10m", rollout { app = "pos", version = "2", name = "up", rollback = "revert_all",
                    strategy = { kind = "canary", canary = 2, canary_time = "15m", size = "50%" },
                    abort = { failure_threshold = "50%", min_executed = 1 } })
expect "up.canceled == 18"
expect "pos@2.nodes_at_end == 0"
