-- Capacity planning for a 3,000-node fleet: how long does a fleet-wide upgrade take for each registry egress and
-- store uplink, and which of the two is the bottleneck? The scenario declares its own study (sweep { } below), so
--   fleetsim sweep scenarios/capacity_study.lua --out out/capacity
-- runs the 4 x 3 grid over 5 seeds and prints one row per point; `fleetsim run` runs one point (the defaults).
-- 750 stores of 4 nodes each pull a 300 MiB image: 879 GiB leave the registry. Of each link's line rate, TCP payload
-- gets 1448 bytes per 1538 on an Ethernet port and per 1514 on a shaped uplink (docs/ENGINE.md, "Wire efficiency").
-- The egress alone needs 7.55 Tbit / (0.9415 x egress) (2 h 14 min at 1 Gbps, 13.4 min at 10 Gbps); a store alone
-- needs 4 x 300 MiB / (0.9564 x uplink) (17.5 min at 10 Mbps, 3.5 min at 50 Mbps). The upgrade takes about the longer
-- of the two: the egress binds until it exceeds the 750 uplinks' sum (7.5 Gbps at 10 Mbps, 37.5 Gbps at 50 Mbps,
-- about the same in payload). Notifications reach the nodes spread
-- over a minute (notify_jitter), drawn from the seed, so seeds differ by seconds, not minutes.
scenario { name = "capacity_study", description = "upgrade time of 3,000 nodes against registry egress and uplink" }

local egress = param("egress", "4Gbps")
local uplink = param("uplink", "20Mbps")
local stores = param("stores", 750)
local image = param("image", "300MiB")

cloud { registry = { egress = egress, latency = "5ms" } }
site { name = "store", count = stores, nodes = 4, uplink = { down = uplink, up = "5Mbps", latency = "30ms" },
       agent = { notify_jitter = "1m" } }
app { name = "pos", versions = { ["1"] = { image = "10MiB" }, ["2"] = { image = image, start_time = "5s" } } }

at("0s", deploy { app = "pos", version = "1", name = "install" })
at("30m", rollout { app = "pos", version = "2", name = "upgrade" })

expect("upgrade.succeeded == " .. 4 * stores)
-- Across seeds (judged by fleetsim sweep, reported by a single run): the slowest grid point, 1 Gbps, needs 2 h 14 min.
expect "p95(upgrade.time_to_100) <= 2h30m"

-- The study: egress 1, 4, 7 and 10 Gbps x uplinks of 10, 20 and 50 Mbps, 5 seeds each; besides the default
-- metrics, the median node's time and the bytes that left the registry.
sweep {
  axes = {
    { name = "egress", values = "1Gbps..10Gbps/4" },
    { name = "uplink", values = { "10Mbps", "20Mbps", "50Mbps" } },
  },
  seeds = 5,
  metrics = { "upgrade.time_to_50", "upgrade.time_to_100", "fleet.registry_egress_bytes" },
}
