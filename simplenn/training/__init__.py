"""Training a network: the data a run trains on, the step, the driver that runs it, progress, checkpoints and distribution."""
