
cloud { registry = { egress = "1Gbps", latency = "3ms" }, orchestrator = { bandwidth = "1Gbps", latency = "7ms" } }
site { name = "s", count = 1, nodes = 1, uplink = { down = "8Mbps", latency = "200ms" },
       lan = { bandwidth = "1Mbps", latency = "1ms" } }
app { name = "x", versions = { ["1"] = { image = "1KiB", start_time = "0s" } } }
at("10s", deploy { app = "x", version = "1", name = "d" })
