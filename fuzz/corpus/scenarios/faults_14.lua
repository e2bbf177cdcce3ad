
site { name = "s", count = 2, nodes = 1, uplink = { down = "8Mbps", latency = "20ms" } }
app { name = "x", versions = { ["1"] = { image = "1MiB", start_time = "0s" }, ["2"] = { image = "1MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
at("60s", rollout { app = "x", version = "2", name = "r", node_deadline = "10m" })
at("61s", fault.orchestrator_restart { downtime = "2m" })
expect "r.succeeded == 2"
