"""The presets keep their promises: `blog` is the post's program, step for step, and fails
at chance as the post does; `fixed` keeps the post's network and works."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from shared_runs import needs_fashion_mnist
from simplenn.config import Config, preset
from simplenn.datasets import load_dataset
from simplenn.runs.experiment import prepare_data, train_and_evaluate
from simplenn.training.trainer import Trainer, fit


def quiet(line):
    pass


# The post's program, as /work/shared/seed/README.md and the post itself give it.
THE_POSTS_NUMBERS = dict(
    layers=(784, 100, 30, 10), activation="relu", init="normal", init_stddev=0.1,
    scale_inputs=False, loss="sigmoid", reduction="sum", optimizer="sgd", lr=0.01,
    batch_size=0, epochs=5,
)
# What the post does not have: every knob simplenn adds, off.
NOTHING_ADDED = dict(
    dropout=0.0, validation_split=0.0, flip_images=False, shift_pixels=0, label_smoothing=0.0,
    weight_decay=0.0, schedule="constant", clip_norm=0.0, patience=0,
)


def test_blog_has_the_posts_numbers_and_nothing_added():
    blog = preset("blog")
    assert {field: getattr(blog, field) for field in THE_POSTS_NUMBERS} == THE_POSTS_NUMBERS
    assert {field: getattr(blog, field) for field in NOTHING_ADDED} == NOTHING_ADDED


def the_posts_forward(params, X):
    """The post's `forward`, written out: relu, relu, logits."""
    W1, b1, W2, b2, W3, b3 = params
    Z1 = tf.nn.relu(X @ W1 + b1)  # (n, 64) @ (64, 100) -> (n, 100)
    Z2 = tf.nn.relu(Z1 @ W2 + b2)  # (n, 100) @ (100, 30) -> (n, 30)
    return Z2 @ W3 + b3  # (n, 30) @ (30, 10) -> (n, 10)


def test_blog_trains_one_epoch_as_the_posts_backward_does():
    """One epoch of `blog` is one step of the post's `backward` on every raw image."""
    config = preset("blog").replace(dataset="digits", layers=(64, 100, 30, 10), epochs=1)
    data = prepare_data(config)
    trainer = Trainer(config, data.train.size, data.image_shape)
    params = [tf.Variable(p.numpy()) for p in trainer.network.params]  # the same starting weights
    fit(trainer, data.train, log=quiet)
    assert trainer.global_step == 1  # the whole training set in one step

    (x_train, y_train), _ = load_dataset("digits")
    X = x_train.reshape(len(x_train), -1).astype(np.float32)  # raw 0-255 pixels, never scaled
    Y = tf.one_hot(y_train, depth=10)
    with tf.GradientTape() as tape:
        logits = the_posts_forward(params, X)
        loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.reshape(Y, (-1, 1)), logits=tf.reshape(logits, (-1, 1)))
    grads = tape.gradient(loss, params)  # of the loss's sum: it is not a scalar
    tf.keras.optimizers.SGD(learning_rate=0.01).apply_gradients(zip(grads, params))

    for trained, by_hand in zip(trainer.network.params, params):
        np.testing.assert_allclose(trained.numpy(), by_hand.numpy(), rtol=1e-4, atol=1e-4 * np.abs(by_hand.numpy()).max())


def test_fixed_changes_the_training_not_the_network():
    blog, fixed = preset("blog"), preset("fixed")
    changed = {f.name for f in dataclasses.fields(Config) if getattr(blog, f.name) != getattr(fixed, f.name)}
    assert not changed & {"layers", "activation", "dropout"}
    assert {"scale_inputs", "reduction", "batch_size", "loss", "init", "optimizer"} <= changed


def test_blog_ends_at_chance_on_digits():
    summary = train_and_evaluate(preset("blog").replace(dataset="digits"), log=quiet)
    assert summary["test_accuracy"] == pytest.approx(0.10, abs=0.02)


def test_fixed_reaches_97_percent_on_digits():
    summary = train_and_evaluate(preset("fixed").replace(dataset="digits"), log=quiet)
    assert summary["test_accuracy"] >= 0.97


@pytest.mark.slow  # the preset's whole run on Fashion-MNIST
@needs_fashion_mnist
def test_blog_ends_at_chance_on_fashion_mnist():
    summary = train_and_evaluate(preset("blog").replace(dataset="fashion-mnist"), log=quiet)
    assert summary["test_accuracy"] == pytest.approx(0.10, abs=0.01)
    assert summary["train_accuracy"] == pytest.approx(0.10, abs=0.01)


@pytest.mark.slow  # the preset's whole run on Fashion-MNIST
@needs_fashion_mnist
def test_fixed_reaches_89_5_percent_on_fashion_mnist():
    summary = train_and_evaluate(preset("fixed").replace(dataset="fashion-mnist"), log=quiet)
    assert summary["test_accuracy"] >= 0.895
