"""The data a run trains on: load, check, scale, split.

    data = prepare_data(config)          # load -> check -> scale -> split
    data.train.X  (n, 784) float32       # the post's X, flattened; /255 with scale_inputs
    data.train.Y  (n, K)   float32       # one-hot, the post's y_one_hot; K = 10 for MNIST
    data.train.labels (n,) integers      # for scikit-learn's metrics
    data.class_names                     # K names, from the dataset

`simplenn.datasets` finds, verifies and reads the files (`load_dataset`); this module
turns what it returns into the tensors training, diagnosis and benchmarks use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from simplenn.machine.quiet_tensorflow import tf

from simplenn.config import Config
from simplenn.datasets import DatasetError, load_dataset
from simplenn.machine.memory import MemoryLimit, run_needs


@dataclass
class Split:
    """One part of a prepared dataset: `X (n, features)` float32, one-hot `Y (n, K)`."""

    X: tf.Tensor
    Y: tf.Tensor
    labels: np.ndarray  # (n,) integer classes, for scikit-learn's metrics

    @property
    def size(self) -> int:
        return int(self.labels.shape[0])

    def first(self, n: int) -> "Split":
        """The first `n` rows."""
        return Split(self.X[:n], self.Y[:n], self.labels[:n])


@dataclass
class PreparedData:
    """A dataset prepared as the config asks: flattened, maybe scaled, one-hot."""

    train: Split
    validation: Split | None
    test: Split
    image_shape: tuple[int, int]  # (height, width) of the images before flattening
    class_names: tuple[str, ...]  # one per output, from the dataset

    @property
    def n_features(self) -> int:
        return int(self.train.X.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def prepare(images: np.ndarray, labels: np.ndarray, n_classes: int, *, scale: bool) -> tuple[np.ndarray, np.ndarray]:
    """The post's inputs and targets for one split.

    images (n, height, width) pixels 0-255, labels (n,) class indices 0..K-1, K = n_classes
    -> X float32 (n, height * width), Y float32 one-hot (n, K).
    """
    X = prepare_images(images, scale=scale)
    Y = np.eye(n_classes, dtype=np.float32)[labels]  # (n,) -> (n, K)
    return X, Y


def prepare_images(images: np.ndarray, *, scale: bool) -> np.ndarray:
    """Pixels 0-255, (n, height, width) or already (n, height * width) -> X float32 (n, height * width)."""
    X = np.asarray(images).reshape(len(images), -1).astype(np.float32)  # (n, 28, 28) -> (n, 784)
    if scale:
        X /= 255.0  # the post feeds raw 0-255 pixels; scaling to 0-1 is simplenn's option
    return X


def make_split(X: np.ndarray, Y: np.ndarray) -> Split:
    return Split(tf.constant(X), tf.constant(Y), np.argmax(Y, axis=1))


def split_validation(X: np.ndarray, Y: np.ndarray, fraction: float, seed: int) -> tuple[Split, Split]:
    """Hold out `fraction` of the rows, chosen by a seeded permutation: (train, validation)."""
    order = np.random.default_rng(seed).permutation(len(X))
    n_validation = int(round(fraction * len(X)))
    if not 0 < n_validation < len(X):
        side = "validation" if n_validation == 0 else "training"
        raise DatasetError(
            f"--validation-split {fraction:g} of {len(X):,} training images leaves no {side} images; "
            f"give a fraction between {1 / len(X):.2g} and {1 - 1 / len(X):.4g}" if len(X) > 1 else
            f"--validation-split needs at least 2 training images, found {len(X)}; drop --validation-split"
        )
    held, kept = np.sort(order[:n_validation]), np.sort(order[n_validation:])
    return make_split(X[kept], Y[kept]), make_split(X[held], Y[held])


def training_splits(X: np.ndarray, Y: np.ndarray, config: Config) -> tuple[Split, Split | None]:
    """(train, validation): `config.validation_split` of the rows held out, or no validation split."""
    if config.validation_split:
        return split_validation(X, Y, config.validation_split, config.seed)
    return make_split(X, Y), None


def prepare_data(config: Config, memory_limit: MemoryLimit | None = None) -> PreparedData:
    """Load `config.dataset` and prepare it as the post does (scaling if configured).

    memory_limit: what the run may need (default: half the available memory); data,
    network and activations are estimated once the images are read, before they are
    converted, and `SimplennError` names the estimate and the limit when it is exceeded.
    """
    memory_limit = memory_limit or MemoryLimit.of(None)
    dataset = load_dataset(config.dataset, test_split=config.test_split, image_size=config.image_size,
                           memory_limit=memory_limit)
    (x_train, y_train), (x_test, y_test) = dataset
    K = len(dataset.class_names)
    # The layers as `fit_to_data` will make them: the input and output sizes come from the data.
    layers = (int(np.prod(x_train.shape[1:])), *config.layers[1:-1], K)
    needs = run_needs(layers, x_train.shape[1:], len(x_train), len(x_test), config.batch_size)
    memory_limit.require(needs, f"training layers {','.join(map(str, layers))} on {config.dataset}")
    X_train, Y_train = prepare(x_train, y_train, K, scale=config.scale_inputs)  # (n, 784), (n, K)
    X_test, Y_test = prepare(x_test, y_test, K, scale=config.scale_inputs)
    train, validation = training_splits(X_train, Y_train, config)
    height, width = x_train.shape[1:]
    return PreparedData(train, validation, make_split(X_test, Y_test), (height, width), dataset.class_names)
