 } }
at("10m", fault.partition { sites = { "s-1" }, duration = "1h", name = "cut" })
simulation { duration = "3h" }
