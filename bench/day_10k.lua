-- The second scale target of shared/DESIGN.md: 10,000 nodes for 24 simulated hours with a canary rollout,
-- telemetry from 10 sensors per node and random outages. Run by bench/day_run, which prints the cost.
scenario { name = "day_10k", description = "10k nodes, 24 h: canary rollout, 10 sensors per node, random outages" }

-- -p operations=false -p duration=40m: the telemetry alone for 40 minutes (BENCHMARKS.md counts its instructions)
local duration = param("duration", "24h")
local operations = param("operations", true)

cloud { registry = { egress = "10Gbps", latency = "5ms" } }

local sensors = {}
for i = 1, 10 do
  -- 10 readings/s per node of 100-300 B: about 10 kB/s per 5-node store (edge-platforms.md §4)
  sensors[i] = { name = "sensor" .. i, rate = "1/s", size = (100 + 20 * i) .. "B",
                 process = (i % 2 == 0) and "poisson" or "periodic", stream = (i <= 8) and "telemetry" or "events" }
end

site {
  name = "store", count = 2000, nodes = 5,
  uplink = { down = "50Mbps", up = "10Mbps", latency = "30ms" },
  -- 99.4 % available, mostly short flaps (Weibull k = 0.6)
  outages = { mtbf = "3d", mttr = "25m", distribution = "weibull", shape = 0.6 },
  agent = { notify_jitter = "30s", max_fetch_attempts = 30 },
  sensors = sensors,
  bus = { preset = "greengrass_stream_manager", batch_interval = "60s" },
}

app { name = "pos", versions = { ["1"] = { image = "200MiB", start_time = "5s" },
                                 ["2"] = { layers = { "150MiB", "70MiB" }, start_time = "5s", ready_time = "10s" } } }

if operations then
  at("0s", deploy { app = "pos", version = "1", name = "install", node_deadline = "12h" })
  at("6h", rollout {
    app = "pos", version = "2", name = "upgrade", node_deadline = "12h",
    -- a canary of 1 % (100 nodes spread over the stores) held 30 minutes, then batches of 25 % held 10 minutes
    strategy = { kind = "canary", canary = "1%", canary_time = "30m", size = "25%", healthy_time = "10m" },
    abort = { failure_threshold = "10%", min_executed = 20 },
  })
end

simulation { duration = duration, max_time = "2d", telemetry_sample = "5m" }
