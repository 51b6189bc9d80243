"""Where dataset files live, and the one way a file is written there.

The cache is Keras's: `$KERAS_HOME/datasets`, by default `~/.keras/datasets`, laid out as
Keras lays it out, so files either tool downloaded serve both. `SIMPLENN_DATA` names
another folder instead. Read-only system copies, such as those Debian's
`dataset-fashion-mnist` installs under `/usr/share/datasets/<name>`, are found as well.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from simplenn.datasets.catalogue import DataFile, DatasetSpec
from simplenn.datasets.validation import DatasetError
from simplenn.machine.file_safety import DiskFull, is_disk_full, user_path, write_atomically

SYSTEM_DATA_DIR = Path("/usr/share/datasets")


def cache_root() -> Path:
    """The folder downloads go to: `$SIMPLENN_DATA`, else Keras's `datasets` folder."""
    if override := os.environ.get("SIMPLENN_DATA"):
        return user_path(override, "SIMPLENN_DATA")
    keras_dir = user_path(os.environ.get("KERAS_HOME") or Path.home() / ".keras", "KERAS_HOME")
    # Keras moves to /tmp/.keras when its folder is read-only; follow it to find its files.
    if keras_dir.exists() and not os.access(keras_dir, os.W_OK):
        keras_dir = Path("/tmp/.keras")
    return keras_dir / "datasets"


def cached_path(data_file: DataFile) -> Path:
    """Where `data_file` is (or would be) in the cache."""
    return cache_root() / data_file.cache_path


def copies(spec: DatasetSpec, data_file: DataFile) -> list[Path]:
    """Every existing copy of `data_file`, unverified: the cache's first, then the system folder's."""
    candidates = (cached_path(data_file), SYSTEM_DATA_DIR / spec.name / data_file.name)
    return [candidate for candidate in candidates if candidate.is_file()]


def locate(spec: DatasetSpec, data_file: DataFile) -> Path | None:
    """The first existing copy of `data_file` (see `copies`); None if there is none."""
    return next(iter(copies(spec, data_file)), None)


def install_file(
    dest: Path, write: Callable[[BinaryIO], None], check: Callable[[Path], None], size: int | None = None
) -> Path:
    """Create `dest` so that it is never seen half-written or unchecked, and return it.

    `write` fills a temporary file next to `dest`; `check` gets its path and raises if
    the content is wrong; only then does it take the name `dest` (`write_atomically`).
    size: the bytes expected, for the message when the disk is full.
    """
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatasetError(
            f"{dest.parent}: cannot write there ({error.strerror or error}); "
            "set SIMPLENN_DATA to a folder you can write to"
        ) from None
    try:
        return write_atomically(dest, write, check)
    except OSError as error:
        if is_disk_full(error):
            raise DiskFull(dest, size, "free some space, or set SIMPLENN_DATA to a folder on another disk") from None
        raise DatasetError(
            f"{dest}: cannot write the file ({error.strerror or error}); free some space "
            "or set SIMPLENN_DATA to a folder you can write to"
        ) from None
