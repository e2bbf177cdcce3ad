site { name = "s", uplink = { down = "20Mbps", latency = "40ms" } }
error({})
