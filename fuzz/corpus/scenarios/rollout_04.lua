
site { name = "t4", count = 6, nodes = 1, uplink = { down = "50Mbps", latency = "20ms" },
       hardware = { gpu = { model = "T4", driver = "535" } } }
site { name = "a100", count = 4, nodes = 1, uplink = { down = "50Mbps", latency = "20ms" },
       hardware = { gpu = { model = "A100", driver = "535" } } }
app { name = "vision", versions = { ["1"] = { image = "20MiB" },
                                    ["2"] = { image = "22MiB", fails_on = { gpu_model = "T4" } } } }
at("0s", deploy { app = "vision", version = "1", name = "install" })
at("10m", rollout { app = "vision", version = "2", name = "up", node_deadline = "10m" })
expect "up.failed == 6"
expect "up.succeeded == 4"
expect "vision@1.nodes_at_end == 6"
expect "vision@2.nodes_at_end == 4"
