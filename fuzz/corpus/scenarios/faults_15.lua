
site { name = "s", count = 3, nodes = 1, uplink = { down = "8Mbps", latency = "20ms" },
       outages = { mtbf = "10m", mttr = "2m", 