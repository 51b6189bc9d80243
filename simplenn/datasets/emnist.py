"""EMNIST (Cohen et al., 2017): NIST's handwritten letters and digits in MNIST's format.

NIST publishes every split in one archive, `gzip.zip` (562 MB), as four gzipped IDX
files per split under `gzip/`: `gzip/emnist-letters-train-images-idx3-ubyte.gz`, ...
The members are read straight from the archive, one at a time, without unpacking it.
Two things differ from MNIST and are undone here (torchvision's and TensorFlow
Datasets' loaders leave both as stored): each image is stored transposed, so it would
show mirrored and turned, and the letters split numbers its 26 classes from 1, not 0.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from simplenn.datasets.catalogue import IDX_FILE_NAMES
from simplenn.datasets.idx import read_gzipped_idx
from simplenn.machine.memory import MemoryLimit
from simplenn.datasets.validation import DatasetError

FIRST_LABEL = {"letters": 1}  # the splits whose classes are numbered from 1


def member_names(split: str) -> list[str]:
    """The split's four members in `IDX_FILE_NAMES` order, e.g. gzip/emnist-digits-train-images-idx3-ubyte.gz."""
    return [f"gzip/emnist-{split}-{stem.replace('t10k', 'test')}.gz" for stem in IDX_FILE_NAMES]


def read_emnist(path: Path, split: str, memory_limit: MemoryLimit | None = None):
    """`((x_train, y_train), (x_test, y_test))` of `split` ("letters", "balanced", "digits") from NIST's zip."""
    arrays = []
    try:
        with zipfile.ZipFile(path) as archive:
            found = set(archive.namelist())
            for member, ndim in zip(member_names(split), (3, 1, 3, 1)):
                if member not in found:
                    raise DatasetError(f"{path}: expected EMNIST's member {member}, found no such file in the archive")
                with archive.open(member) as stream:
                    arrays.append(read_gzipped_idx(stream, f"{path} [{member}]", ndim, memory_limit))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, RuntimeError) as error:
        raise DatasetError(f"{path}: expected EMNIST's zip archive, found a damaged one ({error}); download it again") from None
    except OSError as error:
        raise DatasetError(f"{path}: cannot read the file ({error.strerror or error})") from None
    x_train, y_train, x_test, y_test = arrays
    first = FIRST_LABEL.get(split, 0)
    # (n, w, h) -> (n, h, w): EMNIST stores each image transposed
    return ((np.ascontiguousarray(x_train.transpose(0, 2, 1)), y_train.astype(np.int64) - first),
            (np.ascontiguousarray(x_test.transpose(0, 2, 1)), y_test.astype(np.int64) - first))
