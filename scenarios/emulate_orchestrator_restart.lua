-- An orchestrator restart in the middle of a rollout, to run both ways: `fleetsim run` simulates it, `fleetsim
-- emulate` runs it for real (the orchestrator ends at 2 s, its connections close and its timers go; a new one starts
-- from its journal at 10 s on the same ports and the node agents reconnect to it). The nodes never stop: 2 stores of
-- 2 nodes pull version 1 of pos (4 MiB each) and start it, but their reports reach no orchestrator until it is back.
-- The timeline's deploy of cam at 5 s waits for it too (docs/LUA_API.md, fault.orchestrator_restart).
--
-- Closed forms (wire efficiency 1448/1514 on the uplink, docs/ENGINE.md): a store's 2 nodes pull 2 x 4 MiB over
-- 10 Mbps x 1448/1514 = 1.1955 MB/s, 7.0 s, then start (1 s): healthy at 8.0 s (time_to_100), before the orchestrator
-- is back, so the install's duration (until the orchestrator knows every outcome) is 10 s at the earliest (when a retried report reaches the restarted orchestrator, within the
-- agents' back-off of at most 2 s, or the orchestrator's own resend after its restart). cam is submitted at 10 s.

scenario { name = "emulate_orchestrator_restart", description = "an orchestrator restart during a rollout; its journal brings it back" }

site {
  name = "store", count = 2, nodes = 2,
  uplink = { down = "10Mbps", latency = "5ms" },
  agent = { retry_initial = "1s", retry_max = "2s" },
}
app { name = "pos", versions = { ["1"] = { image = "4MiB", start_time = "1s" } } }
app { name = "cam", versions = { ["1"] = { image = "512KiB", start_time = "1s" } } }

at("0s", deploy { app = "pos", version = "1", name = "install" })
at("2s", fault.orchestrator_restart { downtime = "8s", name = "restart" })
at("5s", deploy { app = "cam", version = "1", name = "camera" })

expect "install.succeeded == 4"
-- The nodes are healthy on their own at 8.0 s; the orchestrator hears it only after its restart.
expect "install.time_to_100 >= 7.9s"
expect "install.time_to_100 <= 9.2s"
expect "install.duration >= 10s"
expect "install.duration <= 16s"
expect "camera.succeeded == 4"
expect "pos@1.nodes_at_end == 4"
expect "cam@1.nodes_at_end == 4"
