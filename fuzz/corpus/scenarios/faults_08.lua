
site { name = "n", count = 3, nodes = 1, uplink = { down = "8Mbps", latency = "20ms" }, labels = { region = "north" } }
site { name = "m", count = 2, nodes = 1, uplink = { down = "8Mbps", latency = "20ms" }, labels = { region = "north" } }
site { name = "s", count = 4, nodes = 1, uplink = { down = "8Mbps", latency = "20ms" }, labels = { region = "south" } }
at("1s", fault.partition { where = { region = "north" }, duration = "1m", name = "north" })
simulation { duration = "2m" }
