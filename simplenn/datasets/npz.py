"""Read NumPy arrays (`.npz`, `.npy`) without ever unpickling.

    read_npz("data.npz")        # x_train, y_train, x_test, y_test (+ optional class_names)
    read_npy_folder("arrays/")  # the same four arrays as x_train.npy, y_train.npy, ...
    read_npy("images.npy")      # one array of images, to predict on

Images may be uint8 or float, `(n, height, width)` or `(n, features)`; labels any
integer type, class indices 0..K-1. An `.npz` is a zip of `.npy` members. Each array's
header is read with NumPy's own `np.lib.format` readers and checked (dtype, shape, size
against the bytes stored) before any array is allocated, and a dtype that holds Python
objects is refused, so no pickle in the file can run.
"""

from __future__ import annotations

import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

from simplenn.datasets.dataset import Dataset, as_images, count_classes
from simplenn.datasets.idx import MAX_PAYLOAD_BYTES
from simplenn.datasets.validation import DatasetError, check_splits
from simplenn.machine.file_safety import check_input
from simplenn.machine.memory import MemoryLimit, images_bytes

KEYS = ("x_train", "y_train", "x_test", "y_test")
CLASS_NAMES = "class_names"  # optional: an array of strings, one per class


def read_npz(path: Path, memory_limit: MemoryLimit | None = None) -> Dataset:
    """The `Dataset` in the archive at `path`; `DatasetError` naming what is wrong.

    memory_limit: images whose declared size would not fit it once prepared for training
    are refused before they are decompressed (default: half the available memory).
    """
    memory_limit = memory_limit or MemoryLimit.of(None)
    check_input(path)  # a FIFO would block the read
    try:
        with zipfile.ZipFile(path) as archive:
            members = {name.removesuffix(".npy"): name for name in archive.namelist()}
            missing = [key for key in KEYS if key not in members]
            if missing:
                raise DatasetError(
                    f"{path}: expected arrays {', '.join(KEYS)}, found {', '.join(sorted(members)) or 'none'} "
                    f"(missing {', '.join(missing)}); save it with np.savez(path, x_train=..., y_train=..., "
                    "x_test=..., y_test=...)"
                )
            arrays = {}
            for key in KEYS + (CLASS_NAMES,) if CLASS_NAMES in members else KEYS:
                with archive.open(members[key]) as stream:
                    stored = archive.getinfo(members[key]).file_size
                    arrays[key] = _read_array(stream, stored, key, f"{path} [{members[key]}]", memory_limit)
    # RuntimeError covers an encrypted member and (as NotImplementedError) an unknown compression.
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, RuntimeError) as error:
        raise DatasetError(
            f"{path}: expected a .npz (zip) archive, found a damaged or different file ({error}); "
            "download or save it again"
        ) from None
    except OSError as error:
        raise DatasetError(f"{path}: cannot read the file ({error.strerror or error})") from None
    return _dataset(arrays, str(path))


def read_npy_folder(folder: Path) -> Dataset:
    """The `Dataset` in `folder/x_train.npy`, `y_train.npy`, `x_test.npy`, `y_test.npy` (and `class_names.npy`)."""
    arrays = {}
    for key in KEYS + (CLASS_NAMES,):
        path = folder / f"{key}.npy"
        if key == CLASS_NAMES and not path.is_file():
            continue
        arrays[key] = _read_npy_file(path, key)
    return _dataset(arrays, str(folder))


def read_npy(path: Path) -> np.ndarray:
    """One `.npy` of images `(n, height, width)` or `(n, features)`, as pixels 0-255: something to predict on."""
    return as_images(_read_npy_file(path, "x"), str(path))


def _read_npy_file(path: Path, key: str) -> np.ndarray:
    if path.exists():
        check_input(path)  # a FIFO would block the read
    try:
        with open(path, "rb") as stream:
            return _read_array(stream, path.stat().st_size, key, str(path))
    except FileNotFoundError:
        raise DatasetError(
            f"{path}: expected this file next to the other arrays ({', '.join(k + '.npy' for k in KEYS)}); "
            "save it with np.save"
        ) from None
    except OSError as error:
        raise DatasetError(f"{path}: cannot read the file ({error.strerror or error})") from None


def _dataset(arrays: dict[str, np.ndarray], source: str) -> Dataset:
    """A `Dataset` from the four arrays, and the class names when they were saved too."""
    train = (as_images(arrays["x_train"], f"{source} [x_train]"), arrays["y_train"])
    test = (as_images(arrays["x_test"], f"{source} [x_test]"), arrays["y_test"])
    check_splits(train[0], test[0], source)
    n_classes = count_classes(source, train[1], test[1])
    names = arrays.get(CLASS_NAMES)
    if names is None:
        names = [str(k) for k in range(n_classes)]
    elif names.ndim != 1 or len(names) < n_classes:
        raise DatasetError(
            f"{source} [{CLASS_NAMES}]: expected one name per class ({n_classes} or more), found shape {names.shape}"
        )
    return Dataset(train, test, list(names), source)


def _read_array(stream, stored_bytes: int, key: str, where: str, memory_limit: MemoryLimit | None = None) -> np.ndarray:
    """One `.npy` array from `stream` after checking its header; `stored_bytes` is the member's
    or file's length, `key` says what it should hold ("x_..." images, "y_..." labels, class names)."""
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    # NumPy tokenizes version 1 and 2 headers first: unbalanced brackets raise TokenError.
    except (ValueError, SyntaxError, TypeError, RecursionError, tokenize.TokenError) as error:
        raise DatasetError(f"{where}: expected a .npy array header, found a damaged one ({error})") from None
    if dtype.hasobject:
        raise DatasetError(
            f"{where}: expected numeric arrays, found Python objects ({dtype}), which would need "
            "unpickling; simplenn never unpickles data files, save plain uint8 or float arrays"
        )
    if key.startswith("x") and dtype.kind not in "uif":
        raise DatasetError(f"{where}: expected images of uint8 or float pixels, found {dtype}")
    if key.startswith("y") and dtype.kind not in "iu":
        raise DatasetError(f"{where}: expected integer labels (class indices 0, 1, ...), found {dtype}")
    if key == CLASS_NAMES and dtype.kind != "U":
        raise DatasetError(f"{where}: expected class names as strings, found {dtype}")
    n_bytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    stored_bytes -= stream.tell()
    if n_bytes != stored_bytes or n_bytes > MAX_PAYLOAD_BYTES or min(shape, default=0) < 0:
        raise DatasetError(
            f"{where}: the header declares {dtype} shaped {shape} ({n_bytes} bytes), "
            f"found {stored_bytes} bytes stored; the file is damaged, download or save it again"
        )
    if key.startswith("x"):  # the header's claim, before a byte of it is decompressed
        (memory_limit or MemoryLimit.of(None)).require(
            {"data": images_bytes(n_bytes // dtype.itemsize)}, f"{where} declares images shaped {shape}, which"
        )
    data = bytearray(stream.read(n_bytes))  # bytearray so the array is writable
    if len(data) != n_bytes or stream.read(1):  # reading to the end also checks a member's CRC
        raise DatasetError(
            f"{where}: expected {n_bytes} bytes of array data, found {len(data)} or more; "
            "the file is damaged, download or save it again"
        )
    array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")
    return np.ascontiguousarray(array.astype(dtype.newbyteorder("="), copy=False))
