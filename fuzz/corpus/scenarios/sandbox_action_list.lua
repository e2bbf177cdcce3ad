site { name = "s", uplink = { down = "20Mbps", latency = "40ms" } }
at("0s", deploy { "x" })
