-- Scale scenario: 400 sites x 25 nodes = 10,000 nodes; an all-at-once rollout of a 200 MiB image, i.e.
-- 10,000 concurrent pulls sharing a 10 Gbps registry egress and 400 site uplinks of three kinds of line
-- (numbers from shared/reference/edge-platforms.md §4). bench/scale_run runs it and prints wall time and RSS.

scenario { name = "rollout_10k", description = "400 sites x 25 nodes, all-at-once 200 MiB rollout" }

cloud { registry = { egress = "10Gbps", latency = "5ms" }, orchestrator = { bandwidth = "10Gbps", latency = "5ms" } }

local common = {
  nodes = 25,
  lan = { bandwidth = "1Gbps", latency = "0.2ms" },
  hardware = { cpu = 4, memory = "8GiB", disk = "256GiB" },
  agent = { notify_jitter = "0s" },  -- bench/scale_run --jitter sets 30s on every template (stress case)
}
local function site_of(name, count, uplink)
  local t = { name = name, count = count, uplink = uplink, labels = { line = name } }
  for k, v in pairs(common) do t[k] = v end
  site(t)
end
site_of("dsl", 200, { down = "25Mbps", up = "3Mbps", latency = "35ms" })
site_of("lte", 120, { down = "20Mbps", up = "8Mbps", latency = "55ms" })
site_of("fiber", 80, { down = "200Mbps", up = "20Mbps", latency = "15ms" })

app {
  name = "vision",
  versions = {
    ["1"] = { image = "5MiB", start_time = "2s" },
    ["2"] = { image = "200MiB", start_time = "5s", ready_time = "10s" },
  },
}

at("0s", deploy { app = "vision", version = "1", name = "install" })
at("10m", rollout { app = "vision", version = "2", name = "upgrade" })

-- The slowest line bounds the rollout: 25 nodes x 200 MiB over 20 Mbps (19.1 Mbps of TCP payload, docs/ENGINE.md
-- "Wire efficiency") = 2,193 s, and more while the egress gives the distant LTE sites less than their share (~2,456 s).
expect "upgrade.time_to_100 <= 45m"
expect "upgrade.succeeded == 10000"
