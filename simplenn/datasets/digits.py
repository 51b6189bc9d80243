"""scikit-learn's 8x8 digits, read from the file it ships and split as it would, without importing it.

    images, labels = read_digits()                                   # (1797, 8, 8) 0-16, (1797,)
    train, test = stratified_split(labels, test_fraction=0.25, seed=0)   # row indices

Importing scikit-learn takes most of a second (it brings SciPy's statistics), longer than a
digits run's thirty epochs. `load_digits` is a CSV in the package and `train_test_split(...,
stratify=labels, random_state=0)` a few draws from NumPy's `RandomState`, so both are done
here the same way, draw for draw: the same rows in the same order (a test compares them
with scikit-learn's own), hence the same weights.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import math
import zlib
from pathlib import Path

import numpy as np

from simplenn.datasets.validation import DatasetError

DIGITS_FILE = ("datasets", "data", "digits.csv.gz")  # inside the scikit-learn package
DIGITS_ROWS, DIGITS_PIXELS = 1797, 64
# The file is 57 KB of gzip holding 265 KB of text; anything far larger is not that file,
# and is refused before it is read (compressed) or while it is (uncompressed).
MAX_COMPRESSED_BYTES, MAX_TEXT_CHARACTERS = 1 << 20, 4 << 20


def digits_file() -> Path:
    """The digits file in the installed scikit-learn, found without importing it."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("the digits dataset comes with scikit-learn, which is not installed; "
                           "pip install scikit-learn")
    return Path(next(iter(spec.submodule_search_locations)), *DIGITS_FILE)


def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """(images (1797, 8, 8) float64 of ink 0-16, labels (1797,) int64), as `load_digits` gives them."""
    path = digits_file()
    if not path.is_file():
        raise DatasetError(f"{path}: scikit-learn's digits file is missing; reinstall scikit-learn")
    if path.stat().st_size > MAX_COMPRESSED_BYTES:
        raise DatasetError(f"{path}: {path.stat().st_size:,} bytes is not scikit-learn's digits file "
                           f"(57 KB); reinstall scikit-learn")
    try:
        with gzip.open(path, mode="rt", encoding="utf-8") as file:
            text = file.read(MAX_TEXT_CHARACTERS + 1)
        if len(text) > MAX_TEXT_CHARACTERS:
            raise ValueError(f"more than {MAX_TEXT_CHARACTERS:,} characters")
        table = np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2)  # (1797, 65): 64 pixels, then the digit
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError) as error:
        raise DatasetError(f"{path}: cannot read scikit-learn's digits file ({error}); reinstall scikit-learn") from None
    if table.shape != (DIGITS_ROWS, DIGITS_PIXELS + 1):
        raise DatasetError(f"{path}: expected {DIGITS_ROWS} rows of {DIGITS_PIXELS} pixels and a label, "
                           f"found shape {table.shape}; reinstall scikit-learn")
    return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row indices: each class held out in proportion, as scikit-learn's
    `train_test_split(..., test_size=test_fraction, stratify=labels, random_state=seed)` does.

    The test set takes ceil(test_fraction n) rows, the training set the rest. Each class
    gets its share of both (`_shares`); its rows are shuffled and dealt out in that order,
    then each set is shuffled as a whole.
    """
    n = len(labels)
    n_test = math.ceil(test_fraction * n)
    n_train = n - n_test
    _, class_of_row, class_counts = np.unique(labels, return_inverse=True, return_counts=True)
    rows_of_class = np.split(np.argsort(class_of_row, kind="stable"), np.cumsum(class_counts)[:-1])
    rng = np.random.RandomState(seed)
    train_shares = _shares(class_counts, n_train, rng)
    test_shares = _shares(class_counts - train_shares, n_test, rng)
    train, test = [], []
    for rows, n_train_i, n_test_i in zip(rows_of_class, train_shares, test_shares):
        shuffled = rows.take(rng.permutation(len(rows)), mode="clip")
        train.extend(shuffled[:n_train_i])
        test.extend(shuffled[n_train_i : n_train_i + n_test_i])
    return rng.permutation(train), rng.permutation(test)


def _shares(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """Rows to draw from each class, `n_draws` in all, as near its proportion as whole rows allow.

    Every class gets the floor of its proportional share; the rows left over go to the
    classes with the largest fractional parts, ties broken by a draw from `rng`.
    """
    exact = class_counts / class_counts.sum() * n_draws
    shares = np.floor(exact)
    missing = int(n_draws - shares.sum())
    if missing > 0:
        fraction = exact - shares
        for value in np.sort(np.unique(fraction))[::-1]:  # largest fractional part first
            (tied,) = np.where(fraction == value)
            taken = min(len(tied), missing)
            shares[rng.choice(tied, size=taken, replace=False)] += 1
            missing -= taken
            if missing == 0:
                break
    return shares.astype(int)
