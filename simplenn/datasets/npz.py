"""Read a Keras-style `.npz` (`x_train, y_train, x_test, y_test`) without ever unpickling.

An `.npz` is a zip of `.npy` members. Each member's header is read with NumPy's own
`np.lib.format` readers and checked (dtype, shape, size against the member's length)
before any array is allocated, and a dtype that holds Python objects is refused, so no
pickle in the file can run.
"""

from __future__ import annotations

import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

from simplenn.datasets.idx import MAX_PAYLOAD_BYTES
from simplenn.datasets.validation import DatasetError, check_examples, check_splits
from simplenn.memory import MemoryLimit, images_bytes

KEYS = ("x_train", "y_train", "x_test", "y_test")
Split = tuple[np.ndarray, np.ndarray]


def read_npz(path: Path, memory_limit: MemoryLimit | None = None) -> tuple[Split, Split]:
    """`((x_train, y_train), (x_test, y_test))` from the archive at `path`.

    Images come back as uint8 `(n, height, width)`, labels as uint8 `(n,)` with values 0-9
    (stored labels may be any integer type). Raises `DatasetError` naming what is wrong.
    memory_limit: images whose declared size would not fit it once prepared for training
    are refused before they are decompressed (default: half the available memory).
    """
    memory_limit = memory_limit or MemoryLimit.of(None)
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
            arrays = {key: _read_member(archive, members[key], path, memory_limit) for key in KEYS}
    # RuntimeError covers an encrypted member and (as NotImplementedError) an unknown compression.
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, RuntimeError) as error:
        raise DatasetError(
            f"{path}: expected a .npz (zip) archive, found a damaged or different file ({error}); "
            "download or save it again"
        ) from None
    except OSError as error:
        raise DatasetError(f"{path}: cannot read the file ({error.strerror or error})") from None
    splits = []
    for images_key, labels_key in (("x_train", "y_train"), ("x_test", "y_test")):
        images, labels = arrays[images_key], arrays[labels_key]
        check_examples(images, labels, f"{path} [{images_key}, {labels_key}]")
        splits.append((images, labels.astype(np.uint8)))
    check_splits(splits[0][0], splits[1][0], str(path))
    return splits[0], splits[1]


def _read_member(archive: zipfile.ZipFile, member: str, path: Path, memory_limit: MemoryLimit) -> np.ndarray:
    """One `.npy` member as an array, after checking its header; `path` is for messages."""
    where = f"{path} [{member}]"
    with archive.open(member) as stream:
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
                "unpickling; simplenn never unpickles data files, save plain uint8 arrays"
            )
        name = member.removesuffix(".npy")
        if name.startswith("x_") and dtype != np.uint8:
            raise DatasetError(f"{where}: expected uint8 images (0-255), found {dtype}; save images as uint8")
        if name.startswith("y_") and dtype.kind not in "iu":
            raise DatasetError(f"{where}: expected integer labels, found {dtype}; save labels as integers 0-9")
        n_bytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        stored_bytes = archive.getinfo(member).file_size - stream.tell()
        if n_bytes != stored_bytes or n_bytes > MAX_PAYLOAD_BYTES or min(shape, default=0) < 0:
            raise DatasetError(
                f"{where}: the header declares {dtype} shaped {shape} ({n_bytes} bytes), "
                f"found {stored_bytes} bytes stored; the archive is damaged, download or save it again"
            )
        if name.startswith("x_"):  # the header's claim, before a byte of it is decompressed
            memory_limit.require({"data": images_bytes(n_bytes)}, f"{where} declares images shaped {shape}, which")
        data = bytearray(stream.read(n_bytes))  # bytearray so the array is writable
        if len(data) != n_bytes or stream.read(1):  # reading to the end also checks the CRC
            raise DatasetError(
                f"{where}: expected {n_bytes} bytes of array data, found {len(data)} or more; "
                "the archive is damaged, download or save it again"
            )
    array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")
    return np.ascontiguousarray(array)
