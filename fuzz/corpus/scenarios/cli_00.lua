
scenario { name = "long" }
site { name = "store", count = 300, nodes = 10, uplink = { down = "20Mbps", latency = "40ms" },
       agent = { notify_jitter = "30s" } }
app { name = "pos", versions = { ["1"] = { image = "50MiB" }, ["2"] = { image = "60MiB" } } }
at("0s", deploy { app = "pos", version = "1", name = "install" })
at("1h", rollout { app = "pos", version = "2", name = "upgrade" })
