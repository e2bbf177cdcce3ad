
cloud { registry = { egress = "100Mbps", latency = "1ms" }, orchestrator = { bandwidth = "1Gbps", latency = "1ms" } }
site { name = "s", count = 4, nodes = 5, uplink = { down = "1Gbps", latency = "10ms" },
       lan = { bandwidth = "10Gbps", latency = "0.1ms" } }
app { name = "a", versions = { ["1"] = { image = "50MiB", start_time = "0s" } } }
at("0s", deploy { app = "a", version = "1", name = "d" })
