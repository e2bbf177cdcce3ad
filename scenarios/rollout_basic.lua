-- The default scenario: 50 stores with 3 nodes each on DSL-class uplinks get version 1 of a point-of-sale app,
-- then version 2 is rolled out to every node at once. Link numbers follow shared/reference/edge-platforms.md §4
-- (DSL: 10-25 Mbps down, 1-3 Mbps up, 20-50 ms).

scenario {
  name = "rollout_basic",
  description = "50 stores x 3 nodes; deploy pos 1.0, then roll out 2.0 to every node at once",
}

cloud {
  registry = { egress = "1Gbps", latency = "5ms" },
  orchestrator = { bandwidth = "1Gbps", latency = "5ms" },
}

site {
  name = "store",
  count = 50,
  nodes = 3,
  uplink = { down = "20Mbps", up = "2Mbps", latency = "40ms" },
  lan = { bandwidth = "1Gbps", latency = "0.2ms" },
  hardware = { cpu = 4, memory = "8GiB", disk = "128GiB" },
  labels = { role = "pos", region = "eu-west" },
  agent = { notify_jitter = "30s", max_concurrent_downloads = 3, resume = "range" },
}

app {
  name = "pos",
  versions = {
    ["1.0"] = {
      layers = { { name = "debian-slim", size = "30MiB" }, "80MiB", "12MiB" },
      start_time = "4s", ready_time = "6s",
    },
    ["2.0"] = {
      -- shares the base layer with 1.0, so only the two app layers move over the uplinks
      layers = { { name = "debian-slim", size = "30MiB" }, "85MiB", "14MiB" },
      start_time = "4s", ready_time = "6s",
    },
  },
}

at("0s", deploy { app = "pos", version = "1.0", where = { role = "pos" }, name = "install" })
at("2h", rollout { app = "pos", version = "2.0", name = "upgrade", node_deadline = "2h" })

-- 3 nodes x 99 MiB over a 20 Mbps uplink take about 125 s per store; jitter and start add under a minute.
expect "upgrade.time_to_100 <= 5m"
expect "upgrade.failed == 0"
expect "fleet.nodes_failed == 0"
