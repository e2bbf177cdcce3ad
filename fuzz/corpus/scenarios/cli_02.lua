
scenario { name = "a <b> & \"c\" \1 d" }
site { name = "store", count = 2, nodes = 1, uplink = { down = "20Mbps", latency = "40ms" } }
app { name = "pos", versions = { ["1,\"x\""] = { image = "10MiB" } } }
at("0s", deploy { app = "pos", version = "1,\"x\"", name = "install" })
expect "install.succeeded == 3"
simulation { states_sample = "1s" }
