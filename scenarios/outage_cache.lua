-- Six telemetry buses side by side through the same regional outage: 240 stores behind DSL (16/2 Mbps, 35 ms,
-- shared/reference/edge-platforms.md §4), each producing the IndustryOS example rate of 10 kB/s (100 readings/s
-- of 100 B; §4) plus bursty QoS 0 door events. At 1 h the whole region loses its uplinks for 6 hours.
-- Each template runs one bus preset with its product's documented defaults (docs/TELEMETRY.md), so the report
-- shows which profiles lose data, why, and how long each takes to drain:
--   greengrass_spool            2.5 MB in memory: full in about 4 minutes, then new messages are refused
--   greengrass_stream_manager   256 MB on disk, oldest 16 MB segments overwritten: holds the 6 hours (216 MB)
--   azure_edgehub               on disk, TTL 2 h: everything older than 2 hours at reconnect expires
--   avassa_volga                100 x 1 MB chunks, drop oldest: keeps the newest ~2.8 hours
--   mosquitto_bridge            1000 messages in memory: keeps 10 seconds' worth, drops the newest after that
--   fluentbit_fs                Retry_Limit 1: a chunk that fails twice is discarded, so nearly all is lost

scenario { name = "outage_cache", description = "6 telemetry bus presets through a 6 h regional outage" }

local presets = { "greengrass_spool", "greengrass_stream_manager", "azure_edgehub",
                  "avassa_volga", "mosquitto_bridge", "fluentbit_fs" }
local short = { greengrass_spool = "spool", greengrass_stream_manager = "streammgr", azure_edgehub = "edgehub",
                avassa_volga = "volga", mosquitto_bridge = "mosquitto", fluentbit_fs = "fluentbit" }

for _, preset in ipairs(presets) do
  site {
    name = short[preset], count = 40, nodes = 2,
    uplink = { down = "16Mbps", up = "2Mbps", latency = "35ms" },
    labels = { region = "west" },
    sensors = {
      { name = "line", rate = "50/s", size = "100B" },  -- per node: 10 kB/s per store
      { name = "door", stream = "events", process = "bursty", rate = "2/s", on = "2m", off = "18m",
        size = "200B", qos = 0 },
    },
    bus = { preset = preset },
  }
end

at("1h", fault.partition { where = { region = "west" }, duration = "6h", name = "west_isp" })
simulation { duration = "9h", telemetry_sample = "5m" }

-- What the documented defaults imply, per template of 40 stores: 100 readings/s for 6 h = 2,160,000 readings per
-- store during the outage (docs/TELEMETRY.md, "outage_cache", has each closed form):
expect "telemetry.streammgr.dropped == 0"                          -- 216 MB fit in 256 MB
expect "telemetry.streammgr.undrained == 0"
expect "telemetry.streammgr.drain_max <= 30m"                      -- 216 MB / (239 - 10) kB/s = 16 min + batch overheads
expect "telemetry.edgehub.dropped_ttl_expired >= 57600000"         -- 40 x 100/s x (6 h - 2 h TTL)
expect "telemetry.spool.dropped_rejected >= 85000000"              -- 40 x (2,160,000 - 2.5 MB / 100 B)
expect "telemetry.volga.dropped_evicted >= 44000000"               -- 40 x (2,160,000 - 100 MiB / 100 B)
expect "telemetry.mosquitto.dropped_rejected >= 86000000"          -- 40 x (2,160,000 - 1000)
expect "telemetry.fluentbit.dropped_retries_exhausted >= 85000000" -- every chunk of the outage, after one retry
expect "telemetry.fleet.duplicates <= 10000"
