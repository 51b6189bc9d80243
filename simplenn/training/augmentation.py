"""Data augmentation: fresh variants of the training images at every step.

Each image of a batch can be moved by up to `max_shift` pixels up, down, left or right,
with background (0) moved in at the edges, and mirrored left to right. Both are
permutations of rows or columns, so they are written as 0/1 matrices and applied with
one batched matmul per side:

    moved[b] = R[b] @ image[b] @ C[b]      (H, H) @ (H, W) @ (W, W) -> (H, W)

`R[b, i, k] = 1` when output row i comes from input row k = i - dy[b]; `C[b, k, j] = 1`
when output column j comes from input column k (j - dx[b], mirrored if flipped).
The draws are stateless and keyed by (seed, step), as the dropout masks are, so step k
sees the same images whether or not the run was interrupted before it. Evaluation
never augments: only training steps call `augment`.
"""

from __future__ import annotations

from simplenn.machine.quiet_tensorflow import tf

from simplenn.config import Config
from simplenn.errors import SimplennError

# Augmentation draws from (seed + STREAM * 2^32, step): a stream apart from the initial
# weights' (seed, l), the shuffles' (seed, epoch) and dropout's (seed + l * 2^32, step).
STREAM = 1 << 20


def largest_shift(image_shape: tuple[int, int]) -> int:
    """The largest move allowed: a quarter of the image's smaller side (7 pixels on 28x28)."""
    return min(image_shape) // 4


def check_augmentation(config: Config, image_shape: tuple[int, int] | None) -> None:
    """`SimplennError` unless `config`'s augmentation fits images of `image_shape` (H, W)."""
    if image_shape is None:
        raise SimplennError(
            "augmentation (--flip-images, --shift-pixels) needs the images' (height, width); "
            "pass it to Trainer as image_shape, e.g. PreparedData.image_shape"
        )
    height, width = image_shape
    if height * width != config.layers[0]:
        raise SimplennError(
            f"image_shape {height}x{width} has {height * width} pixels but the first layer takes "
            f"{config.layers[0]} inputs; pass the images' (height, width)"
        )
    if config.shift_pixels > largest_shift(image_shape):
        raise SimplennError(
            f"--shift-pixels {config.shift_pixels} moves {config.dataset}'s {height}x{width} images by "
            f"more than a quarter of their size; use at most {largest_shift(image_shape)}"
        )


def augment(X, image_shape: tuple[int, int], max_shift: int, flip: bool, seed):
    """Moved and mirrored copies of the flattened images `X (B, H * W)`, shaped like `X`.

    image_shape: (H, W). max_shift: the largest move in pixels along each axis.
    flip: mirror each image left to right with probability 1/2.
    seed: (2,) int, the step's (seed, step); the draws come from its own stream, `STREAM`.
    """
    if max_shift == 0 and not flip:
        return X
    H, W = image_shape
    B = tf.shape(X)[0]
    images = tf.reshape(X, [B, H, W])
    # One uniform draw per image and decision: (B, 3) in [0, 1) -> dy, dx, mirror.
    stream_seed = tf.cast(seed, tf.int64) + tf.constant([STREAM << 32, 0], tf.int64)
    draws = tf.random.stateless_uniform([B, 3], seed=stream_seed, alg="philox")
    moves = tf.cast(tf.floor(draws[:, :2] * (2 * max_shift + 1)), tf.int32) - max_shift  # (B, 2) in [-s, s]
    dy, dx = moves[:, 0], moves[:, 1]
    rows, columns = tf.range(H), tf.range(W)
    source_row = rows[None, :] - dy[:, None]  # (B, H): output row i reads input row i - dy
    source_column = columns[None, :] - dx[:, None]  # (B, W): output column j reads j - dx
    if flip:
        mirrored = draws[:, 2] < 0.5  # (B,)
        source_column = tf.where(mirrored[:, None], W - 1 - source_column, source_column)
    # A source outside the image matches no row or column: the output pixel stays 0.
    R = tf.cast(source_row[:, :, None] == rows[None, None, :], X.dtype)  # (B, H, H): R[b, i, k]
    C = tf.cast(columns[None, :, None] == source_column[:, None, :], X.dtype)  # (B, W, W): C[b, k, j]
    moved = tf.matmul(tf.matmul(R, images), C)  # (B, H, H) @ (B, H, W) @ (B, W, W) -> (B, H, W)
    return tf.reshape(moved, [B, H * W])
