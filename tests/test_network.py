"""The post's Network: names, shapes, any depth, and a forward pass checked against NumPy."""

import numpy as np
import pytest
import tensorflow as tf

from simplenn.network import ACTIVATION_FUNCTIONS, Network


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


@pytest.mark.parametrize("n_layers", [[64, 10], [64, 32, 10], [64, 50, 40, 30, 20, 10]])
def test_any_depth_builds_and_runs(n_layers):
    net = Network(n_layers)
    assert len(net.params) == 2 * (len(n_layers) - 1)
    logits = net.forward(np.ones((3, n_layers[0]), np.float32))
    assert logits.shape == (3, n_layers[-1])
    assert net.predict(np.ones((3, n_layers[0]), np.float32)).shape == (3,)


NUMPY_ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "gelu": lambda z: 0.5 * z * (1 + np.vectorize(__import__("math").erf)(z / np.sqrt(2))),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
}


@pytest.mark.parametrize("activation", sorted(ACTIVATION_FUNCTIONS))
def test_forward_equals_numpy(activation):
    net = Network([20, 16, 8, 5], activation=activation, init="glorot", seed=3)
    for b in net.biases:  # non-zero biases, so that adding them is checked too
        b.assign(tf.random.normal(b.shape, seed=1))
    x = np.random.default_rng(0).normal(size=(7, 20)).astype(np.float32)
    a = x.astype(np.float64)
    weights = [np.asarray(p, np.float64) for p in net.params]
    for l in range(3):
        z = a @ weights[2 * l] + weights[2 * l + 1]
        a = NUMPY_ACTIVATIONS[activation](z) if l < 2 else z
    np.testing.assert_allclose(net.forward(x).numpy(), a, rtol=1e-5, atol=1e-5)
    probabilities = np.exp(a) / np.exp(a).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(net.predict_proba(x).numpy(), probabilities, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(net.predict(x).numpy(), a.argmax(axis=1))


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


def test_dropout_only_while_training():
    net = Network([30, 200, 10], dropout=0.5)
    x = np.ones((4, 30), np.float32)
    np.testing.assert_array_equal(net.forward(x).numpy(), net.forward(x).numpy())
    without = Network([30, 200, 10], dropout=0.0).forward(x).numpy()
    np.testing.assert_allclose(net.forward(x).numpy(), without, rtol=1e-6)  # same seed, no dropout at test time
    seed = tf.constant([0, 7], tf.int64)
    passed = net.forward_pass(x, training=True, dropout_seed=seed)
    kept = passed.keep[0].numpy()
    assert 0.4 < kept.mean() < 0.6
    hidden = tf.nn.relu(x @ net.W1 + net.b1).numpy()
    np.testing.assert_allclose(passed.A[1].numpy(), hidden * kept / 0.5, rtol=1e-6)
    again = net.forward_pass(x, training=True, dropout_seed=seed).keep[0].numpy()
    np.testing.assert_array_equal(kept, again)  # stateless: same seed, same mask
