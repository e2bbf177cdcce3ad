 } } }
at("0s", deploy { app = "pos", version = "1", name = "install" })
