"""The measured claim: photos of Fashion-MNIST test images lose at most 1 point after `preprocess`."""

import pytest

from shared_runs import needs_fashion_mnist
from simplenn.cli import main
from simplenn.datasets import load_dataset
from simplenn.runs.loaded_run import load_run
from simplenn.images.photos import preprocessing_check


@pytest.mark.slow  # three epochs of Fashion-MNIST
@needs_fashion_mnist
def test_photos_of_test_images_lose_at_most_one_point(tmp_path):
    run_dir = tmp_path / "run"
    assert main(["train", "--preset", "fixed", "--dataset", "fashion-mnist", "--epochs", "3",
                 "--run-dir", str(run_dir), "--quiet"]) == 0
    _, (x_test, y_test) = load_dataset("fashion-mnist", progress=None)
    result = preprocessing_check(load_run(run_dir), x_test[:400], y_test[:400], seed=0)
    assert result["originals"] > 0.8  # a trained run, or the comparison says nothing
    assert result["photo_drop"] <= 1.0, result
