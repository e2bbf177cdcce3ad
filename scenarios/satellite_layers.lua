-- Many small layers over a long round trip: the same 12 MiB release as one layer or as 48 layers of 256 KiB, pulled
-- by stores on a geostationary satellite link (300 ms each way, 20 Mbps down). Each layer is an HTTP GET: its first
-- byte comes a round trip after the request, after a new connection's TCP and TLS handshakes (one round trip each);
-- a connection kept alive serves the next layer without them (docs/ENGINE.md, "Connection set-up").
--
-- Closed forms, one store per node, RTT = 2 x (5 ms + 300 ms + 0.2 ms) = 0.6104 s, payload rate 20 Mbps x 1448/1514
-- = 2.391 MB/s, the notification 0.3052 s:
--   flat: 0.3052 + 3 RTT + 12 MiB / 2.391 MB/s = 0.31 + 1.83 + 5.26 = 7.40 s
--   layered: 3 connections of 16 layers each, kept alive, in lock step: they ask together and share the link, which
--   idles during each round trip: 0.31 + (3 + 15) RTT + 12 MiB / 2.391 MB/s = 0.31 + 10.99 + 5.26 = 16.56 s
--   layered without keep-alive: every layer pays 3 RTT: 0.31 + 16 x 3 RTT + 5.26 = 34.87 s
-- One layer takes 55 % less time than 48; without keep-alive the 48 take twice as long again.
scenario { name = "satellite_layers", description = "one 12 MiB layer against 48 small ones over a GEO satellite" }

cloud { registry = { egress = "1Gbps", latency = "5ms" } }
local function store(name, agent)
  site { name = name, count = 5, nodes = 1, uplink = { down = "20Mbps", up = "2Mbps", latency = "300ms" },
         agent = agent }
end
store("flat", {})
store("layered", {})
store("layered_close", { keep_alive = "0s" })

local small = {}
for i = 1, 48 do small[i] = "256KiB" end
app { name = "kiosk", versions = { ["1"] = { image = "12MiB", start_time = "0s" } } }
app { name = "kiosk_layered", versions = { ["1"] = { layers = small, start_time = "0s" } } }

at("0s", deploy { app = "kiosk", version = "1", name = "flat", where = { site_template = "flat" } })
at("0s", deploy { app = "kiosk_layered", version = "1", name = "layered", where = { site_template = "layered" } })
at("0s", deploy { app = "kiosk_layered", version = "1", name = "layered_close",
                  where = { site_template = "layered_close" } })

expect "flat.time_to_100 >= 7.3s"
expect "flat.time_to_100 <= 7.5s"
expect "layered.time_to_100 >= 16.4s"
expect "layered.time_to_100 <= 16.7s"
expect "layered_close.time_to_100 >= 34.5s"
expect "layered_close.time_to_100 <= 35.2s"
