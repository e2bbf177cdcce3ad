
cloud { registry = { egress = "10Gbps", latency = "1ms" } }
site { name = "a", count = 3, nodes = 2, uplink = { down = "10Mbps", up = "1Mbps", latency = "20ms" } }
site { name = "b", count = 2, nodes = 5, uplink = { down = "40Mbps", up = "5Mbps", latency = "40ms" } }
app { name = "x", versions = { ["1"] = { image = "20MiB", start_time = "0s" } } }
at("1m", deploy { app = "x", version = "1", name = "d" })
