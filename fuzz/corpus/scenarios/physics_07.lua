
site { name = "s", count = 10, nodes = 1, uplink = { down = "80Mbps", latency = "20ms" } }
app { name = "x", versions = { ["1"] = { image = "1MiB", start_time = "0s" }, ["2"] = { image = "1MiB", start_time = "1s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
at("1m", rollout { app = "x", version = "2", name = "r", strategy = { kind = "batches", size = 3, healthy_time = "60s" } })
expect "r.succeeded == 10"
