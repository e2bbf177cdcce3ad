
cloud { registry = { egress = "200Mbps" } }
site { name = "s", count = 12, nodes = 8, uplink = { down = "30Mbps", up = "5Mbps", latency = "50ms" },
       agent = { notify_jitter = "20s" } }
app { name = "x", versions = { ["1"] = { image = "20MiB" }, ["2"] = { image = "40MiB" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
at("1h", rollout { app = "x", version = "2", name = "r" })
