"""Hydra configs of capo.verl.main_ppo (a package, so that hydra finds them as pkg://capo.verl.config)."""
