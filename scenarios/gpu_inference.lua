-- GPU inference at the edge, and a release that fails on one GPU generation only.
-- 30 plants with two A100 nodes and 10 older plants with two T4 nodes (driver 535), each node running two 15 fps
-- cameras into a detector. An A100 (200 frames/s) keeps up; a T4 (20 frames/s) cannot: it drops the 10 frames/s
-- it cannot serve, 10 x 7,200 s x 20 nodes = 1.44 M frames over the two hours. One A100 node's GPU fails for 30
-- minutes: its 30 frames/s are dropped beyond its queue of 60, 30 x 1,800 - 60 = 53,940 frames.
-- At 30 min a new detector model (v2) goes out as a canary (5 % spread over the fleet, held 10 minutes): v2 crashes
-- on T4 GPUs with driver 535 (fails_on), the abort rule (20 % of failures once 4 nodes have an outcome) fires in the
-- canary, and revert_all takes every canary node back to v1: the fleet ends on v1.
scenario { name = "gpu_inference", description = "40 plants, A100 and T4 GPUs; a model release that fails on T4/535 is stopped by its canary" }

cloud { registry = { egress = "5Gbps", latency = "5ms" } }

local function plant(name, count, gpu)
  site {
    name = name, count = count, nodes = 2,
    uplink = { down = "100Mbps", up = "20Mbps", latency = "25ms" },
    labels = { gpu = gpu.label },
    hardware = { cpu = 16, memory = "64GiB", gpu = { model = gpu.model, count = 1, memory = gpu.memory,
                                                     throughput = gpu.throughput, driver = "535" } },
    inference = { cameras = 2, fps = "15/s", queue = 60, result = "400B" },
    bus = { preset = "azure_edgehub" },
  }
end
plant("plant_a100", 30, { label = "a100", model = "A100", memory = "40GiB", throughput = "200/s" })
plant("plant_t4", 10, { label = "t4", model = "T4", memory = "16GiB", throughput = "20/s" })

app {
  name = "detector",
  versions = {
    ["1"] = { layers = { { name = "cuda", size = "600MiB" }, "120MiB" }, start_time = "20s", ready_time = "30s",
              requires = { gpu = 1, gpu_memory = "8GiB" } },
    ["2"] = { layers = { { name = "cuda", size = "600MiB" }, "140MiB" }, start_time = "20s", ready_time = "30s",
              requires = { gpu = 1, gpu_memory = "8GiB" },
              fails_on = { gpu_model = "T4", gpu_driver = "535" } },
  },
}

at("0s", deploy { app = "detector", version = "1", name = "install" })
at("30m", rollout {
  app = "detector", version = "2", name = "model_v2",
  strategy = { kind = "canary", canary = "5%", canary_time = "10m", size = "50%", healthy_time = "10m" },
  abort = { failure_threshold = "20%", min_executed = 4 },
  rollback = "revert_all",
  node_deadline = "20m",
})
at("1h", fault.gpu_failure { name = "gpu_down", nodes = { "plant_a100-3/n1" }, duration = "30m" })

simulation { duration = "2h" }

-- The canary catches the release: it aborts, and every node ends on the stable model.
expect "model_v2.time_to_abort <= 15m"
expect "detector@1.nodes_at_end == 80"
-- T4s drop what they cannot serve: (30 - 20) frames/s x 7,200 s x 20 nodes = 1,440,000, less what their queues
-- hold at the end (within 1 %).
expect "gpu.plant_t4.frames_dropped >= 1425600"
expect "gpu.plant_t4.frames_dropped <= 1440000"
-- The failed A100 drops its 30 frames/s beyond the queue for 30 minutes; A100s otherwise keep up.
expect "gpu.plant_a100.frames_dropped >= 53000"
expect "gpu.plant_a100.frames_dropped <= 53940"
