
site { name = "s", count = 2, nodes = 1, uplink = { down = "8Mbps", latency = "20ms" },
       agent = { resume = "range", retry_initial = "10s", max_fetch_attempts = 10 } }
app { name = "x", versions = { ["1"] = { image = "10MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
at("5s", fault.registry_outage { duration = "30s" })
expect "d.succeeded == 2"
