"""`capo train`: the TRL-based trainer (CapoGRPOTrainer), its config, data and run directory."""
