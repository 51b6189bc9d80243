"""A run on disk and back: what it writes, how it survives interruption, the rules it must meet, the driver that makes it, and a finished run loaded to predict and evaluate."""
