
site { name = "s", count = 