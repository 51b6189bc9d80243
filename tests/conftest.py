"""Shared test set-up: quiet TensorFlow, and a marker for Debian's Fashion-MNIST files."""

import os
from pathlib import Path

import pytest

import simplenn

os.environ.setdefault("MPLBACKEND", "Agg")
simplenn.set_up()  # TensorFlow loads quietly, as under the CLI and in the notebook

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

needs_fashion_mnist = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists(),
    reason="Debian's Fashion-MNIST files are absent: apt-get install dataset-fashion-mnist",
)


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """A small real run on digits, written by the real CLI: 3 epochs of the fixed preset.

    Shared by the tests that inspect a run (load_run, evaluate, figures, report); a test
    that damages it works on a copy.
    """
    from simplenn.cli import main

    run_dir = tmp_path_factory.mktemp("digits-run") / "run"
    code = main(["train", "--preset", "fixed", "--dataset", "digits", "--epochs", "3", "--run-dir", str(run_dir), "--quiet"])
    assert code == 0
    return run_dir


@pytest.fixture(scope="session")
def digits_run_dir(tmp_path_factory):
    """A real run of `simplenn train --preset fixed` on the 8x8 digits, shared by the tests that use one."""
    from simplenn.cli import main

    run_dir = tmp_path_factory.mktemp("digits-run") / "run"
    code = main(["train", "--preset", "fixed", "--dataset", "digits", "--epochs", "10",
                 "--run-dir", str(run_dir), "--quiet"])
    assert code == 0
    return run_dir
