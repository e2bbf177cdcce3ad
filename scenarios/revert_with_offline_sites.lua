-- revert_all with sites offline: version 2 crashes on half of its starts. The first batch (10 stores) is told;
-- three of those stores lose their uplink 5 s later, in the middle of their pull, for an hour. The abort rule
-- fires on the others' crashes, and the revert goes to every store that was told: the seven online ones go back
-- to version 1 at once, the three offline ones when their link returns (the orchestrator re-sends with back-off,
-- at most 5 minutes apart). Every told store ends on version 1; no other store ever hears of version 2.

scenario { name = "revert_with_offline_sites", description = "a revert_all reaches offline stores after they reconnect" }

cloud { registry = { egress = "2Gbps", latency = "5ms" } }
site {
  name = "store", count = 40, nodes = 1,
  uplink = { down = "25Mbps", up = "3Mbps", latency = "35ms" },
  agent = { max_fetch_attempts = 30 },
}
app {
  name = "pos",
  versions = {
    ["1"] = { layers = { { name = "base", size = "40MiB" }, "30MiB" }, start_time = "5s", ready_time = "5s" },
    ["2"] = { layers = { { name = "base", size = "40MiB" }, "35MiB" }, start_time = "5s", ready_time = "5s",
              crash_on_start = 0.5 },
  },
}

at("0s", deploy { app = "pos", version = "1", name = "install" })
at("1h", rollout {
  app = "pos", version = "2", name = "upgrade",
  strategy = { kind = "batches", size = 10, healthy_time = "10m" },
  abort = { failure_threshold = "20%", min_executed = 3 },
  rollback = "revert_all",
  node_deadline = "3h",
})
at("1h0m5s", fault.partition { sites = { "store-1", "store-2", "store-3" }, duration = "1h", name = "offline" })

expect "upgrade.canceled >= 30"
expect "upgrade_revert.targeted == 10"
expect "upgrade_revert.succeeded == 10"
-- the offline stores converge only after they reconnect (1 h after the cut), within one re-send interval
expect "upgrade_revert.duration >= 55m"
expect "upgrade_revert.duration <= 1h10m"
