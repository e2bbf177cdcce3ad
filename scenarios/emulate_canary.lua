-- The fleet of issue 14's cross-validation, to run both ways: `fleetsim run` simulates it, `fleetsim emulate` runs
-- it for real (the orchestrator and 100 node agents on this machine, a real registry, each store's uplink a network
-- namespace shaped by the kernel, or a token bucket where namespaces are not allowed; each release a process).
-- 20 stores of 5 nodes behind 10 Mbps uplinks install version 1 (one 5 MiB layer); a minute later version 2 (one
-- more 5 MiB layer) crashes on every start: its canary of 5 nodes fails, the abort rule stops the rollout, and
-- revert_all takes those 5 nodes back to version 1, which is still on their disk.
--
-- Closed forms (the wire efficiency of a shaped uplink is 1448 / 1514, docs/ENGINE.md): a store's 5 nodes pull
-- 5 x 5 MiB over 10 Mbps x 1448/1514 = 1.1955 MB/s, 21.9 s, then start (1 s) and become ready (2 s); the connection
-- set-up and request add 3 round trips of 2 x (5 + 20) ms. Every store is healthy by 25.1 s.

scenario { name = "emulate_canary", description = "20 stores x 5 nodes; a crashing release stopped by its canary and reverted" }

cloud { registry = { egress = "1Gbps", latency = "5ms" } }
site {
  name = "store", count = 20, nodes = 5,
  uplink = { down = "10Mbps", up = "2Mbps", latency = "20ms" },
}
app {
  name = "pos",
  versions = {
    ["1"] = { layers = { { name = "base", size = "5MiB" } }, start_time = "1s", ready_time = "2s" },
    ["2"] = { layers = { { name = "base", size = "5MiB" }, { name = "v2", size = "5MiB" } }, start_time = "1s",
              ready_time = "2s", crash_on_start = 1 },
  },
}

at("0s", deploy { app = "pos", version = "1", name = "install" })
-- Two stores lose their uplink 10 s into the install, for 20 s: their pulls fail (keeping what they got), their
-- nodes' reports cannot reach the orchestrator; the agents retry with back-off (10 s, then 20 s) and resume.
at("10s", fault.partition { sites = { "store-3", "store-4" }, duration = "20s", name = "cut" })
-- A node of another store loses power after the install and boots 10 s later: from its disk, version 1 runs again.
at("40s", fault.node_crash { nodes = { "store-7/n2" }, reboot_after = "10s", name = "power" })
at("60s", rollout {
  app = "pos", version = "2", name = "upgrade",
  strategy = { kind = "canary", canary = 5, canary_time = "30s", size = "25%" },
  abort = { failure_threshold = "20%", min_executed = 1 },
  rollback = "revert_all",
  node_deadline = "2m",
})

-- 18 stores (90 % of the nodes) are not cut. The simulator lands on the closed form (25.1 s); an emulated run may be
-- later by what one machine adds to a hundred nodes (a registry and 100 agents starting their pulls on two cores):
-- issue 14 allows 10 %.
expect "install.time_to_90 >= 24.9s"
expect "install.time_to_90 <= 27.6s"
-- The two cut stores: their pulls failed at 10 s and were retried at 20 s (still cut) and at 40 s.
expect "install.time_to_100 >= 40s"
expect "install.succeeded == 100"
expect "upgrade.failed >= 1"
expect "upgrade.succeeded == 0"
expect "upgrade.canceled >= 95"
expect "upgrade_revert.failed == 0"
expect "pos@2.nodes_at_end == 0"
expect "pos@1.nodes_at_end == 100"
