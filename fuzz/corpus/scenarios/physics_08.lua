
site { name = "s", count = 100, nodes = 1, uplink = { down = "80Mbps", latency = "20ms" } }
app { name = "x", versions = { ["1"] = { image = "1MiB", start_time = "0s" }, ["2"] = { image = "1MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
at("1m", rollout { app = "x", version = "2", name = "r",
                   strategy = { kind = "exponential", base_per_minute = 10, increment_factor = 2, increase_after = 20,
                                maximum_per_minute = 40 } })
expect "r.succeeded == 100"
