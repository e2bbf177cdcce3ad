scenario { name = "errors" }
cloud { registry = { egress = "1Gbps" } }
site {
  name = "store", count = 2, nodes = 2,
  uplink = { down = "20Mbps", up = "2Mbps", latency = "40ms" },
  hardware = { disk = "64GiB" },
}
app { name = "pos", versions = { ["1"] = { image = "100MiB" }, ["2"] = { image = "110MiB" }, ["2.1"] = { image = "1MiB" } } }
at("0s", deploy { app = "pos", version = "1" })
at("1h", rollout { app = "pos", version = "2" })
expect "rollout_pos_2.time_to_100 <= 1h"
