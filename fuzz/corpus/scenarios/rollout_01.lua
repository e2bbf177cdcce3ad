 } }
app { name = "pos", versions = { ["1"] = { image = "20MiB", start_time = "2s" },
                                 ["2"] = { image = "21MiB", start_time = "2s", 