
site { name = "s", count = 1, nodes = 1, uplink = { down = "50Mbps", up = "1Mbps", latency = "5ms" } }
app { name = "x", versions = { ["1"] = { image = "10MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
