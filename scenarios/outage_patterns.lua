-- A researcher's question: which telemetry bus loses what under which pattern of uplink outages? One bus preset
-- and one outage pattern per run, chosen by parameters, so that a sweep crosses them:
--   fleetsim sweep scenarios/studies/outage_presets.json --out out/outages
-- runs every pattern x preset over 3 seeds (scenarios/studies/outage_presets.json) and prints the loss table.
-- Each store produces 10 kB/s (100 readings/s of 100 B, as outage_cache.lua) over a 2 Mbps DSL uplink; patterns:
--   none          no outage: nothing may be lost
--   one_long      one 6-hour regional outage at 1 h (216 MB of readings per store wait or are dropped)
--   daily_short   four 30-minute regional outages, 3 hours apart (18 MB each)
--   flapping      random outages per store, mean 2 h up and 10 min down (drawn from the seed)
scenario { name = "outage_patterns", description = "bus presets against patterns of uplink outages" }

local preset = param("preset", "greengrass_stream_manager")
local pattern = param("pattern", "one_long")
local stores = param("stores", 20)

local patterns = { none = true, one_long = true, daily_short = true, flapping = true }
assert(patterns[pattern], "pattern must be none, one_long, daily_short or flapping, got " .. pattern)

site {
  name = "store", count = stores, nodes = 2,
  uplink = { down = "16Mbps", up = "2Mbps", latency = "35ms" },
  labels = { region = "west" },
  sensors = { { name = "line", rate = "50/s", size = "100B" } },  -- per node: 10 kB/s per store
  bus = { preset = preset },
  outages = pattern == "flapping" and { mtbf = "2h", mttr = "10m" } or nil,
}

if pattern == "one_long" then
  at("1h", fault.partition { where = { region = "west" }, duration = "6h", name = "long" })
elseif pattern == "daily_short" then
  for k = 0, 3 do
    at((1 + 3 * k) .. "h", fault.partition { where = { region = "west" }, duration = "30m", name = "short" .. k })
  end
end
simulation { duration = "12h", telemetry_sample = "10m" }

-- Without outages every preset delivers everything it produced; each pattern's losses are what the study measures.
if pattern == "none" then expect "telemetry.store.dropped == 0" end
