", retry_initial = "10s", max_fetch_attempts = 10 } }
app { name = "x", versions = { ["1"] = { image = "10MiB", start_time = "0s" } } }
at("0s", deploy { app = "x", version = "1", name = "d" })
at("5s", fault.partition { sites = { "s-1" }, duration = "30s", name = "cut" })
expect "d.succeeded == 1"
