"""Read MNIST's IDX files, raw or gzipped, refusing anything malformed.

An IDX file is a 4-byte magic number `00 00 <type code> <dimension count>`, then one
big-endian uint32 size per dimension, then the items in C order. MNIST-format datasets
use type code 0x08 (unsigned byte): images are `(n, 28, 28)`, labels `(n,)`.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from simplenn.datasets.validation import DatasetError
from simplenn.machine.file_safety import check_input
from simplenn.machine.memory import MemoryLimit, images_bytes

UNSIGNED_BYTE = 0x08
TYPE_NAMES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "short", 0x0C: "int", 0x0D: "float", 0x0E: "double"}
GZIP_MAGIC = b"\x1f\x8b"
# More than any MNIST-format file (EMNIST's largest holds 0.64 GB): a header declaring
# more is refused before anything is allocated, even where the true length is unknown.
MAX_PAYLOAD_BYTES = 2**30
CHUNK_BYTES = 2**24


def read_idx(path: Path, ndim: int, memory_limit: MemoryLimit | None = None) -> np.ndarray:
    """The uint8 array in the IDX file at `path` (gzipped or raw), which must have `ndim` dimensions.

    Returns a writable array shaped as the header declares, e.g. `(60000, 28, 28)` for
    `ndim=3`. Raises `DatasetError` naming the file and what is wrong with it.
    memory_limit: images whose declared size would not fit it once prepared for training
    are refused before anything is read (default: half the available memory).
    """
    check_input(path)  # a FIFO would block the read
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(2) == GZIP_MAGIC
            raw.seek(0)
            if not compressed:
                return _read_items(raw, path, ndim, path.stat().st_size, memory_limit)
            return read_gzipped_idx(raw, path, ndim, memory_limit)
    except OSError as error:
        raise DatasetError(f"{path}: cannot read the file ({error.strerror or error})") from None


def read_gzipped_idx(stream, where: str | Path, ndim: int, memory_limit: MemoryLimit | None = None) -> np.ndarray:
    """The uint8 array of a gzipped IDX file read from an open binary `stream`, such as a
    member of EMNIST's zip; `where` names it in errors."""
    try:
        with gzip.GzipFile(fileobj=stream) as unzipped:
            return _read_items(unzipped, where, ndim, None, memory_limit)
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise DatasetError(
            f"{where}: expected a complete gzip file, found a damaged or cut-short one ({error}); "
            "download it again"
        ) from None


def _read_items(
    stream, path: str | Path, ndim: int, file_size: int | None, memory_limit: MemoryLimit | None
) -> np.ndarray:
    """Parse the header and items from `stream`; `file_size` is None when it is unknown (gzip)."""
    magic = stream.read(4)
    if len(magic) < 4:
        raise DatasetError(
            f"{path}: expected an IDX header of at least 4 bytes, found {len(magic)} bytes; "
            "the file is empty or cut short"
        )
    if magic[:2] != b"\x00\x00":
        raise DatasetError(
            f"{path}: expected an IDX file starting 00 00, found {magic.hex(' ')}; "
            "this is not an MNIST-format file"
        )
    type_code, found_ndim = magic[2], magic[3]
    if type_code != UNSIGNED_BYTE:
        kind = TYPE_NAMES.get(type_code, "unknown")
        raise DatasetError(
            f"{path}: expected IDX type code 0x08 (unsigned byte), found 0x{type_code:02x} ({kind}); "
            "simplenn reads 8-bit MNIST-format data only"
        )
    if found_ndim != ndim:
        raise DatasetError(
            f"{path}: expected {ndim} dimension(s) ({'images' if ndim == 3 else 'labels'}), "
            f"found {found_ndim}; check that the file is the one its name says"
        )
    header = stream.read(4 * ndim)
    if len(header) < 4 * ndim:
        raise DatasetError(f"{path}: expected {4 * ndim} bytes of sizes after the magic number, found {len(header)}")
    shape = tuple(int.from_bytes(header[4 * i : 4 * i + 4], "big") for i in range(ndim))
    n_items = 1
    for size in shape:
        n_items *= size  # Python ints: an absurd product cannot overflow
    expected_length = 4 + 4 * ndim + n_items
    if file_size is not None and file_size != expected_length:
        raise DatasetError(
            f"{path}: the header declares shape {shape}, so expected {expected_length} bytes, "
            f"found {file_size} ({'cut short' if file_size < expected_length else 'trailing bytes'}); "
            "the file is damaged or not what its name says"
        )
    if n_items > MAX_PAYLOAD_BYTES:
        raise DatasetError(
            f"{path}: the header declares shape {shape} ({n_items} bytes), expected at most "
            f"{MAX_PAYLOAD_BYTES} bytes for MNIST-format data; the header is damaged"
        )
    if ndim == 3:  # the header's claim, before a byte of it is decompressed
        (memory_limit or MemoryLimit.of(None)).require(
            {"data": images_bytes(n_items)}, f"{path} declares {shape[0]:,} images of {shape[1]}x{shape[2]}, which"
        )
    # Read in chunks so memory grows with the bytes really there, not with the header's claim;
    # decompression stops at the declared size (and one byte more, to find trailing bytes).
    items = bytearray()
    while len(items) < n_items:
        chunk = stream.read(min(CHUNK_BYTES, n_items - len(items)))
        if not chunk:
            raise DatasetError(
                f"{path}: the header declares shape {shape}, so expected {n_items} bytes of items, "
                f"found {len(items)}; the file is cut short, download it again"
            )
        items += chunk
    if stream.read(1):
        raise DatasetError(
            f"{path}: the header declares shape {shape}, so expected {n_items} bytes of items, "
            "found trailing bytes after them; the file is damaged or not what its name says"
        )
    return np.frombuffer(items, dtype=np.uint8).reshape(shape)  # a bytearray, so writable
