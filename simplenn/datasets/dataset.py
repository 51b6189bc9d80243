"""What every reader returns: Keras's pair of splits, with the class names riding along.

    dataset = load_dataset("emnist-letters")
    (x_train, y_train), (x_test, y_test) = dataset     # unpacks as Keras's load_data()
    dataset.class_names                                # ("A", "B", ..., "Z")
    dataset.image_shape                                # (28, 28)

Images are `(n, height, width)` pixels 0-255, uint8 (float32 when the data came as
floats); labels `(n,)` are class indices 0..K-1 with K = len(class_names).
"""

from __future__ import annotations

import warnings

import numpy as np

from simplenn.errors import SimplennWarning
from simplenn.datasets.validation import MAX_CLASSES, DatasetError, check_examples, check_splits, count_classes

ImagesAndLabels = tuple[np.ndarray, np.ndarray]  # (n, height, width), (n,)


class Dataset(tuple):
    """`((x_train, y_train), (x_test, y_test))` with `class_names`; a tuple, so code written
    for Keras's loaders unpacks it unchanged (as `os.stat_result` carries more than it unpacks).
    """

    class_names: tuple[str, ...]

    def __new__(cls, train: ImagesAndLabels | None, test: ImagesAndLabels | None, class_names, source: str) -> "Dataset":
        """Check both splits against each other and against `class_names` (names `source` in errors).

        train None: only the test split was read (`load_dataset(..., test_only=True)`); the
        train split is empty, images of the test split's shape. test None: every example
        trains (`--test-split 0`); the test split is empty, images of the train split's shape.
        """
        class_names = tuple(str(name) for name in class_names)
        if not 2 <= len(class_names) <= MAX_CLASSES:
            raise DatasetError(f"{source}: expected 2 to {MAX_CLASSES} classes, found {len(class_names):,} class names")
        if test is None:
            check_examples(*train, f"{source} [train]", len(class_names))
            test = (train[0][:0], train[1][:0])  # (0, height, width), (0,)
            as_int64 = lambda split: (split[0], split[1].astype(np.int64, copy=False))  # noqa: E731
            dataset = super().__new__(cls, (as_int64(train), as_int64(test)))
            dataset.class_names = class_names
            return dataset
        check_examples(*test, f"{source} [test]", len(class_names))
        if train is None:
            train = (test[0][:0], test[1][:0])  # (0, height, width), (0,)
        else:
            check_examples(*train, f"{source} [train]", len(class_names))
            check_splits(train[0], test[0], source)
        as_int64 = lambda split: (split[0], split[1].astype(np.int64, copy=False))  # noqa: E731
        dataset = super().__new__(cls, (as_int64(train), as_int64(test)))
        dataset.class_names = class_names
        return dataset

    @property
    def train(self) -> ImagesAndLabels:
        return self[0]

    @property
    def test(self) -> ImagesAndLabels:
        return self[1]

    @property
    def image_shape(self) -> tuple[int, int]:
        return tuple(self[0][0].shape[1:])


def numbered_classes(source: str, train: ImagesAndLabels, test: ImagesAndLabels | None) -> Dataset:
    """A `Dataset` whose classes are named by their indices "0".."K-1", K from the labels."""
    n_classes = count_classes(source, train[1], *([] if test is None else [test[1]]))
    return Dataset(train, test, [str(k) for k in range(n_classes)], source)


def split_off_test(images: np.ndarray, labels: np.ndarray, fraction: float,
                   source: str) -> tuple[ImagesAndLabels, ImagesAndLabels | None]:
    """(train, test): `fraction` of the rows held out by a permutation seeded with 0; test
    None for `fraction` 0, which the user asks for to train on every example.

    The seed is fixed, not the run's: runs with different seeds score on the same test images.
    """
    if fraction == 0:
        return (images, labels), None
    n_test = int(round(fraction * len(images)))
    if not 0 < n_test < len(images):
        raise DatasetError(
            f"{source}: a test split of {fraction:g} of {len(images)} examples leaves "
            f"{n_test} for testing; give more examples, a --test-split in (0, 1), or --test-split 0 "
            "to train on every example without a test score"
        )
    order = np.random.default_rng(0).permutation(len(images))
    held, kept = np.sort(order[:n_test]), np.sort(order[n_test:])
    return (images[kept], labels[kept]), (images[held], labels[held])


def as_images(array: np.ndarray, source: str) -> np.ndarray:
    """Pixels as `(n, height, width)` 0-255: `(n, features)` rows become square images when
    `features` is a square, else `(n, 1, features)`; floats in 0-1 are taken as fractions
    of full intensity and scaled to 0-255, so that `--scale-inputs` means the same for all."""
    if array.ndim == 2:
        side = int(np.sqrt(array.shape[1]))
        array = array.reshape(len(array), side, side) if side * side == array.shape[1] else array[:, None, :]
    if array.ndim != 3:
        raise DatasetError(f"{source}: expected images shaped (n, height, width) or (n, features), found {array.shape}")
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind in "iu":
        if array.size and (array.min() < 0 or array.max() > 255):
            raise DatasetError(f"{source}: expected pixels 0-255, found values from {array.min()} to {array.max()}")
        return array.astype(np.uint8)
    if array.dtype.kind != "f":
        raise DatasetError(f"{source}: expected uint8 or float pixels, found {array.dtype}")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise DatasetError(f"{source}: expected finite pixel values, found NaN or infinity")
    low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    if low < 0 or high > 255:
        raise DatasetError(f"{source}: expected pixels in 0-255 (or 0-1), found values from {low:g} to {high:g}")
    if high <= 1.0:
        # The one named conversion of inputs (README, "What a run reads"), and it says so.
        warnings.warn(f"{source}: float pixels all within 0-1 were read as fractions of full intensity and "
                      "multiplied by 255", SimplennWarning, stacklevel=2)
        array *= 255.0  # fractions 0-1 -> 0-255
    return array
