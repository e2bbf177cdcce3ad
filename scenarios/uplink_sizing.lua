-- Sizing a store's uplink for a release: how long does a fleet-wide upgrade take for a given uplink and image?
-- The scenario's parameters (`fleetsim params scenarios/uplink_sizing.lua` lists them) are set with -p, e.g.
--   fleetsim run scenarios/uplink_sizing.lua -p uplink=50Mbps -p image=500MiB
-- Each store has 4 nodes behind one uplink, so the upgrade takes about 4 x image / uplink (the bytes over the
-- bottleneck's payload rate, 0.9564 of its line rate: docs/ENGINE.md, "Wire efficiency"): 4 x 200 MiB over 20 Mbps
-- is 5.8 minutes. The expectation holds the upgrade to the time budget.
scenario { name = "uplink_sizing", description = "upgrade time against uplink bandwidth and image size" }

local uplink = param("uplink", "20Mbps")  -- each store's downlink
local image = param("image", "200MiB")    -- the new release's image
local stores = param("stores", 50)
local budget = param("budget", "30m")     -- what the upgrade may take

cloud { registry = { egress = "10Gbps", latency = "5ms" } }
site { name = "store", count = stores, nodes = 4, uplink = { down = uplink, up = "5Mbps", latency = "30ms" } }
app { name = "pos", versions = { ["1"] = { image = "10MiB" }, ["2"] = { image = image, start_time = "5s" } } }

at("0s", deploy { app = "pos", version = "1", name = "install" })
at("10m", rollout { app = "pos", version = "2", name = "upgrade" })

expect("upgrade.time_to_100 <= " .. budget)
