" } }
app { name = "x", versions = { ["1"] = { image = "4MiB", start_time = "1s" },
                               ["2"] = { image = "10MiB", start_time = "30s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
at("1m", rollout { app = "x", version = "2", name = "r" })
at("1m10s", fault.node_crash { nodes = { "s-1/n1" }, reboot_after = "1m" })
at("1m20s", fault.node_crash { nodes = { "s-1/n2" }, reboot_after = "1m" })
expect "r.succeeded == 2"
