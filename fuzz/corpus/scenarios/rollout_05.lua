
at("1h", rollout { app = "pos", version = "2", name = "up" })
expect "up.failed == 20"
expect "pos@1.nodes_at_end == 20"
