local names = { b = 1, a = 2, c = 3 }
for k, v in pairs(names) do site { name = k, count = v, uplink = { down = "20Mbps", latency = "40ms" } } end
simulation { duration = "1m" }
