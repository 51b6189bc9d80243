"""Shared test set-up: quiet TensorFlow, and a marker for Debian's Fashion-MNIST files."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

needs_fashion_mnist = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists(),
    reason="Debian's Fashion-MNIST files are absent: apt-get install dataset-fashion-mnist",
)
