"""The post's Network: names, shapes, any depth, and its forward pass (with and without
dropout) checked against a float64 NumPy computation."""

import math

import numpy as np
import pytest
import tensorflow as tf

from simplenn.nn.network import ACTIVATION_FUNCTIONS, Network


def variable_names(network):
    return [v.name.split(":")[0] for v in network.params]


def test_post_network_has_the_posts_names_and_shapes():
    net = Network([784, 100, 30, 10])
    assert variable_names(net) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert [tuple(v.shape) for v in net.params] == [
        (784, 100), (1, 100), (100, 30), (1, 30), (30, 10), (1, 10),
    ]
    assert net.W1 is net.params[0] and net.b3 is net.params[5]
    assert "784 → 100 → 30 → 10 (81,840 parameters)" in repr(net)


@pytest.mark.parametrize("layer_sizes", [[64, 10], [64, 32, 10], [64, 50, 40, 30, 20, 10]])
def test_any_depth_builds_and_runs(layer_sizes):
    net = Network(layer_sizes)
    assert len(net.params) == 2 * (len(layer_sizes) - 1)
    logits = net.forward(np.ones((3, layer_sizes[0]), np.float32))
    assert logits.shape == (3, layer_sizes[-1])
    assert net.predict(np.ones((3, layer_sizes[0]), np.float32)).shape == (3,)


NUMPY_ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "gelu": lambda z: 0.5 * z * (1 + np.vectorize(math.erf)(z / np.sqrt(2))),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
}


def numpy_forward(network, x, activation, dropped=None, rate=0.0):
    """Logits and hidden outputs of `network` on `x`, in float64 NumPy from the variables'
    values; `dropped[l]` (B, n_l) of bools zeroes hidden layer l+1's units, the rest scaled
    by 1 / (1 - rate)."""
    A = np.asarray(x, np.float64)
    hidden = []
    weights = [np.asarray(p, np.float64) for p in network.params]
    L = len(weights) // 2
    for l in range(L):
        Z = A @ weights[2 * l] + weights[2 * l + 1]  # (B, n_l) @ (n_l, n_{l+1}) + (1, n_{l+1})
        if l == L - 1:
            return Z, hidden
        A = NUMPY_ACTIVATIONS[activation](Z)
        if dropped is not None:
            A = np.where(dropped[l], 0.0, A / (1 - rate))
        hidden.append(A)


def with_random_biases(network):
    for b in network.biases:  # non-zero biases, so that adding them is checked too
        b.assign(tf.random.normal(b.shape, seed=1))
    return network


@pytest.mark.parametrize("activation", sorted(ACTIVATION_FUNCTIONS))
def test_forward_equals_numpy(activation):
    net = with_random_biases(Network([20, 16, 8, 5], activation=activation, init="glorot", seed=3))
    x = np.random.default_rng(0).normal(size=(7, 20)).astype(np.float32)
    logits, _ = numpy_forward(net, x, activation)
    np.testing.assert_allclose(net.forward(x).numpy(), logits, rtol=1e-5, atol=1e-5)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(net.predict_proba(x).numpy(), probabilities, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(net.predict(x).numpy(), logits.argmax(axis=1))


def test_initialisers_have_their_documented_scale():
    post = Network([784, 400, 10], init="normal", init_stddev=0.1)
    he = Network([784, 400, 10], init="he")
    glorot = Network([784, 400, 10], init="glorot")
    assert np.std(post.W1.numpy()) == pytest.approx(0.1, rel=0.02)
    assert np.std(he.W1.numpy()) == pytest.approx(np.sqrt(2 / 784), rel=0.02)
    limit = np.sqrt(6 / (784 + 400))
    assert np.abs(glorot.W1.numpy()).max() <= limit
    assert np.std(glorot.W1.numpy()) == pytest.approx(limit / np.sqrt(3), rel=0.02)
    assert all(np.all(b.numpy() == 0) for b in post.biases)  # zero biases, as in the post


def test_same_seed_same_weights_other_seed_other_weights():
    a, b, c = Network([8, 4, 2], seed=1), Network([8, 4, 2], seed=1), Network([8, 4, 2], seed=2)
    np.testing.assert_array_equal(a.W1.numpy(), b.W1.numpy())
    assert not np.array_equal(a.W1.numpy(), c.W1.numpy())


SEED = tf.constant([0, 7], tf.int64)


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_dropout_zeroes_a_fraction_rate_and_scales_the_rest_by_1_over_1_minus_rate(rate):
    # Sigmoid outputs are never 0, so a 0 in a hidden layer's output is a dropped unit.
    net = with_random_biases(Network([30, 200, 100, 10], activation="sigmoid", dropout=rate))
    x = np.random.default_rng(1).uniform(size=(64, 30)).astype(np.float32)
    passed = net.forward_pass(x, training=True, dropout_seed=SEED)
    dropped = [A.numpy() == 0 for A in passed.A[1:]]
    for layer in dropped:  # 12,800 and 6,400 units: the fraction is within 0.02 of the rate
        assert layer.mean() == pytest.approx(rate, abs=0.02)
    logits, hidden = numpy_forward(net, x, "sigmoid", dropped, rate)
    for A, expected in zip(passed.A[1:], hidden):
        np.testing.assert_allclose(A.numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(passed.Z[-1].numpy(), logits, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(net.forward(x, training=True, dropout_seed=SEED).numpy(), logits, rtol=1e-4, atol=1e-5)


def test_no_dropout_outside_training():
    net = with_random_biases(Network([30, 200, 10], dropout=0.5))
    x = np.random.default_rng(2).uniform(size=(16, 30)).astype(np.float32)
    logits, _ = numpy_forward(net, x, "relu")
    np.testing.assert_allclose(net.forward(x).numpy(), logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(net.forward(x, dropout_seed=SEED).numpy(), logits, rtol=1e-5, atol=1e-5)


def test_dropout_masks_follow_the_seed():
    """Stateless masks: a resumed run, given the same step seed, drops the same units."""
    net = Network([30, 200, 10], activation="sigmoid", dropout=0.5)
    x = np.ones((4, 30), np.float32)
    first, again, other = (net.forward_pass(x, training=True, dropout_seed=seed).A[1].numpy() == 0
                           for seed in (SEED, SEED, tf.constant([0, 8], tf.int64)))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
