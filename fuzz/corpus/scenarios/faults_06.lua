
site { name = "s", count = 1, nodes = 1, uplink = { down = "8Mbps", latency = "10ms" } }
app { name = "x", versions = { ["1"] = { image = "16MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
at("5s", fault.degrade { sites = { "s-1" }, factor = 0.25, duration = "10s" })
