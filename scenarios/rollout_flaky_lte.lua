-- A rollout over flaky links: 60 stores on LTE and 40 on DSL, with the outage process and link numbers of
-- shared/reference/edge-platforms.md §4 (LTE 15-30 Mbps down, 45-65 ms; DSL 10-25 Mbps, 20-50 ms; availability
-- 99-99.9 %, mostly short flaps, some hours long), plus a scripted regional outage during the rollout.

scenario { name = "rollout_flaky_lte", description = "100 stores, random outages + a regional partition mid-rollout" }

cloud { registry = { egress = "2Gbps", latency = "5ms" } }

site {
  name = "lte", count = 60, nodes = 3,
  uplink = { down = "20Mbps", up = "8Mbps", latency = "55ms" },
  labels = { region = "north" },
  -- mean 20 h up, 12 min down (99 % available); Weibull k = 0.6: many short flaps, a few long outages
  outages = { mtbf = "20h", mttr = "12m", distribution = "weibull", shape = 0.6 },
  agent = { notify_jitter = "30s", resume = "range", max_fetch_attempts = 30, retry_initial = "10s" },
}
site {
  name = "dsl", count = 40, nodes = 3,
  uplink = { down = "16Mbps", up = "2Mbps", latency = "35ms" },
  labels = { region = "south" },
  outages = { mtbf = "3d", mttr = "30m" },  -- 99.3 % available
  agent = { notify_jitter = "30s", resume = "restart", max_fetch_attempts = 30, retry_initial = "10s" },
}

app {
  name = "pos",
  versions = {
    ["1"] = { layers = { { name = "base", size = "40MiB" }, "60MiB" }, start_time = "5s" },
    ["2"] = { layers = { { name = "base", size = "40MiB" }, "70MiB" }, start_time = "5s", ready_time = "10s" },
  },
}

at("0s", deploy { app = "pos", version = "1", name = "install", node_deadline = "3h" })
at("4h", rollout { app = "pos", version = "2", name = "upgrade", node_deadline = "3h" })
-- a regional ISP outage: a quarter of the LTE stores lose their uplink for 45 minutes, a minute in
at("4h1m", fault.partition { template = "lte", fraction = 0.25, duration = "45m", name = "isp_north" })

-- The agents retry pulls for long enough (30 attempts, back-off capped at 5 min) to outlast the partition, and
-- undelivered notifications and status reports are sent again with back-off: no node fails. A store whose own
-- outage outlasts the 3 h node deadline times out (Weibull's long tail: about one seed in 20, seed 10 for one).
expect "upgrade.time_to_90 <= 1h"
expect "upgrade.failed == 0"
expect "fleet.bytes_wasted <= 2GiB"

-- For a CI gate across seeds (docs/SWEEPS.md, "A CI gate across seeds"): the outages differ with the seed, so one
-- seed says little; fleetsim sweep --seeds 20 judges statistics of the 20 seeds (a seed that never reached 100 %
-- counts as infinitely late), and fleetsim compare holds each time to within 10 % of a baseline's, by a rank test
-- across the seeds.
expect "p95(upgrade.time_to_100) <= 90m"
expect "p95(upgrade.timed_out) == 0"
regression { ["*.time_to_100"] = "+10%", ["*.time_to_90"] = "+10%", ["fleet.bytes_wasted"] = "+50%" }
