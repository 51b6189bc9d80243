"""What every loaded split must satisfy, and the error raised when data is wrong.

Checks are explicit `if`s, never `assert`, so they still hold under `python -O`.
"""

from __future__ import annotations

import numpy as np

from simplenn.errors import SimplennError

# Labels are class indices 0..K-1, 2 <= K <= 999, as the README says. A label of 999 or
# more is a column mix-up (pixels read as labels), not a class: nobody trains this MLP on that many.
MAX_CLASSES = 999


class DatasetError(SimplennError):
    """A dataset file is missing, damaged or not what it claims, or cannot be fetched.

    Its message is one line: the file, what was expected, what was found, what to do.
    """


def check_examples(images: np.ndarray, labels: np.ndarray, source: str, n_classes: int | None = None) -> None:
    """Check one split: `images` `(n, height, width)` of pixels 0-255 (uint8, or float32 for
    data given as floats), `labels` `(n,)` class indices 0..n_classes-1.

    `source` names where the arrays came from (a file or two) for the error message;
    `n_classes` None allows any class index below `MAX_CLASSES`.
    """
    if images.ndim != 3 or images.dtype not in (np.uint8, np.float32):
        raise DatasetError(
            f"{source}: expected images shaped (n, height, width) of pixels 0-255, "
            f"found {images.dtype} shaped {images.shape}; use MNIST-format data"
        )
    if labels.ndim != 1:
        raise DatasetError(f"{source}: expected labels shaped (n,), found shape {labels.shape}")
    if len(images) == 0:
        raise DatasetError(f"{source}: expected at least one image, found none; the split is empty")
    if 0 in images.shape[1:]:
        raise DatasetError(f"{source}: expected images of at least 1x1 pixel, found shape {images.shape}")
    if labels.dtype.kind not in "iu":
        raise DatasetError(f"{source}: expected integer labels (class indices 0, 1, ...), found {labels.dtype}")
    if len(images) != len(labels):
        raise DatasetError(
            f"{source}: expected one label per image, found {len(images)} images and "
            f"{len(labels)} labels; the images and labels files do not belong together"
        )
    _check_labels(labels, source, n_classes)


def _check_labels(labels: np.ndarray, source: str, n_classes: int | None = None) -> None:
    limit = n_classes or MAX_CLASSES
    outside = (labels < 0) | (labels >= limit)
    if outside.any():
        index = int(np.argmax(outside))
        why = f"this dataset has {limit} classes" if n_classes else "labels are class indices 0, 1, ..."
        raise DatasetError(
            f"{source}: expected labels 0-{limit - 1}, found {labels[index]} at index {index}; {why}"
        )


def check_splits(train_images: np.ndarray, test_images: np.ndarray, source: str) -> None:
    """The training and test images must have one size, or no network could read both."""
    if train_images.shape[1:] != test_images.shape[1:]:
        (h, w), (th, tw) = train_images.shape[1:], test_images.shape[1:]
        raise DatasetError(
            f"{source}: expected training and test images of one size, found {h}x{w} training images "
            f"and {th}x{tw} test images; the files do not belong to one dataset"
        )


def count_classes(source: str, *label_arrays: np.ndarray) -> int:
    """K for labels that are class indices 0..K-1: the largest label plus one, at least 2."""
    for labels in label_arrays:
        if labels.dtype.kind not in "iu":
            raise DatasetError(f"{source}: expected integer labels (class indices 0, 1, ...), found {labels.dtype}")
        _check_labels(labels, source)
    n_classes = 1 + max((int(labels.max()) for labels in label_arrays if labels.size), default=0)
    if n_classes < 2:
        raise DatasetError(f"{source}: expected at least 2 classes, found labels of 1 class only; "
                           "a classifier needs examples of two classes or more")
    return n_classes
