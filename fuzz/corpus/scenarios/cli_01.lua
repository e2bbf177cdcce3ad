
scenario { name = "small" }
site { name = "store", count = 4, nodes = 2, uplink = { down = "20Mbps", latency = "40ms" } }
app { name = "pos", versions = { ["1"] = { image = "10MiB" } } }
at("0s", deploy { app = "pos", version = "1", name = "install" })
