site { name = "s", count = 2, nodes = 1, uplink = { down = "8Mbps", latency = "20ms" } }
