
site { name = "s", count = 2, nodes = 1, uplink = { down = "8Mbps", latency = "20ms" } }
at("100s", fault.trace { file = "outages.csv", name = "recorded" })
simulation { duration = "10m" }
