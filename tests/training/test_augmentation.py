"""Augmentation: every output image is its input moved and maybe mirrored, nothing else."""

import numpy as np
import pytest
import tensorflow as tf

from simplenn.training.augmentation import STREAM, augment
from simplenn.config import Config
from simplenn.errors import SimplennError
from simplenn.training.data import prepare_data
from simplenn.runs.experiment import train_and_evaluate
from simplenn.nn.metrics import logits_in_blocks, loss_and_accuracy, weights_sha256
from simplenn.training.trainer import Trainer, fit

SMALL = Config(
    dataset="digits", layers=(64, 32, 10), scale_inputs=True, loss="softmax", reduction="mean",
    init="he", optimizer="adam", lr=3e-3, batch_size=64, epochs=2,
)


def moved(image: np.ndarray, dy: int, dx: int, mirrored: bool) -> np.ndarray:
    """`image (H, W)` moved down dy and right dx pixels with zeros moved in, then maybe mirrored."""
    H, W = image.shape
    out = np.zeros_like(image)
    out[max(dy, 0) : H + min(dy, 0), max(dx, 0) : W + min(dx, 0)] = image[
        max(-dy, 0) : H + min(-dy, 0), max(-dx, 0) : W + min(-dx, 0)
    ]
    return out[:, ::-1] if mirrored else out


def matching_moves(before: np.ndarray, after: np.ndarray, max_shift: int, flip: bool) -> list:
    """Every (dy, dx, mirrored) that turns `before` into `after`."""
    shifts = range(-max_shift, max_shift + 1)
    return [
        (dy, dx, m)
        for dy in shifts for dx in shifts for m in ((False, True) if flip else (False,))
        if np.array_equal(moved(before, dy, dx, m), after)
    ]


def random_images(n: int, shape) -> np.ndarray:
    # Distinct random pixels: no two moves of an image can give the same picture.
    return np.random.default_rng(0).uniform(0.1, 1.0, (n, shape[0] * shape[1])).astype(np.float32)


def test_nothing_asked_returns_the_batch_untouched():
    X = tf.constant(random_images(4, (8, 8)))
    assert augment(X, (8, 8), 0, False, tf.constant([0, 0], tf.int64)) is X


@pytest.mark.parametrize("shape, max_shift, flip", [((8, 8), 2, True), ((28, 28), 1, False), ((5, 7), 1, True)])
@pytest.mark.parametrize("jit_compile", [False, True])
def test_each_image_is_its_input_moved_and_maybe_mirrored(shape, max_shift, flip, jit_compile):
    images = random_images(1000, shape)
    run = tf.function(augment, jit_compile=jit_compile) if jit_compile else augment
    out = run(tf.constant(images), shape, max_shift, flip, tf.constant([3, 7], tf.int64)).numpy()
    seen = set()
    for before, after in zip(images, out):
        matches = matching_moves(before.reshape(shape), after.reshape(shape), max_shift, flip)
        assert len(matches) == 1, "each output must be exactly one move of its input"
        seen.add(matches[0])
    # Every move is drawn: up to 25 shifts x 2 mirrorings over 1000 images.
    assert len(seen) == (2 * max_shift + 1) ** 2 * (2 if flip else 1)


def test_the_draws_are_keyed_by_seed_and_step():
    X = tf.constant(random_images(50, (8, 8)))
    draw = lambda seed, step: augment(X, (8, 8), 1, True, tf.constant([seed, step], tf.int64)).numpy()  # noqa: E731
    np.testing.assert_array_equal(draw(0, 5), draw(0, 5))
    assert not np.array_equal(draw(0, 5), draw(0, 6))
    assert not np.array_equal(draw(0, 5), draw(1, 5))


@pytest.fixture(scope="module")
def digits():
    return prepare_data(SMALL)


def trained(config: Config, data) -> Trainer:
    trainer = Trainer(config, data.train.size, data.image_shape)
    fit(trainer, data.train, log=lambda line: None)
    return trainer


def test_augmented_training_changes_the_weights_and_is_reproducible(digits):
    plain = weights_sha256(trained(SMALL, digits).network.params)
    flipped = [weights_sha256(trained(SMALL.replace(flip_images=True), digits).network.params) for _ in range(2)]
    shifted = weights_sha256(trained(SMALL.replace(shift_pixels=1), digits).network.params)
    assert flipped[0] == flipped[1]
    assert len({plain, flipped[0], shifted}) == 3


def test_evaluation_sees_the_images_unchanged(digits):
    trainer = trained(SMALL.replace(flip_images=True, shift_pixels=2), digits)
    W1, b1, W2, b2 = (p.numpy() for p in trainer.network.params)
    X = digits.test.X.numpy()
    by_hand = np.maximum(X @ W1 + b1, 0) @ W2 + b2  # (n, 64) -> (n, 32) -> (n, 10) logits
    np.testing.assert_allclose(logits_in_blocks(trainer.forward, digits.test.X), by_hand, rtol=1e-4, atol=1e-4)
    _, accuracy = loss_and_accuracy(trainer.forward, digits.test, trainer.config)
    assert accuracy == np.mean(np.argmax(by_hand, 1) == digits.test.labels)


def test_augmentation_has_a_random_stream_of_its_own():
    """Its draws come from (seed + STREAM * 2^32, step), not from the (seed, step) that the
    initial weights (seed, layer) and the shuffles (seed, epoch) also use."""
    images = random_images(200, (8, 8))
    out = augment(tf.constant(images), (8, 8), 1, True, tf.constant([0, 1], tf.int64)).numpy()

    def by_hand(seed):  # each image mirrored if its third draw is < 1/2, then moved by the first two
        draws = tf.random.stateless_uniform([200, 3], seed=tf.constant(seed, tf.int64), alg="philox").numpy()
        moves = np.floor(draws[:, :2] * 3).astype(int) - 1  # (200, 2) in [-1, 1]
        return np.stack([
            moved(x.reshape(8, 8)[:, ::-1] if d[2] < 0.5 else x.reshape(8, 8), dy, dx, False).ravel()
            for x, d, (dy, dx) in zip(images, draws, moves)
        ])

    np.testing.assert_array_equal(out, by_hand([STREAM << 32, 1]))
    assert not np.array_equal(out, by_hand([0, 1]))


def test_augmentation_needs_the_image_shape(digits):
    with pytest.raises(SimplennError, match=r"needs the images' \(height, width\)"):
        Trainer(SMALL.replace(flip_images=True), digits.train.size)
    with pytest.raises(SimplennError, match="image_shape 7x7 has 49 pixels but the first layer takes 64"):
        Trainer(SMALL.replace(shift_pixels=1), digits.train.size, (7, 7))


def test_a_bad_shift_leaves_no_run_directory(tmp_path, digits):
    with pytest.raises(SimplennError, match="use at most 2"):
        train_and_evaluate(SMALL.replace(shift_pixels=3), run_dir=tmp_path / "run", data=digits)
    assert not (tmp_path / "run").exists()
