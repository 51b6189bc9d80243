"""Losses: the post's summed sigmoid cross-entropy, softmax, reductions and smoothing."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from simplenn.nn.losses import data_loss, l2_penalty

rng = np.random.default_rng(0)
Z = tf.constant(rng.normal(size=(6, 10)).astype(np.float32) * 3)
Y = tf.one_hot(rng.integers(0, 10, size=6), 10)


def post_loss(y_true, logits):
    """The post's `loss`, verbatim: both reshaped to (-1, 1), element-wise, not reduced."""
    y_true_tf = tf.cast(tf.reshape(y_true, (-1, 1)), dtype=tf.float32)
    logits_tf = tf.cast(tf.reshape(logits, (-1, 1)), dtype=tf.float32)
    return tf.nn.sigmoid_cross_entropy_with_logits(y_true_tf, logits_tf)


def test_sigmoid_sum_is_what_the_posts_tape_differentiates():
    assert float(data_loss(Y, Z, "sigmoid", "sum")) == pytest.approx(float(tf.reduce_sum(post_loss(Y, Z))), rel=1e-6)
    W = tf.Variable(Z)
    with tf.GradientTape(persistent=True) as tape:
        theirs = post_loss(Y, W)  # (60, 1): tape.gradient of a tensor is that of its sum
        ours = data_loss(Y, W, "sigmoid", "sum")
    np.testing.assert_allclose(tape.gradient(theirs, W), tape.gradient(ours, W), rtol=1e-6)


def test_mean_divides_by_the_batch():
    for loss in ("sigmoid", "softmax"):
        assert float(data_loss(Y, Z, loss, "mean")) == pytest.approx(float(data_loss(Y, Z, loss, "sum")) / 6, rel=1e-6)


def test_softmax_mean_matches_keras():
    keras_loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    assert float(data_loss(Y, Z, "softmax", "mean")) == pytest.approx(float(keras_loss(Y, Z)), rel=1e-5)


def test_label_smoothing_matches_keras():
    keras_loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    assert float(data_loss(Y, Z, "softmax", "mean", 0.1)) == pytest.approx(float(keras_loss(Y, Z)), rel=1e-5)
    binary = keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1)
    # Keras averages over the 10 outputs; ours sums them.
    assert float(data_loss(Y, Z, "sigmoid", "mean", 0.1)) == pytest.approx(10 * float(binary(Y, Z)), rel=1e-5)


def test_l2_penalty_is_half_decay_times_squared_norms():
    W1, W2 = tf.ones((2, 3)), 2 * tf.ones((3, 1))
    assert float(l2_penalty([W1, W2], 0.1)) == pytest.approx(0.5 * 0.1 * (6 + 12))
