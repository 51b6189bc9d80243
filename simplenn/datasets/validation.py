"""What every loaded split must satisfy, and the error raised when data is wrong.

Checks are explicit `if`s, never `assert`, so they still hold under `python -O`.
"""

from __future__ import annotations

import numpy as np

from simplenn.errors import SimplennError

N_CLASSES = 10


class DatasetError(SimplennError):
    """A dataset file is missing, damaged or not what it claims, or cannot be fetched.

    Its message is one line: the file, what was expected, what was found, what to do.
    """


def check_examples(images: np.ndarray, labels: np.ndarray, source: str) -> None:
    """Check one split: `images` uint8 `(n, height, width)`, `labels` `(n,)` integers 0-9.

    `source` names where the arrays came from (a file or two) for the error message.
    """
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DatasetError(
            f"{source}: expected uint8 images shaped (n, height, width), "
            f"found {images.dtype} shaped {images.shape}; use MNIST-format data"
        )
    if labels.ndim != 1:
        raise DatasetError(f"{source}: expected labels shaped (n,), found shape {labels.shape}")
    if len(images) == 0:
        raise DatasetError(f"{source}: expected at least one image, found none; the split is empty")
    if 0 in images.shape[1:]:
        raise DatasetError(f"{source}: expected images of at least 1x1 pixel, found shape {images.shape}")
    if len(images) != len(labels):
        raise DatasetError(
            f"{source}: expected one label per image, found {len(images)} images and "
            f"{len(labels)} labels; the images and labels files do not belong together"
        )
    outside = (labels < 0) | (labels >= N_CLASSES)
    if outside.any():
        index = int(np.argmax(outside))
        raise DatasetError(
            f"{source}: expected labels 0-{N_CLASSES - 1}, found {labels[index]} at index {index}; "
            "simplenn trains 10-class datasets only"
        )


def check_splits(train_images: np.ndarray, test_images: np.ndarray, source: str) -> None:
    """The training and test images must have one size, or no network could read both."""
    if train_images.shape[1:] != test_images.shape[1:]:
        (h, w), (th, tw) = train_images.shape[1:], test_images.shape[1:]
        raise DatasetError(
            f"{source}: expected training and test images of one size, found {h}x{w} training images "
            f"and {th}x{tw} test images; the files do not belong to one dataset"
        )
