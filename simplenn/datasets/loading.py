"""Load a dataset as Keras's `load_data()` returns it, with its class names.

`load_dataset` gives a `Dataset`: it unpacks as `((x_train, y_train), (x_test, y_test))`,
images `(n, height, width)` with pixels 0-255 and labels `(n,)` class indices 0..K-1,
and carries `class_names`. `simplenn.training.data` turns it into the post's `X (n, 784)` and
one-hot `Y (n, K)`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simplenn.datasets.catalogue import CATALOGUE, DATASET_NAMES, DIGIT_NAMES, DIGITS, IDX_FILE_NAMES
from simplenn.datasets.csv import read_csv
from simplenn.datasets.dataset import Dataset, numbered_classes, split_off_test
from simplenn.datasets.digits import read_digits, stratified_split
from simplenn.datasets.download import DownloadOptions, Progress, show_progress
from simplenn.datasets.emnist import read_emnist
from simplenn.datasets.idx import read_idx
from simplenn.datasets.image_folder import class_folders, read_class_folders
from simplenn.datasets.manage import dataset_files
from simplenn.datasets.npz import read_npy, read_npy_folder, read_npz
from simplenn.datasets.validation import DatasetError, check_examples, check_splits
from simplenn.machine.file_safety import user_path
from simplenn.machine.memory import MemoryLimit

DEFAULT_TEST_SPLIT = 0.2
DEFAULT_IMAGE_SIZE = 28


def load_dataset(
    name_or_path: str,
    *,
    test_split: float = DEFAULT_TEST_SPLIT,
    image_size: int = DEFAULT_IMAGE_SIZE,
    options: DownloadOptions = DownloadOptions(),
    progress: Progress | None = show_progress,
    memory_limit: MemoryLimit | None = None,
    test_only: bool = False,
) -> Dataset:
    """The `Dataset` for a catalogue name or a path.

    Names: "digits" (scikit-learn's 8x8 digits, `(1347, 8, 8)` / `(450, 8, 8)`), "mnist",
    "fashion-mnist", "kmnist" (`(60000, 28, 28)` / `(10000, 28, 28)`), "emnist-letters",
    "emnist-balanced", "emnist-digits", found in the cache or Debian's folder, verified,
    and downloaded when missing. A path is one of:

    - a folder of the four IDX files (`train-images-idx3-ubyte[.gz]`, ...);
    - a `.npz` with `x_train, y_train, x_test, y_test`, or a folder of those as `.npy` files;
    - a CSV file (see `csv.py`), or a folder holding `*train.csv` and `*test.csv`
      (Kaggle's `mnist_train.csv` / `mnist_test.csv`, or `train.csv` / `test.csv`);
    - a folder of class folders of images, or `train/` and `test/` folders of them,
      resized to `image_size` x `image_size`.

    A path that holds no test split (one CSV, one folder of class folders) is split:
    `test_split` of its examples are held out, always the same ones. Files given by
    path are checked for structure but have no hashes to match.
    memory_limit: image files (IDX, npz, EMNIST) whose headers declare more than fits it
    are refused before they are read (default: half the available memory).
    test_only: only the test split is wanted (`evaluate`, `predict`): a catalogue dataset
    stored as IDX files skips verifying and reading its training files, and its train
    split is empty. Other forms are read whole, as the test split is inside them.
    """
    if name_or_path == DIGITS.name:
        return _load_digits()
    if name_or_path in CATALOGUE:
        spec = CATALOGUE[name_or_path]
        source, paths = dataset_files(spec, options=options, progress=progress, test_only=test_only)
        if None in paths:  # test_only, and the training files were left alone
            train, test = None, _read_idx_split(*paths[2:], memory_limit)
        elif source.format == "npz":
            train, test = read_npz(paths[0], memory_limit)
        elif source.format == "emnist-zip":
            train, test = read_emnist(paths[0], spec.name.removeprefix("emnist-"), memory_limit)
        else:
            train, test = _read_idx_files(paths, memory_limit)
        return Dataset(train, test, spec.class_names, str(paths[-1].parent))
    path = check_dataset_name(name_or_path)
    if path.is_file():
        if path.suffix.lower() == ".csv":
            return _csv_dataset(path, None, test_split, memory_limit)
        if path.suffix.lower() == ".npy":
            read_npy(path)  # a damaged file is reported as such first
            raise DatasetError(
                f"{path}: a .npy holds one array, images without labels: it can be predicted on "
                "(`simplenn predict RUN_DIR FILE`) but not trained on; save x_train, y_train, x_test, y_test "
                "with np.savez"
            )
        return read_npz(path, memory_limit)
    return _load_folder(path, test_split, image_size, memory_limit)


def check_dataset_name(name_or_path: str) -> Path | None:
    """None for a catalogue name, the path for a folder or file; else `DatasetError`. Reads nothing.

    What the CLI checks before TensorFlow loads, so that a misspelt name answers at once.
    """
    if name_or_path == DIGITS.name or name_or_path in CATALOGUE:
        return None
    path = user_path(name_or_path, "dataset")
    if path.is_dir() or path.is_file():
        return path
    raise DatasetError(
        f"{name_or_path!r}: expected a dataset name ({', '.join(DATASET_NAMES)}), a folder of IDX, CSV, "
        ".npy or image files, or a .npz or .csv file, found none of these; check the spelling or the path"
    )


def load_images(path: str | Path, image_size: int = DEFAULT_IMAGE_SIZE, n_pixels: int | None = None) -> np.ndarray:
    """Images to predict on, `(n, height, width)` pixels 0-255: a CSV (a label column, if any,
    is ignored), a `.npy`, or any other dataset path, whose test split is taken.

    n_pixels: the pixels per image the caller reads; a CSV of other rows is refused from its first row."""
    path = Path(path).expanduser()
    if path.is_file() and path.suffix.lower() == ".csv":
        return read_csv(path, n_pixels_read=n_pixels)[0]
    if path.is_file() and path.suffix.lower() == ".npy":
        return read_npy(path)
    (_, _), (images, _) = load_dataset(str(path), image_size=image_size)
    return images


def class_names(name: str) -> list[str]:
    """The class names of a catalogue dataset, e.g. "T-shirt/top"; "0".."9" otherwise.

    For runs recorded before a run's class names were stored with it (data.json).
    """
    spec = CATALOGUE.get(name)
    return list(spec.class_names if spec else DIGIT_NAMES)


def _load_folder(path: Path, test_split: float, image_size: int, memory_limit: MemoryLimit | None) -> Dataset:
    """A folder of IDX files, of .npy arrays, of CSV files, or of class folders of images."""
    names = {p.name for p in path.iterdir()}
    if any(stem in names or f"{stem}.gz" in names for stem in IDX_FILE_NAMES):
        return numbered_classes(
            str(path), *_read_idx_files([_find_idx_file(path, stem) for stem in IDX_FILE_NAMES], memory_limit)
        )
    if "x_train.npy" in names:
        return read_npy_folder(path)
    train_csv, test_csv = _one_file(path, "train.csv"), _one_file(path, "test.csv")
    if train_csv is not None:
        return _csv_dataset(train_csv, test_csv, test_split, memory_limit)
    if (path / "train").is_dir() and (path / "test").is_dir() and class_folders(path / "train"):
        x_train, y_train, names = read_class_folders(path / "train", image_size, memory_limit=memory_limit)
        x_test, y_test, _ = read_class_folders(path / "test", image_size, names, memory_limit)
        return Dataset((x_train, y_train), (x_test, y_test), names, str(path))
    if class_folders(path):
        images, labels, names = read_class_folders(path, image_size, memory_limit=memory_limit)
        return Dataset(*split_off_test(images, labels, test_split, str(path)), names, str(path))
    found = ", ".join(sorted(names)[:8]) or "nothing"
    raise DatasetError(
        f"{path}: expected the four MNIST-format files ({', '.join(IDX_FILE_NAMES)}, each may end in .gz), "
        f"x_train.npy and its fellows, a *train.csv, or one folder of images per class; found: {found}"
    )


def _one_file(folder: Path, ending: str) -> Path | None:
    """The one file in `folder` whose name ends with `ending` (e.g. mnist_train.csv), or None."""
    matches = sorted(p for p in folder.iterdir() if p.name.lower().endswith(ending) and p.is_file())
    if len(matches) > 1:
        raise DatasetError(
            f"{folder}: expected one *{ending} file, found {', '.join(p.name for p in matches)}; "
            "give the file itself as --dataset"
        )
    return matches[0] if matches else None


def _csv_dataset(train_path: Path, test_path: Path | None, test_split: float,
                 memory_limit: MemoryLimit | None) -> Dataset:
    """A `Dataset` from a CSV file split by `test_split`, or from a train and a test CSV."""
    images, labels = read_csv(train_path, memory_limit)
    if labels is None:
        raise DatasetError(
            f"{train_path}: expected a label column (headed 'label'), found pixels only: such a file can be "
            "predicted on (`simplenn predict RUN_DIR FILE`) but not trained on"
        )
    if test_path is None:
        return numbered_classes(str(train_path), *split_off_test(images, labels, test_split, str(train_path)))
    test_images, test_labels = read_csv(test_path, memory_limit)
    if test_labels is None:
        raise DatasetError(
            f"{test_path}: expected a label column (headed 'label'), found pixels only, so it cannot score a run "
            f"(Kaggle's competition test.csv is such a file); train on {train_path} alone, which "
            f"--test-split then splits, and predict on {test_path.name} with `simplenn predict`"
        )
    return numbered_classes(str(train_path.parent), (images, labels), (test_images, test_labels))


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


def _read_idx_files(paths: list[Path], memory_limit: MemoryLimit | None):
    """Both splits from four IDX files in `IDX_FILE_NAMES` order."""
    train_images, train_labels, test_images, test_labels = paths
    train = _read_idx_split(train_images, train_labels, memory_limit)
    test = _read_idx_split(test_images, test_labels, memory_limit)
    check_splits(train[0], test[0], f"{train_images} with {test_images}")
    return train, test


def _read_idx_split(images_path: Path, labels_path: Path, memory_limit: MemoryLimit | None):
    """One split from its IDX files: images (n, height, width) uint8, labels (n,) int64."""
    images, labels = read_idx(images_path, 3, memory_limit), read_idx(labels_path, 1)
    check_examples(images, labels, f"{images_path} with {labels_path}")
    return images, labels.astype(np.int64)


def _load_digits() -> Dataset:
    """scikit-learn's 1797 8x8 digits, split 75/25, stratified, always the same way."""
    ink, labels = read_digits()  # (1797, 8, 8) ink 0-16, (1797,)
    # Its pixels count ink from 0 to 16; rescale them to the 0-255 that every other
    # dataset has and that the post's unscaled inputs assume.
    images = np.round(ink * (255 / 16)).astype(np.uint8)  # (1797, 8, 8)
    train, test = stratified_split(labels, test_fraction=0.25, seed=0)
    return Dataset((images[train], labels[train]), (images[test], labels[test]), DIGIT_NAMES, DIGITS.name)

