"""What `simplenn bench` runs: simplenn and its peers on the same network, the sweep and the strategies."""
