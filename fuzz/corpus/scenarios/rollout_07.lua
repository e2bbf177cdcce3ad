
site { name = "gpu", count = 2, nodes = 2, uplink = { down = "50Mbps", latency = "20ms" },
       hardware = { memory = "8GiB", gpu = { model = "T4", memory = "16GiB" } } }
site { name = "plain", count = 2, nodes = 2, uplink = { down = "50Mbps", latency = "20ms" }, hardware = { memory = "8GiB" } }
app { name = "vision", versions = { ["1"] = { image = "20MiB", requires = { gpu = 1, gpu_memory = "8GiB" } } } }
app { name = "pos", versions = { ["1"] = { image = "20MiB", requires = { memory = "6GiB" } },
                                 ["2"] = { image = "20MiB", requires = { memory = "10GiB" } } } }
at("0s", deploy { app = "vision", version = "1", name = "v" })
at("0s", deploy { app = "pos", version = "1", name = "p" })
at("1h", rollout { app = "pos", version = "2", name = "p2" })
expect "v.targeted == 4"
expect "p.targeted == 8"
expect "p2.failed == 8"
expect "pos@1.nodes_at_end == 8"
