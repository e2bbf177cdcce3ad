
site { name = "s", count = 2, nodes = 1, uplink = { down = "8Mbps", latency = "20ms" } }
app { name = "x", versions = { ["1"] = { image = "1MiB", start_time = "0s" }, ["2"] = { image = "1MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
at("60s", rollout { app = "x", version = "2", name = "r" })
at("59s", fault.partition { sites = { "s-1" }, duration = "2m" })
expect "r.succeeded == 2"
