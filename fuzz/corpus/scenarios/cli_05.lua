
site { name = "a", count = 1, nodes = 2, uplink = { down = "20Mbps", latency = "40ms" }, labels = { ring = "a" } }
site { name = "b", count = 1, nodes = 2, uplink = { down = "20Mbps", latency = "40ms" }, labels = { ring = "b" } }
app { name = "pos", versions = { ["1"] = { image = "10MiB" } } }
at("0s", deploy { app = "pos", version = "1", name = "install", where = { ring = "a" } })
