"""`load_run`: a run comes back with the very weights it was scored with, or a one-line error."""

import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest

import simplenn
from simplenn.datasets import load_dataset
from simplenn.errors import SimplennError
from simplenn.nn.metrics import classification_scores, weights_sha256


@pytest.fixture(scope="module")
def digits_test():
    _, (x_test, y_test) = load_dataset("digits")
    return x_test, y_test


def test_load_run_restores_the_weights_the_run_scored(digits_run, digits_test):
    run = simplenn.load_run(digits_run)
    x_test, y_test = digits_test
    assert weights_sha256(run.network.params) == run.summary["weights_sha256"]
    # the training process's own test scores, from the same predictions
    assert classification_scores(y_test, run.predict(x_test)) == run.summary["test_scores"]
    assert run.config.dataset == "digits" and run.config.layers == (64, 100, 30, 10)
    assert run.image_shape == (8, 8) and run.class_names == [str(d) for d in range(10)]
    epochs = run.config.epochs
    assert [record.epoch for record in run.history] == list(range(1, epochs + 1))
    assert run.checkpoint.name == f"ckpt-{epochs}" and run.run_dir == digits_run


def test_images_may_be_flat_and_are_scaled_as_in_training(digits_run, digits_test):
    run = simplenn.load_run(digits_run)
    x_test, _ = digits_test
    flat = x_test.reshape(len(x_test), -1)
    np.testing.assert_array_equal(run.predict(x_test), run.predict(flat))
    # the run scaled its inputs by 1/255: the network sees the same numbers as in training
    expected = run.network.forward(flat.astype(np.float32) / 255).numpy()
    np.testing.assert_allclose(run.logits(x_test), expected, rtol=1e-6)
    proba = run.predict_proba(x_test)
    assert proba.shape == (len(x_test), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(proba.argmax(axis=1), run.predict(x_test))
    np.testing.assert_allclose(proba, run.network.predict_proba(flat / 255, run.config.loss).numpy(), rtol=1e-5)


def test_images_of_another_size_are_refused(digits_run):
    run = simplenn.load_run(digits_run)
    with pytest.raises(SimplennError, match=r"the images are shaped \(2, 28, 28\), but this run reads 8x8 images"):
        run.predict(np.zeros((2, 28, 28), np.uint8))


def test_early_stopping_runs_load_their_best_weights(tmp_path):
    from simplenn.cli import main

    code = main(["train", "--preset", "fixed", "--dataset", "digits", "--epochs", "4", "--validation-split", "0.2",
                 "--patience", "1", "--seed", "3", "--run-dir", str(tmp_path), "--quiet"])
    assert code == 0
    run = simplenn.load_run(tmp_path)
    assert weights_sha256(run.network.params) == run.summary["weights_sha256"]
    assert weights_sha256(run.trainer.network.params) == run.summary["weights_sha256"]  # the whole state, asked for


@pytest.mark.slow  # a fresh process
def test_predicting_builds_no_optimizer_and_imports_neither_keras_nor_scikit_learn(digits_run):
    code = (
        "import sys, numpy as np, simplenn\n"
        "simplenn.set_up()\n"
        f"run = simplenn.load_run({str(digits_run)!r})\n"
        "print(run.predict(np.zeros((1, 8, 8), np.uint8)).shape)\n"
        "print(sorted(m for m in ('keras', 'sklearn', 'matplotlib') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["(1,)", "[]"]


def test_the_whole_trainer_comes_back_from_the_same_checkpoint_when_asked_for(digits_run):
    run = simplenn.load_run(digits_run)
    trainer = run.trainer  # the optimizer and the progress counters too, for diagnose's measurements
    assert int(trainer.epoch.numpy()) == run.config.epochs
    (x_train, _), _ = load_dataset("digits")
    assert trainer.global_step == run.config.epochs * math.ceil(len(x_train) / run.config.batch_size)
    assert weights_sha256(trainer.network.params) == weights_sha256(run.network.params)


def files_of(folder):
    """Every file under `folder` with its size and modification time: what "nothing written" compares."""
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def damage(run_dir, how):
    if how == "empty folder":
        shutil.rmtree(run_dir)
        run_dir.mkdir()
    elif how == "missing config":
        (run_dir / "config.json").unlink()
    elif how == "unparseable config":
        (run_dir / "config.json").write_text('{"layers": [64, 100')
    elif how == "config of another version":
        config = json.loads((run_dir / "config.json").read_text())
        (run_dir / "config.json").write_text(json.dumps({**config, "optimiser_v9": 1}))
    elif how == "another architecture":
        config = json.loads((run_dir / "config.json").read_text())
        (run_dir / "config.json").write_text(json.dumps({**config, "layers": [64, 50, 10]}))
    elif how == "truncated newest checkpoint":
        data = run_dir / "checkpoints" / "ckpt-10.data-00000-of-00001"  # the shared run's 10 epochs
        data.write_bytes(data.read_bytes()[:1000])
    elif how == "every checkpoint truncated":
        for data in (run_dir / "checkpoints").glob("*.data-*"):
            data.write_bytes(data.read_bytes()[:1000])
    elif how == "no checkpoints":
        shutil.rmtree(run_dir / "checkpoints")


@pytest.mark.parametrize("how, message", [
    ("empty folder", "holds no config.json"),
    ("missing config", "holds no config.json"),
    ("unparseable config", "config.json: Expecting"),
    ("config of another version", "config has unknown field(s) optimiser_v9"),
    ("another architecture", "was saved from a different network: it holds W1 (64, 100), W2 (100, 30), W3 (30, 10)"),
    ("truncated newest checkpoint", "ckpt-10 is damaged (ckpt-10.data-00000-of-00001 does not match its sha256 in "
                                    "ckpt-10.sha256), and ckpt-9 before it does not hold the weights summary.json scored"),
    ("every checkpoint truncated", "no usable checkpoint"),
    ("no checkpoints", "holds no checkpoint"),
])
def test_a_bad_run_directory_gets_one_line_and_nothing_is_written(digits_run, tmp_path, how, message):
    run_dir = tmp_path / "run"
    shutil.copytree(digits_run, run_dir)
    damage(run_dir, how)
    before = files_of(tmp_path)
    with pytest.raises(SimplennError) as error:
        simplenn.load_run(run_dir)
    assert message in str(error.value)
    assert str(error.value).startswith(f"cannot load run {run_dir}: ") and "\n" not in str(error.value)
    assert files_of(tmp_path) == before


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(SimplennError, match="cannot load run .*/nowhere: it does not exist"):
        simplenn.load_run(tmp_path / "nowhere")
