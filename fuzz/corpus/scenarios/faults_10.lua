
site { name = "s", count = 1, nodes = 2, uplink = { down = "8Mbps", latency = "20ms" }, agent = { resume = "