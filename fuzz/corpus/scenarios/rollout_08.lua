
site { name = "s", count = 3, nodes = 4, uplink = { down = "16Mbps", latency = "20ms" } }
app { name = "pos", versions = { ["1"] = { image = "5MiB", start_time = "2s" }, ["2"] = { image = "20MiB", start_time = "2s" } } }
at("0s", deploy { app = "pos", version = "1", name = "install" })
at("10m", rollout { app = "pos", version = "2", name = "up",
                    strategy = { kind = "rolling", max_unavailable = "25%", max_surge = 0 } })
expect "up.succeeded == 12"
