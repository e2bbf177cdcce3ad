-- Scale target of issue 11: 100,000 nodes (4,000 sites x 25) for one simulated hour: a rollout of a 50 MiB release in
-- batches of 20 % while every node sends telemetry (one sensor of 1 reading/s, batched by each site's bus every
-- minute). Run it with
--   build/sim/fleetsim run bench/batched_100k.lua --out out/batched --no-progress
-- and read the cost line (wall time and peak RSS); BENCHMARKS.md records them. `--set site.*.count=N` scales it.

scenario { name = "batched_100k", description = "4,000 sites x 25 nodes, 1 h: batched rollout and telemetry from every node" }

cloud { registry = { egress = "100Gbps", latency = "5ms" } }

local common = {
  nodes = 25,
  lan = { bandwidth = "1Gbps", latency = "0.2ms" },
  hardware = { cpu = 4, memory = "8GiB", disk = "256GiB" },
  agent = { notify_jitter = "30s" },
  sensors = { { name = "temperature", rate = "1/s", size = "200B" } },
  bus = { batch_interval = "60s" },
}
local function site_of(name, count, uplink)
  local t = { name = name, count = count, uplink = uplink, labels = { line = name } }
  for k, v in pairs(common) do t[k] = v end
  site(t)
end
site_of("dsl", 2000, { down = "25Mbps", up = "3Mbps", latency = "35ms" })
site_of("lte", 1200, { down = "20Mbps", up = "8Mbps", latency = "55ms" })
site_of("fiber", 800, { down = "200Mbps", up = "20Mbps", latency = "15ms" })

app {
  name = "vision",
  versions = {
    ["1"] = { image = "5MiB", start_time = "2s" },
    ["2"] = { image = "50MiB", start_time = "5s", ready_time = "10s" },
  },
}

at("0s", deploy { app = "vision", version = "1", name = "install" })
at("5m", rollout { app = "vision", version = "2", name = "upgrade", strategy = { kind = "batches", size = "20%" } })
simulation { duration = "1h", telemetry_sample = "5m" }

expect "upgrade.failed == 0"
