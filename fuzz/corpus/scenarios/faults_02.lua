
site { name = "s", count = 10, nodes = 1, uplink = { down = "8Mbps", latency = "20ms" } }
app { name = "x", versions = { ["1"] = { image = "1MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
at("1s", fault.partition { fraction = 0.3, duration = "10s" })
