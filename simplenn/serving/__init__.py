"""Using a trained network: `simplenn predict`, the exported SavedModel and TFLite, and the `simplenn serve` app."""
