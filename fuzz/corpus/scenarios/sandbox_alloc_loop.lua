site { name = "s", uplink = { down = "20Mbps", latency = "40ms" } }
local t = {} while true do t[#t+2] = string.rep("x", 1e6) end
