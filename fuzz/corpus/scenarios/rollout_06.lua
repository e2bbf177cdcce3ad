
at("1h", rollout { app = "pos", version = "2", name = "up" })
simulation { duration = "3h", states_sample = "1m" }
expect "up.succeeded == 5"
