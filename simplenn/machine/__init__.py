"""How simplenn sets up the process it runs in: TensorFlow imported quietly, XLA's compile cache, safe file writes, memory limits."""
