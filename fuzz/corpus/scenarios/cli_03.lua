
site { name = "store", count = 4, nodes = 2, uplink = { down = "20Mbps", latency = "40ms" },
       agent = { notify_jitter = "30s" } }
app { name = "pos", versions = { ["1"] = { image = "10MiB" } } }
at("0s", deploy { app = "pos", version = "1", name = "install" })
