-- An AWS IoT Jobs style exponential rollout to 400 stores (one node each): 10 stores a minute at first, doubling
-- each time 40 more stores were notified, up to 80 a minute. Fiber and DSL lines from
-- shared/reference/edge-platforms.md §4. The rates set the pace, not the links: 40 stores at 10/min, 40 at
-- 20/min, 40 at 40/min, then 280 at 80/min take 4 + 2 + 1 + 3.5 = 10.5 minutes to notify.

scenario { name = "exponential_rollout", description = "400 stores, exponential notification rate (AWS IoT Jobs)" }

cloud { registry = { egress = "10Gbps", latency = "5ms" } }
site {
  name = "store", count = 400, nodes = 1,
  uplink = { down = "50Mbps", up = "10Mbps", latency = "25ms" },
  agent = { notify_jitter = "5s" },
}
app {
  name = "pos",
  versions = {
    ["1"] = { image = "60MiB", start_time = "3s" },
    ["2"] = { image = "60MiB", start_time = "3s", ready_time = "5s" },
  },
}

at("0s", deploy { app = "pos", version = "1", name = "install" })
at("1h", rollout {
  app = "pos", version = "2", name = "upgrade",
  strategy = { kind = "exponential", base_per_minute = 10, increment_factor = 2, increase_after = 40,
               criterion = "notified", maximum_per_minute = 80 },
})

-- The last store is notified after 10.5 minutes (minus one interval) and then needs about 10 s of pull,
-- up to 5 s of jitter, 3 s to start and 5 s to get ready.
expect "upgrade.time_to_100 <= 11m"
expect "upgrade.time_to_100 >= 10m"
expect "upgrade.succeeded == 400"
