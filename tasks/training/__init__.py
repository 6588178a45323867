"""Training and inference of both networks: the fit, its data, its progress."""
