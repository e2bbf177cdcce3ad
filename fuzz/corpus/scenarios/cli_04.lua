
site { name = "store", count = 2, nodes = 2, uplink = { down = "20Mbps", up = "2Mbps", latency = "40ms" },
       sensors = { { name = "temp", rate = "10/s", size = "200B" } } }
app { name = "pos", versions = { ["1"] = { image = "10MiB" } } }
at("0s", deploy { app = "pos", version = "1", name = "install" })
at("1m", fault.degrade { name = "slow", template = "store", factor = 0.3, duration = "10m" })
simulation { duration = "30m" }
