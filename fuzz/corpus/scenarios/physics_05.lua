
cloud { registry = { egress = "10Gbps", latency = "5ms" } }
site { name = "s", count = 1, nodes = 1, uplink = { down = "100Mbps", latency = "50ms", loss = 0.02 } }
app { name = "x", versions = { ["1"] = { layers = { "8MiB", "8MiB", "8MiB" }, start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
