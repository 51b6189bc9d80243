"""The chain rule by hand (`backprop.manual_gradients`) against GradientTape and finite differences."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from simplenn.nn.backprop import manual_gradients
from simplenn.cli import main
from simplenn.config import ACTIVATIONS, LOSSES, REDUCTIONS, Config, preset
from simplenn.training.data import prepare_data
from simplenn.nn.losses import data_loss, l2_penalty
from simplenn.nn.network import Network
from simplenn.nn.optimizers import uses_l2_penalty
from simplenn.runs.run_directory import RunDirectory
from simplenn.training.trainer import Trainer, fit, tape_gradients

DROPOUT_SEED = tf.constant([7, 3], tf.int64)


def random_problem(n_weight_layers: int, seed: int, batch: int = 6, **config_fields):
    """A network with random layer sizes, its config, and a batch `X (B, n0)`, one-hot `Y (B, K)`."""
    rng = np.random.default_rng(seed)
    layers = tuple(int(n) for n in rng.integers(2, 7, size=n_weight_layers + 1))
    config = Config(layers=layers, **config_fields)
    network = Network(layers, config.activation, "glorot", dropout=config.dropout, seed=seed)
    X = rng.normal(size=(batch, layers[0])).astype(np.float32)
    Y = np.eye(layers[-1], dtype=np.float32)[rng.integers(0, layers[-1], size=batch)]
    return network, config, X, Y


def relative_error(a, b) -> float:
    """||a - b|| / ||b||, the whole tensor at once (elements near 0 make element-wise ratios meaningless)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def assert_same_gradients(network, config, X, Y, tolerance):
    tape_loss, tape_Z, tape_grads = tape_gradients(network, config, X, Y, DROPOUT_SEED)
    loss, Z, grads = manual_gradients(network, config, X, Y, DROPOUT_SEED)
    assert float(loss) == pytest.approx(float(tape_loss), rel=1e-6)
    np.testing.assert_allclose(Z, tape_Z, rtol=1e-6)
    assert len(grads) == len(network.params)
    for p, g, tape_g in zip(network.params, grads, tape_grads):
        assert g.shape == p.shape
        assert relative_error(g, tape_g) < tolerance, p.name


@pytest.mark.parametrize("activation,loss,reduction", list(itertools.product(ACTIVATIONS, LOSSES, REDUCTIONS)))
def test_manual_gradients_equal_the_tape_for_every_activation_loss_and_reduction(activation, loss, reduction):
    for n_weight_layers in (1, 2, 3, 4):
        network, config, X, Y = random_problem(
            n_weight_layers, seed=n_weight_layers, activation=activation, loss=loss, reduction=reduction
        )
        assert_same_gradients(network, config, X, Y, tolerance=1e-5)


REGULARISED = {
    "dropout": dict(dropout=0.4),
    "label smoothing, sigmoid": dict(label_smoothing=0.1, loss="sigmoid"),
    "label smoothing, softmax": dict(label_smoothing=0.1, loss="softmax"),
    "weight decay": dict(weight_decay=0.05, optimizer="adam"),
    "all three": dict(dropout=0.3, label_smoothing=0.2, weight_decay=0.01, loss="softmax", reduction="mean"),
}


@pytest.mark.parametrize("fields", list(REGULARISED.values()), ids=list(REGULARISED))
def test_manual_gradients_equal_the_tape_with_dropout_smoothing_and_weight_decay(fields):
    for n_weight_layers in (1, 3):
        network, config, X, Y = random_problem(n_weight_layers, seed=10 + n_weight_layers, **fields)
        assert_same_gradients(network, config, X, Y, tolerance=1e-5)


def test_dropout_masks_are_the_forward_pass_masks():
    # One example, so that about half of each hidden layer's units are dropped for it.
    network, config, X, Y = random_problem(3, seed=5, batch=1, dropout=0.5)
    _, _, grads = manual_gradients(network, config, X, Y, DROPOUT_SEED)
    keep = network.forward_pass(X, training=True, dropout_seed=DROPOUT_SEED).keep
    # A unit dropped for every example gets no gradient into the weights leaving it.
    for l, mask in enumerate(keep, start=2):
        never_kept = np.all(np.asarray(mask) == 0, axis=0)
        assert never_kept.any() and not never_kept.all()
        assert np.all(np.asarray(grads[2 * (l - 1)])[never_kept] == 0)
        assert np.any(np.asarray(grads[2 * (l - 1)])[~never_kept] != 0)


