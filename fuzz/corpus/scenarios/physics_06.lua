
cloud { registry = { egress = "10Gbps", latency = "5ms" } }
site { name = "s", count = 1, nodes = 1, uplink = { down = "2Mbps", latency = "50ms", loss = 0.0001 } }
app { name = "x", versions = { ["1"] = { image = "2MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
