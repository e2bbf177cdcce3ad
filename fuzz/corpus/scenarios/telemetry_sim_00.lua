
site { name = "s", count = 1, nodes = 1, uplink = { down = "10Mbps", up = "1Mbps", latency = "10ms" },
       sensors = { { name = "meter", rate = "100/s", size = "200B" } },
       bus = { 