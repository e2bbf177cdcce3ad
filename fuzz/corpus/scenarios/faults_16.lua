
site { name = "s", count = 5, nodes = 2, uplink = { down = "8Mbps", latency = "20ms" },
       outages = { mtbf = "1h", mttr = "5m" } }
app { name = "x", versions = { ["1"] = { image = "5MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d", node_deadline = "6h" })
simulation { duration = "2d" }