def test_adamw_weight_decay_stays_out_of_the_gradient():
    # AdamW decays the weights itself, so the objective (and both gradients) have no L2 term.
    network, config, X, Y = random_problem(2, seed=3, weight_decay=0.5, optimizer="adamw")
    _, _, plain = manual_gradients(network, config.replace(weight_decay=0.0), X, Y, DROPOUT_SEED)
    _, _, decayed = manual_gradients(network, config, X, Y, DROPOUT_SEED)
    for a, b in zip(plain, decayed):
        np.testing.assert_array_equal(a, b)
    assert_same_gradients(network, config, X, Y, tolerance=1e-5)


def cast_to_float64(network: Network) -> Network:
    """Replace every parameter by a float64 copy; the forward pass follows the weights' dtype."""
    params = [tf.Variable(tf.cast(p, tf.float64), name=p.name.split(":")[0]) for p in network.params]
    for l in range(len(params) // 2):
        setattr(network, f"W{l + 1}", params[2 * l])
        setattr(network, f"b{l + 1}", params[2 * l + 1])
    network.params = params
    return network


def finite_difference_gradients(network, config, X, Y, h=1e-6):
    """Central differences (J(p + h) - J(p - h)) / 2h of the objective, element by element."""

    def objective():
        Z = network.forward(X, training=True, dropout_seed=DROPOUT_SEED)
        J = data_loss(Y, Z, config.loss, config.reduction, config.label_smoothing)
        if uses_l2_penalty(config):
            J += l2_penalty(network.weights, config.weight_decay)
        return float(J)

    grads = []
    for p in network.params:
        values = p.numpy()
        grad = np.zeros_like(values)
        for index in np.ndindex(values.shape):
            for sign in (+1, -1):
                shifted = values.copy()
                shifted[index] += sign * h
                p.assign(shifted)
                grad[index] += sign * objective() / (2 * h)
        p.assign(values)
        grads.append(grad)
    return grads


FINITE_DIFFERENCE_CASES = [
    dict(activation=a, loss=l, reduction=r) for a, l, r in itertools.product(ACTIVATIONS, LOSSES, REDUCTIONS)
] + [dict(activation="relu", loss="softmax", dropout=0.3, label_smoothing=0.1, weight_decay=0.02)]


@pytest.mark.parametrize(
    "fields", FINITE_DIFFERENCE_CASES, ids=["-".join(map(str, case.values())) for case in FINITE_DIFFERENCE_CASES]
)
def test_manual_and_tape_gradients_equal_finite_differences_in_float64(fields):
    network, config, X, Y = random_problem(2, seed=21, batch=4, **fields)
    network = cast_to_float64(network)
    X, Y = X.astype(np.float64), Y.astype(np.float64)
    numeric = finite_difference_gradients(network, config, X, Y)
    _, _, manual = manual_gradients(network, config, X, Y, DROPOUT_SEED)
    _, _, tape = tape_gradients(network, config, X, Y, DROPOUT_SEED)
    for expected, by_hand, by_tape in zip(numeric, manual, tape):
        assert by_hand.dtype == tf.float64
        assert relative_error(by_hand, expected) < 1e-6
        assert relative_error(by_tape, expected) < 1e-6


def train_digits(config: Config, data):
    tf.config.experimental.enable_op_determinism()
    trainer = Trainer(config, data.train.size)
    fit(trainer, data.train, log=lambda line: None)
    return [p.numpy() for p in trainer.network.params]


def test_training_with_manual_gradients_ends_where_the_tape_does():
    # The fixed preset's compiled (XLA) step, with dropout and an L2 penalty switched on too.
    config = preset("fixed").replace(
        dataset="digits", layers=(64, 100, 30, 10), epochs=2, dropout=0.2, weight_decay=1e-3
    )
    data = prepare_data(config)
    by_tape = train_digits(config, data)
    by_hand = train_digits(config.replace(grad="manual"), data)
    for a, b in zip(by_hand, by_tape):
        assert np.max(np.abs(a - b)) < 1e-4


def test_cli_trains_with_manual_gradients(tmp_path, capsys):
    status = main(["train", "--dataset", "digits", "--epochs", "1", "--grad", "manual", "--quiet",
                   "--run-dir", str(tmp_path / "run")])
    assert status == 0
    assert "test accuracy" in capsys.readouterr().out
    assert RunDirectory(tmp_path / "run").read_config().grad == "manual"
