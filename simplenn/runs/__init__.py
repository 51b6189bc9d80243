"""A run on disk and back: its folder, checkpoints' survival of kills, `train_and_evaluate`, `load_run` and evaluation."""
