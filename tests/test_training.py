"""The training engine: every knob does what it claims, and runs are reproducible."""

import math

import numpy as np
import pytest
import tensorflow as tf

from simplenn.training.augmentation import augment
from simplenn.config import Config
from simplenn.training.data import prepare_data
from simplenn.runs.experiment import train_and_evaluate
from simplenn.nn.metrics import loss_and_accuracy, weights_sha256
from simplenn.nn.optimizers import OneCycle, learning_rate
from simplenn.training.data import make_split
from simplenn.training.trainer import Trainer, fit, tape_gradients

# A small working network on 8x8 digits, spelled out so that retuning a preset leaves it be.
SMALL = Config(
    dataset="digits", layers=(64, 32, 10), scale_inputs=True, loss="softmax", reduction="mean",
    init="he", optimizer="adam", lr=3e-3, schedule="cosine", batch_size=64, epochs=2,
)


@pytest.fixture(scope="module")
def digits():
    return prepare_data(SMALL)


def trained(config: Config, data, epochs: int | None = None) -> Trainer:
    config = config.replace(epochs=epochs or config.epochs)
    trainer = Trainer(config, data.train.size, data.image_shape)
    fit(trainer, data.train, data.validation, log=lambda line: None)
    return trainer


def weight_norm(trainer: Trainer) -> float:
    return float(sum(np.sum(np.square(W.numpy())) for W in trainer.network.weights))


def test_two_seeded_runs_end_with_the_same_weights(digits):
    first = weights_sha256(trained(SMALL, digits).network.params)
    second = weights_sha256(trained(SMALL, digits).network.params)
    other = weights_sha256(trained(SMALL.replace(seed=1), digits).network.params)
    assert first == second != other


@pytest.mark.parametrize(
    "changes",
    [
        {"jit_compile": True},
        # XLA draws other random numbers than eager TensorFlow for the same stateless
        # seed, so dropout masks are compared without XLA.
        {"jit_compile": False, "dropout": 0.2},
        {"jit_compile": False, "dropout": 0.2, "flip_images": True, "shift_pixels": 1},
    ],
)
def test_compiled_chunks_equal_an_eager_step_by_step_loop(digits, changes):
    """The compiled epoch runs the post's step, batch after batch, in the same order."""
    config = SMALL.replace(epochs=1, **changes)
    compiled = trained(config, digits)

    eager = Trainer(config, digits.train.size, digits.image_shape)
    n, batch = digits.train.size, eager.batch_size
    order = tf.random.experimental.stateless_shuffle(
        tf.range(n, dtype=tf.int64), seed=tf.constant([config.seed, 0], tf.int64)
    ).numpy()
    for step in range(math.ceil(n / batch)):
        rows = order[step * batch : (step + 1) * batch]
        X, Y = tf.gather(digits.train.X, rows), tf.gather(digits.train.Y, rows)
        seed = tf.constant([config.seed, step], tf.int64)
        X = augment(X, digits.image_shape, config.shift_pixels, config.flip_images, seed)
        _, _, grads = tape_gradients(eager.network, config, X, Y, seed)
        eager.optimizer.apply_gradients(zip(grads, eager.network.params))
    for a, b in zip(compiled.network.params, eager.network.params):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_weight_decay_shrinks_weights(digits, optimizer):
    base = SMALL.replace(optimizer=optimizer, lr=0.05 if optimizer == "sgd" else 3e-3, epochs=3)
    assert weight_norm(trained(base.replace(weight_decay=0.05), digits)) < 0.9 * weight_norm(trained(base, digits))


def test_adamw_decays_weights_but_not_biases():
    """With zero gradients Adam's own step is 0, so only the decoupled decay moves a
    variable: W <- W - lr * weight_decay * W each step, and biases stay as they are."""
    lr, weight_decay, steps = 0.01, 0.5, 10
    config = SMALL.replace(optimizer="adamw", lr=lr, schedule="constant", weight_decay=weight_decay)
    trainer = Trainer(config, n_train=640)
    network = trainer.network
    for b in network.biases:  # non-zero, so that decaying them would show
        b.assign(tf.ones_like(b))
    before = [p.numpy() for p in network.params]
    zeros = [tf.zeros_like(p) for p in network.params]
    for _ in range(steps):
        trainer.optimizer.apply_gradients(zip(zeros, network.params))
    shrink = (1 - lr * weight_decay) ** steps  # 0.951
    for W, W_before in zip(network.weights, before[0::2]):
        np.testing.assert_allclose(W.numpy(), shrink * W_before, rtol=1e-5)
    for b, b_before in zip(network.biases, before[1::2]):
        np.testing.assert_array_equal(b.numpy(), b_before)


def test_momentum_and_nesterov_change_the_path(digits):
    sgd, momentum, nesterov = (
        weights_sha256(trained(SMALL.replace(optimizer=name, lr=0.01), digits, epochs=1).network.params)
        for name in ("sgd", "momentum", "nesterov")
    )
    assert len({sgd, momentum, nesterov}) == 3


