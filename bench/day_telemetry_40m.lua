-- bench/day_10k.lua without its operations, for 40 simulated minutes: the telemetry of a 10,000-node fleet alone
-- (about 505,000 batches). BENCHMARKS.md counts its instructions with callgrind; `build/sim/fleetsim run` runs it.
scenario { name = "day_telemetry_40m", description = "10k nodes, 40 min of telemetry from 10 sensors per node, random outages" }

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

simulation { duration = "40m", max_time = "2d", telemetry_sample = "5m" }
