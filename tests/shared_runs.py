"""The runs the tests share and the real data some tests need.

`conftest.py` trains each shared run once a session; a test that trains a run to compare
with one, or its own run of the same kind, takes its settings from here.
"""

from pathlib import Path

import pytest

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

needs_fashion_mnist = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists(),
    reason="Debian's Fashion-MNIST files are absent: apt-get install dataset-fashion-mnist",
)

DIGITS_RUN_EPOCHS = 10  # `digits_run`'s epochs: a test that trains a run to compare with it trains as many

# `small_run`'s flags: the smallest real run, one epoch of a 64-16-10 network without XLA,
# for the tests that need a finished run rather than a good one, and that train more like it.
SMALL = ["--dataset", "digits", "--layers", "64,16,10", "--epochs", "1", "--no-xla", "--quiet"]