def test_gradient_clipping_bounds_the_update(digits):
    config = SMALL.replace(optimizer="sgd", lr=1.0, clip_norm=1e-3, epochs=1, batch_size=0)
    trainer = Trainer(config, digits.train.size)
    before = [p.numpy() for p in trainer.network.params]
    fit(trainer, digits.train, log=lambda line: None)  # one full-batch step
    update = np.sqrt(sum(np.sum((p.numpy() - b) ** 2) for p, b in zip(trainer.network.params, before)))
    assert update == pytest.approx(1e-3, rel=1e-3)  # lr 1 * gradient clipped to norm 1e-3


def test_label_smoothing_softens_the_targets(digits):
    sharp = trained(SMALL.replace(epochs=10, lr=1e-2, label_smoothing=0.0), digits)
    smooth = trained(SMALL.replace(epochs=10, lr=1e-2, label_smoothing=0.3), digits)
    top = lambda t: np.mean(np.max(tf.nn.softmax(t.forward(digits.test.X)).numpy(), axis=1))  # noqa: E731
    assert top(smooth) < 0.8 < top(sharp)  # smoothing's optimum is 1 - 0.3 + 0.03 = 0.73


@pytest.mark.parametrize("schedule", ["constant", "step", "cosine", "onecycle"])
def test_schedule_matches_its_formula(schedule):
    steps_per_epoch, lr = 10, 0.1
    config = SMALL.replace(schedule=schedule, lr=lr, epochs=5, warmup_epochs=1, step_every_epochs=2, step_gamma=0.5)
    rate = learning_rate(config, steps_per_epoch)
    total, warm = 50, 10
    for k in (0, 5, 10, 19, 20, 35, 49):
        if schedule == "constant":
            expected = lr
        elif schedule == "step":
            expected = lr * 0.5 ** (k // 20)
        elif schedule == "cosine":
            expected = lr * k / warm if k < warm else lr * 0.5 * (1 + math.cos(math.pi * (k - warm) / (total - warm)))
        else:
            start, final = lr / 25, lr / 1e4
            expected = (start + (lr - start) * k / warm) if k < warm else (
                final + (lr - final) * 0.5 * (1 + math.cos(math.pi * (k - warm) / (total - warm)))
            )
        actual = rate if isinstance(rate, float) else float(rate(k))
        assert actual == pytest.approx(expected, rel=1e-4, abs=1e-8), k  # float32 schedules


def test_onecycle_without_warmup_rises_for_30_percent():
    schedule = OneCycle(1.0, total_steps=100, warmup_steps=0)
    assert float(schedule(29)) < float(schedule(30)) == pytest.approx(1.0)
    assert float(schedule(99)) < 0.01


def test_trainer_follows_the_schedule(digits):
    config = SMALL.replace(schedule="step", step_every_epochs=1, step_gamma=0.5, lr=0.01, epochs=2)
    trainer = trained(config, digits)
    assert trainer.learning_rate() == pytest.approx(0.01 * 0.5**2)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "gelu", "tanh", "sigmoid"])
def test_every_activation_trains(digits, activation):
    trainer = trained(SMALL.replace(activation=activation, lr=3e-3, epochs=3), digits)
    assert loss_and_accuracy(trainer.forward, digits.test, trainer.config)[1] > 0.5


def test_early_stopping_restores_the_best_epoch():
    config = SMALL.replace(validation_split=0.2, patience=2, epochs=12, lr=0.03, schedule="constant")
    data = prepare_data(config)
    trainer = Trainer(config, data.train.size)
    history = fit(trainer, data.train, data.validation, log=lambda line: None)
    best = max(record.val_accuracy for record in history)
    assert loss_and_accuracy(trainer.forward, data.validation, config)[1] == pytest.approx(best)
    assert history[int(trainer.best_epoch.numpy()) - 1].val_accuracy == pytest.approx(best)


def test_validation_split_holds_rows_out():
    data = prepare_data(SMALL.replace(validation_split=0.25))
    assert data.validation.size == round(0.25 * 1347)
    assert data.train.size + data.validation.size == 1347


def test_summary_reports_fractions_and_the_weights_digest(tmp_path, digits):
    summary = train_and_evaluate(SMALL, run_dir=tmp_path, data=digits, log=lambda line: None)
    for key in ("preset", "dataset", "config", "epochs", "train_seconds", "train_accuracy", "test_accuracy", "weights_sha256"):
        assert key in summary
    assert 0 <= summary["test_accuracy"] <= 1 and 0 <= summary["train_accuracy"] <= 1
    assert len(summary["weights_sha256"]) == 64
    assert (tmp_path / "history.csv").read_text().count("\n") == 1 + SMALL.epochs
    assert any((tmp_path / "tensorboard").iterdir())


def test_make_split_keeps_labels():
    X = np.zeros((3, 4), np.float32)
    Y = np.eye(10, dtype=np.float32)[[2, 0, 9]]
    assert list(make_split(X, Y).labels) == [2, 0, 9]
