
site { name = "t", count = 2, nodes = 2, uplink = { down = "10Mbps", up = "2Mbps", latency = "30ms" },
       outages = { mtbf = "40m", mttr = "5m" },
       sensors = { { name = "p", process = "poisson", rate = "20/s", size = "100B", qos = 0 },
                   { name = "b", process = "bursty", rate = "50/s", on = "2m", off = "8m", size = "300B" } },
       bus = { preset = "azure_edgehub" } }
