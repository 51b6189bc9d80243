"""`--precision mixed_bfloat16`: the forward pass in bfloat16, everything that learns in float32.

The forward pass is checked against the float32 network within bfloat16's rounding, and shown
to round at all; the logits, loss, gradients, weights and optimizer state are checked to be
float32; the real CLI trains, loads, evaluates and refuses what bfloat16 cannot do.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import tensorflow as tf

from cli_messages import error_message
from shared_runs import DIGITS_RUN_EPOCHS
from simplenn import Classifier, load_run
from simplenn.cli import main
from simplenn.config import Config, preset
from simplenn.training.data import prepare_data
from simplenn.nn.network import ACTIVATION_FUNCTIONS, Network
from simplenn.training.trainer import Trainer, fit, tape_gradients

# bfloat16 keeps 8 significant bits: each rounding moves a value by at most 2^-8 of it.
BFLOAT16_EPSILON = 2.0**-8
# Rounded per layer: the inputs, the weights and the product, through three layers; the errors
# partly cancel, so four roundings' worth of the largest logit bounds them with room to spare.
LOGIT_TOLERANCE = 4 * BFLOAT16_EPSILON

MIXED_FIXED = preset("fixed").replace(dataset="digits", layers=(64, 100, 30, 10), precision="mixed_bfloat16")


def twin_networks(activation: str):
    """The same initial weights, in float32 and in mixed_bfloat16, with non-zero biases."""
    networks = [Network([784, 100, 30, 10], activation=activation, init="he", seed=1, precision=precision)
                for precision in ("float32", "mixed_bfloat16")]
    for float32_bias, mixed_bias in zip(*(network.biases for network in networks)):
        float32_bias.assign(tf.random.normal(float32_bias.shape, stddev=0.1, seed=2))
        mixed_bias.assign(float32_bias)
    return networks


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize("activation", sorted(ACTIVATION_FUNCTIONS))
def test_mixed_forward_matches_float32_within_bfloat16_rounding(activation, jit_compile):
    float32, mixed = twin_networks(activation)
    X = np.random.default_rng(0).random((256, 784), dtype=np.float32)  # (B, 784) pixels in [0, 1)
    expected = float32.forward(X).numpy()  # (B, 10)
    logits = tf.function(mixed.forward, jit_compile=jit_compile)(X)
    assert logits.dtype == tf.float32
    error = np.abs(logits.numpy() - expected).max()
    scale = np.abs(expected).max()
    assert error <= LOGIT_TOLERANCE * scale
    assert error > 1e-5 * scale  # it did round: float32 alone agrees to about 1e-7
    assert np.mean(np.argmax(logits, 1) == np.argmax(expected, 1)) >= 0.95


def test_mixed_forward_computes_hidden_layers_in_bfloat16_from_float32_weights():
    _, mixed = twin_networks("relu")
    forward = mixed.forward_pass(np.ones((2, 784), np.float32), training=True, dropout_seed=tf.constant([0, 1]))
    assert [Z.dtype for Z in forward.Z] == [tf.bfloat16, tf.bfloat16, tf.float32]  # hidden, hidden, logits
    assert all(A.dtype == tf.bfloat16 for A in forward.A)
    assert all(p.dtype == tf.float32 for p in mixed.params)


def test_loss_gradients_weights_and_optimizer_state_stay_float32():
    data = prepare_data(MIXED_FIXED)
    trainer = Trainer(MIXED_FIXED.replace(epochs=1), data.train.size, data.image_shape)
    X, Y = data.train.X[:256], data.train.Y[:256]
    loss, logits, grads = tape_gradients(trainer.network, trainer.config, X, Y)
    assert loss.dtype == logits.dtype == tf.float32
    assert [g.dtype for g in grads] == [tf.float32] * len(trainer.network.params)

    # The gradients are float32's within bfloat16's rounding: the same direction, nearly the same size.
    float32 = Network(MIXED_FIXED.layers, init=MIXED_FIXED.init, seed=MIXED_FIXED.seed)
    _, _, expected = tape_gradients(float32, MIXED_FIXED.replace(precision="float32"), X, Y)
    for g, e in zip(grads, expected):
        assert np.linalg.norm(g - e) <= 0.05 * np.linalg.norm(e)

    fit(trainer, data.train, log=lambda line: None)
    assert all(p.dtype == tf.float32 for p in trainer.network.params)
    dtypes = [tf.as_dtype(v.dtype) for v in trainer.optimizer.variables]  # Keras 3 names them: "float32"
    floating = [dtype for dtype in dtypes if dtype.is_floating]
    assert len(floating) >= 2 * len(trainer.network.params)  # AdamW's m and v for every parameter
    assert floating == [tf.float32] * len(floating)


def test_an_old_config_without_precision_loads_as_float32(digits_run):
    values = json.loads((digits_run / "config.json").read_text())
    assert values.pop("precision") == "float32"
    assert Config.from_dict(values) == Config.from_dict(json.loads((digits_run / "config.json").read_text()))


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    """`simplenn train --preset fixed --dataset digits --precision mixed_bfloat16`, as many epochs as `digits_run`."""
    run_dir = tmp_path_factory.mktemp("mixed") / "run"
    code = main(["train", "--preset", "fixed", "--dataset", "digits", "--epochs", str(DIGITS_RUN_EPOCHS),
                 "--precision", "mixed_bfloat16", "--run-dir", str(run_dir), "--quiet"])
    assert code == 0
    return run_dir


def test_the_cli_trains_in_mixed_bfloat16_and_the_run_loads_as_trained(mixed_run, digits_run):
    assert json.loads((mixed_run / "config.json").read_text())["precision"] == "mixed_bfloat16"
    run = load_run(mixed_run)  # verifies the weights against summary.json's weights_sha256
    assert run.network.precision == "mixed_bfloat16"
    assert all(p.dtype == tf.float32 for p in run.network.params)
    # Scored again through the same bfloat16 forward pass, it scores what training reported.
    assert run.evaluate().accuracy == run.summary["test_accuracy"]
    # digits_run is the same epochs in float32; 360 test images, so 2 points is 7 images.
    float32_accuracy = json.loads((digits_run / "summary.json").read_text())["test_accuracy"]
    assert run.summary["test_accuracy"] == pytest.approx(float32_accuracy, abs=0.02)


def test_tflite_export_of_a_mixed_run_is_refused_in_one_line(mixed_run, tmp_path, capsys):
    assert main(["export", "--format", "tflite", str(mixed_run), str(tmp_path / "model.tflite")]) == 2
    assert "TFLite has no bfloat16 kernels; export it with --format saved_model" in error_message(capsys.readouterr().err)
    assert not (tmp_path / "model.tflite").exists()


def test_a_pickled_classifier_keeps_its_precision():
    X = np.random.default_rng(0).random((60, 4), dtype=np.float32)
    y = np.arange(60) % 3
    clf = Classifier(layers=(4, 16, 3), epochs=2, batch_size=20, jit_compile=False, precision="mixed_bfloat16",
                     random_state=0).fit(X, y)
    copy = pickle.loads(pickle.dumps(clf))
    assert copy._network.precision == "mixed_bfloat16"
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
