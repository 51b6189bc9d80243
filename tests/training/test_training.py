"""The training engine: every knob does what it claims, and runs are reproducible."""

import math
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from simplenn.config import Config, preset
from simplenn.nn.metrics import loss_and_accuracy, weights_sha256
from simplenn.nn.optimizers import OneCycle, learning_rate
from simplenn.runs.experiment import train_and_evaluate
from simplenn.training.data import make_split, prepare_data
from simplenn.training.step import train_eagerly
from simplenn.training.trainer import Trainer, expected_macs, fit, uses_xla

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
def test_compiled_chunks_equal_the_eager_reference_loop(digits, changes):
    """The compiled driver runs the post's step, batch after batch, in the same order, epoch after epoch."""
    config = SMALL.replace(**changes)
    compiled = trained(config, digits)
    eager = Trainer(config, digits.train.size, digits.image_shape)  # a network and optimizer of its own
    assert eager.network is not compiled.network  # `compiled` is alive, so its steps are not reused
    train_eagerly(eager.network, eager.optimizer, config, digits.train, config.epochs, digits.image_shape)
    for a, b in zip(compiled.network.params, eager.network.params):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


# Two runs of one shape in this process, the second on the steps compiled for the first, and
# the same run in a fresh process: fixed's recipe on digits, with XLA and dropout.
SAME_SHAPE = SMALL.replace(epochs=3, optimizer="adamw", schedule="onecycle", weight_decay=0.05, dropout=0.1,
                           label_smoothing=0.1, jit_compile=True)

FRESH_RUN = """
import json, sys
from simplenn.config import Config
from simplenn.nn.metrics import weights_sha256
from simplenn.training.data import prepare_data
from simplenn.training.trainer import Trainer, fit
config = Config.from_dict(json.loads(sys.argv[1]))
data = prepare_data(config)
trainer = Trainer(config, data.train.size, data.image_shape)
fit(trainer, data.train, log=lambda line: None)
print(weights_sha256(trainer.network.params))
"""


@pytest.mark.slow  # a fresh process
def test_a_second_run_of_the_same_shape_reuses_the_compiled_steps_and_ends_as_a_fresh_process(digits):
    first = trained(SAME_SHAPE, digits)
    first_sha, steps = weights_sha256(first.network.params), first._compiled
    del first  # its steps are free for the next run of the same shape
    other_seed = trained(SAME_SHAPE.replace(seed=5), digits)  # a seed is not a shape: the same steps
    assert other_seed._compiled is steps
    other_sha = weights_sha256(other_seed.network.params)
    del other_seed
    second = trained(SAME_SHAPE, digits)
    assert second._compiled is steps
    fresh = subprocess.run([sys.executable, "-c", FRESH_RUN, SAME_SHAPE.to_json()], capture_output=True,
                           text=True, timeout=300)
    assert fresh.returncode == 0, fresh.stderr
    assert weights_sha256(second.network.params) == first_sha == fresh.stdout.split()[-1] != other_sha


# A constant learning rate is a variable of the compiled steps, and the initial weights are
# drawn outside them: a grid over these reuses one compilation.
RETUNED = SAME_SHAPE.replace(schedule="constant", dropout=0.0)


def fresh_process_sha(config: Config) -> str:
    fresh = subprocess.run([sys.executable, "-c", FRESH_RUN, config.to_json()], capture_output=True, text=True,
                           timeout=300)
    assert fresh.returncode == 0, fresh.stderr
    return fresh.stdout.split()[-1]


@pytest.mark.slow  # fresh processes
def test_runs_that_differ_in_learning_rate_or_init_share_the_steps_and_end_as_fresh_processes(digits):
    first = trained(RETUNED, digits)
    steps = first._compiled
    del first
    other = RETUNED.replace(lr=1e-2, epochs=2, init="normal", init_stddev=0.05)
    second = trained(other, digits)
    assert second._compiled is steps
    assert second.learning_rate() == pytest.approx(1e-2)
    assert weights_sha256(second.network.params) == fresh_process_sha(other)
    del second
    again = trained(RETUNED, digits)  # and back: nothing of the second run's numbers stays
    assert again._compiled is steps
    assert weights_sha256(again.network.params) == fresh_process_sha(RETUNED)


def test_a_schedule_or_a_weight_decay_is_not_retuned_so_other_values_compile_anew(digits):
    first = trained(SAME_SHAPE.replace(jit_compile=False), digits)
    steps = first._compiled
    del first
    assert trained(SAME_SHAPE.replace(jit_compile=False, lr=1e-2), digits)._compiled is not steps
    assert trained(SAME_SHAPE.replace(jit_compile=False, weight_decay=0.01), digits)._compiled is not steps


def test_runs_alive_together_do_not_share_variables(digits):
    first = trained(SMALL, digits)
    weights = [p.numpy() for p in first.network.params]
    second = trained(SMALL.replace(seed=1), digits)
    assert second.network is not first.network
    for p, w in zip(first.network.params, weights):
        np.testing.assert_array_equal(p.numpy(), w)


def test_xla_is_chosen_by_the_arithmetic_of_the_run_unless_a_flag_says():
    digits = preset("fixed").replace(layers=(64, 100, 30, 10))
    fashion = preset("fixed")
    assert not uses_xla(digits, 1437) and uses_xla(fashion, 60000)  # 1.2e9 and 4.4e11 multiply-adds
    assert uses_xla(digits.replace(jit_compile=True), 1437) and not uses_xla(fashion.replace(jit_compile=False), 60000)
    assert expected_macs(fashion, 60000) == 60000 * 30 * 3 * (784 * 100 + 100 * 30 + 30 * 10)


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


def test_on_chunk_reports_the_epoch_so_far_several_times_an_epoch(digits):
    trainer = Trainer(SMALL, digits.train.size, digits.image_shape)
    seen = []

    def on_chunk(t):
        seen.append((int(t.epoch.numpy()), int(t.step_in_epoch.numpy()), *t.epoch_statistics()))

    history = fit(trainer, digits.train, on_chunk=on_chunk, chunks_per_epoch=4, log=lambda line: None)
    steps = trainer.steps_per_epoch
    assert [(epoch, step) for epoch, step, *_ in seen] == [
        (epoch, min(steps, k * math.ceil(steps / 4))) for epoch in range(SMALL.epochs) for k in range(1, 5)]
    for record, (_, _, loss, accuracy) in zip(history, seen[3::4]):  # an epoch's last chunk is its record
        assert (loss, accuracy) == (record.loss, record.accuracy)
