-- A bad release caught by its canary: version 2 crashes on 30 % of starts. The rollout is a canary (Argo/Flagger
-- style): 5 % of the stores (10, spread over the fleet) first, held 15 minutes, then the rest in batches of 25 %;
-- the abort rule (AWS IoT Jobs style: 10 % of failures once five nodes have an outcome) is the canary's failure
-- gate. It fires during the canary, no other store is told, and revert_all takes the canary stores that did run
-- version 2 back to version 1. The fleet ends on the stable version.

scenario { name = "canary_bad_release", description = "200 stores; a release crashing on 30 % of starts is stopped by its canary" }

cloud { registry = { egress = "2Gbps", latency = "5ms" } }
site {
  name = "store", count = 200, nodes = 1,
  uplink = { down = "25Mbps", up = "3Mbps", latency = "35ms" },
  agent = { notify_jitter = "10s" },
}
app {
  name = "pos",
  versions = {
    ["1"] = { layers = { { name = "base", size = "40MiB" }, "50MiB" }, start_time = "5s", ready_time = "10s" },
    ["2"] = { layers = { { name = "base", size = "40MiB" }, "55MiB" }, start_time = "5s", ready_time = "10s",
              crash_on_start = 0.3 },
  },
}

at("0s", deploy { app = "pos", version = "1", name = "install" })
at("1h", rollout {
  app = "pos", version = "2", name = "upgrade",
  strategy = { kind = "canary", canary = "5%", canary_time = "15m", size = "25%", healthy_time = "5m" },
  abort = { failure_threshold = "10%", min_executed = 5 },
  rollback = "revert_all",
  node_deadline = "30m",
})

-- Only canary stores were ever told about version 2, and the abort came while the canary ran.
expect "upgrade.targeted == 200"
expect "upgrade.canceled >= 190"
expect "upgrade_revert.succeeded >= 1"
expect "upgrade_revert.failed == 0"
-- The fleet ends on the stable version, and version 2 ran only on the 10 canary stores, at most for the canary's
-- 15 minutes each: 10 x 15 min = 2h30m of node time.
expect "pos@2.nodes_at_end == 0"
expect "pos@1.nodes_at_end == 200"
expect "pos@2.node_time <= 2h30m"
