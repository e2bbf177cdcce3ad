
site { name = "s", count = 1, nodes = 2, uplink = { down = "80Mbps", latency = "20ms" } }
app { name = "x", versions = { ["1"] = { image = "10MiB", start_time = "0s" }, ["2"] = { image = "20MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
at("50s", fault.disk_full { nodes = { "s-1/n1" }, free = "1MiB", duration = "1h" })
at("1m", rollout { app = "x", version = "2", name = "r" })
expect "r.failed == 1"
expect "r.succeeded == 1"
