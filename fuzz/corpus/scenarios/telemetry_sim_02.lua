
site { name = "cam", count = 1, nodes = 2, uplink = { down = "10Mbps", up = "5Mbps", latency = "10ms" },
       hardware = { gpu = { model = "T4", count = 1, throughput = "20/s" } },
       inference = { cameras = 2, fps = "15/s", queue = 100, result = "200B" } }
at("30m", fault.gpu_failure { nodes = { "cam-1/n2" }, duration = "10m" })
simulation { duration = "1h" }
