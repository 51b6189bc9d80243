"""Load a dataset as Keras's `load_data()` returns it, and prepare it as the post does.

`load_dataset` gives `((x_train, y_train), (x_test, y_test))`: uint8 images
`(n, height, width)` with pixels 0-255 and uint8 labels `(n,)` with values 0-9.
`prepare` turns one split into the post's `X (n, 784)` and one-hot `Y (n, 10)`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simplenn.datasets.catalogue import CATALOGUE, DATASET_NAMES, DIGIT_NAMES, DIGITS, IDX_FILE_NAMES
from simplenn.datasets.download import DownloadOptions, Progress, show_progress
from simplenn.datasets.idx import read_idx
from simplenn.datasets.manage import dataset_files
from simplenn.datasets.npz import read_npz
from simplenn.datasets.validation import N_CLASSES, DatasetError, check_examples

Split = tuple[np.ndarray, np.ndarray]


def load_dataset(
    name_or_path: str,
    *,
    options: DownloadOptions = DownloadOptions(),
    progress: Progress | None = show_progress,
) -> tuple[Split, Split]:
    """`((x_train, y_train), (x_test, y_test))` for a catalogue name or a path.

    Names: "digits" (scikit-learn's 8x8 digits, `(1347, 8, 8)` / `(450, 8, 8)`), "mnist",
    "fashion-mnist", "kmnist" (`(60000, 28, 28)` / `(10000, 28, 28)`), found in the cache
    or Debian's folder, verified, and downloaded when missing. A path is a folder holding
    the four IDX files (`train-images-idx3-ubyte[.gz]`, ...) or a Keras-style `.npz`;
    files given by path are checked for structure but have no hashes to match.
    """
    if name_or_path == DIGITS.name:
        return _load_digits()
    if name_or_path in CATALOGUE:
        source, paths = dataset_files(CATALOGUE[name_or_path], options=options, progress=progress)
        return read_npz(paths[0]) if source.format == "npz" else _read_idx_files(paths)
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return _read_idx_files([_find_idx_file(path, stem) for stem in IDX_FILE_NAMES])
    if path.is_file():
        return read_npz(path)
    raise DatasetError(
        f"{name_or_path!r}: expected a dataset name ({', '.join(DATASET_NAMES)}), a folder of "
        "IDX files or a .npz file, found none of these; check the spelling or the path"
    )


def class_names(name_or_path: str) -> list[str]:
    """The 10 class names of a catalogue dataset, e.g. "T-shirt/top"; "0".."9" for a path."""
    spec = CATALOGUE.get(name_or_path)
    return list(spec.class_names if spec else DIGIT_NAMES)


def prepare(images: np.ndarray, labels: np.ndarray, *, scale: bool) -> tuple[np.ndarray, np.ndarray]:
    """The post's inputs and targets for one split.

    images uint8 (n, height, width), labels (n,) with values 0-9
    -> X float32 (n, height * width), Y float32 one-hot (n, 10).
    """
    X = prepare_images(images, scale=scale)
    Y = np.eye(N_CLASSES, dtype=np.float32)[labels]  # (n,) -> (n, 10)
    return X, Y


def prepare_images(images: np.ndarray, *, scale: bool) -> np.ndarray:
    """Pixels 0-255, (n, height, width) or already (n, height * width) -> X float32 (n, height * width)."""
    X = np.asarray(images).reshape(len(images), -1).astype(np.float32)  # (n, 28, 28) -> (n, 784)
    if scale:
        X /= 255.0  # the post feeds raw 0-255 pixels; scaling to 0-1 is simplenn's option
    return X


def _find_idx_file(folder: Path, stem: str) -> Path:
    """`folder/stem.gz` or `folder/stem`, whichever exists."""
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    found = ", ".join(sorted(p.name for p in folder.iterdir())[:8]) or "nothing"
    raise DatasetError(
        f"{folder}: expected the four MNIST-format files {', '.join(IDX_FILE_NAMES)} (each may end in .gz), "
        f"found no {stem}[.gz] among: {found}; rename the files or give the folder that holds them"
    )


def _read_idx_files(paths: list[Path]) -> tuple[Split, Split]:
    """Both splits from four IDX files in `IDX_FILE_NAMES` order."""
    train_images, train_labels, test_images, test_labels = paths
    splits = []
    for images_path, labels_path in ((train_images, train_labels), (test_images, test_labels)):
        images, labels = read_idx(images_path, ndim=3), read_idx(labels_path, ndim=1)
        check_examples(images, labels, f"{images_path} with {labels_path}")
        splits.append((images, labels))
    return splits[0], splits[1]


def _load_digits() -> tuple[Split, Split]:
    """scikit-learn's 1797 8x8 digits, split 75/25, stratified, always the same way."""
    # scikit-learn is slow to import and only this dataset needs it.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # Its pixels count ink from 0 to 16; rescale them to the 0-255 that every other
    # dataset has and that the post's unscaled inputs assume.
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)  # (1797, 8, 8)
    labels = digits.target.astype(np.uint8)  # (1797,)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=0.25, stratify=labels, random_state=0
    )
    return (x_train, y_train), (x_test, y_test)
