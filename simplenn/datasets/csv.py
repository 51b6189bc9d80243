"""Read images from a CSV file, one image per row, as Kaggle publishes MNIST and Fashion-MNIST.

    label,pixel0,pixel1,...,pixel783     the header, if there is one
    5,0,0,...,0                          a label, then the pixels 0-255 row by row

The label column is the one headed `label` (anywhere in the row). Without a header it
is the first column, unless a row holds a square number of values (784 = 28x28): then
the file is pixels only. A file without labels, such as Kaggle's Digit Recognizer
`test.csv`, can be predicted on but not trained on. Rows with a square number of pixels
become square images; any other count n becomes images of 1 x n.

A UTF-8 byte-order mark before the first field (Excel writes one) is ignored.

Before anything is parsed, the memory the read will take is checked against the limit
(`csv_needs`): the first line, read with a cap of `MAX_LINE_BYTES`, gives the columns,
and the file's size bounds the rows (a value takes at least two bytes, a digit and a
comma). Then the file is read twice, both times in blocks: once to count its rows, so
the arrays are allocated once; then `np.loadtxt` parses `CHUNK_ROWS` rows at a time in
C. Only when a block fails to parse are its lines looked at one by one in Python, to
name the row (the file's line number, the header being row 1) and column.
"""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import numpy as np

from simplenn.datasets.idx import MAX_PAYLOAD_BYTES
from simplenn.datasets.validation import MAX_CLASSES, DatasetError
from simplenn.machine.file_safety import check_input
from simplenn.machine.memory import MemoryLimit

CHUNK_ROWS = 4096
MAX_LINE_BYTES = 64 * 2**20  # a row of 4,096 x 4,096 pixels written as "255," fits
WHOLE_NUMBER = re.compile(r"\s*[+-]?[0-9]+\s*")  # what np.loadtxt reads as an int64
PARSE_BYTES_PER_VALUE = 3 * 8
FIELD_BYTES = 64  # a short Python string and its place in a list  # a block's int64 values, the pixel columns taken from them, the range checks
LABEL_COLUMN = "label"
COUNT_BLOCK_BYTES = 2**24


def read_csv(path: Path, memory_limit: MemoryLimit | None = None,
             n_pixels_read: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """`(images, labels)` from the CSV at `path`: uint8 `(n, height, width)` and int64 `(n,)`,
    or None for labels when the file has no label column.

    memory_limit: a file whose columns and size could need more than it is refused before
    it is parsed (default: half the available memory).
    n_pixels_read: the values per row the caller reads (a run's inputs); a file whose first
    row gives another count is refused before the rest is parsed.
    """
    check_input(path)  # a FIFO would block the read
    try:
        with open(path, encoding="utf-8-sig", newline="") as text:  # -sig: a byte-order mark is dropped
            first = text.readline(MAX_LINE_BYTES + 1)
            if len(first) > MAX_LINE_BYTES:
                raise DatasetError(f"{path}: the first row is longer than {MAX_LINE_BYTES:,} characters, more "
                                   "than a row of 4,096 x 4,096 pixels; give one image per row")
            (memory_limit or MemoryLimit.of(None)).require(  # before the first row is split into fields
                csv_needs(path.stat().st_size, first.count(",") + 1), f"reading {path} ({first.count(',') + 1:,} columns)")
            fields = [field.strip().strip('"').strip() for field in first.split(",")]
            has_header = not all(_is_number(field) for field in fields)
            if has_header:
                names = [field.lower() for field in fields]
                label_column = names.index(LABEL_COLUMN) if LABEL_COLUMN in names else None
            else:
                label_column = None if math.isqrt(len(fields)) ** 2 == len(fields) else 0
                text.seek(0)
            n_columns = len(fields)
            n_pixels = n_columns - (label_column is not None)
            n_rows = _count_rows(path) - has_header
            if n_pixels_read is not None and n_pixels != n_pixels_read:
                raise DatasetError(f"{path}: its first row holds {n_pixels:,} pixel values, but {n_pixels_read:,} are "
                                   "read per row; give rows of the run's inputs (a label column may come first)")
            if n_pixels < 1 or n_rows < 1:
                raise DatasetError(f"{path}: expected rows of pixels, found {'no pixel columns' if n_pixels < 1 else 'no rows'}")
            if n_rows * n_pixels > MAX_PAYLOAD_BYTES:
                raise DatasetError(
                    f"{path}: {n_rows:,} rows of {n_pixels:,} pixels would take {n_rows * n_pixels:,} bytes, "
                    f"more than the {MAX_PAYLOAD_BYTES:,} simplenn reads; split the file"
                )
            images = np.empty((n_rows, n_pixels), np.uint8)  # (n, features); trimmed to the rows found
            labels = np.empty(n_rows, np.int64) if label_column is not None else None
            pixel_columns = [c for c in range(n_columns) if c != label_column]
            filled, first_row = 0, 1 + has_header
            while chunk := list(itertools.islice(text, CHUNK_ROWS)):
                values = _parse(chunk, path, first_row, n_columns)  # (rows, n_columns) int64
                _check_range(values[:, pixel_columns], 255, "a pixel 0-255", chunk, path, first_row, pixel_columns)
                images[filled : filled + len(values)] = values[:, pixel_columns]
                if labels is not None:
                    _check_range(values[:, [label_column]], MAX_CLASSES - 1, f"a label 0-{MAX_CLASSES - 1}",
                                 chunk, path, first_row, [label_column])
                    labels[filled : filled + len(values)] = values[:, label_column]
                filled += len(values)
                first_row += len(chunk)
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path}: expected a text CSV file, found bytes that are not UTF-8 ({error.reason})") from None
    except OSError as error:
        raise DatasetError(f"{path}: cannot read the file ({error.strerror or error})") from None
    if filled == 0:
        raise DatasetError(f"{path}: expected rows of pixels after the header, found none")
    side = math.isqrt(n_pixels)
    shape = (side, side) if side * side == n_pixels else (1, n_pixels)
    return images[:filled].reshape(filled, *shape), None if labels is None else labels[:filled]


def csv_needs(file_bytes: int, n_columns: int) -> dict[str, int]:
    """The most memory reading a CSV of `file_bytes` with `n_columns` can take: {part: bytes}.

    A row of n columns takes at least 2n bytes ("0," each), so the file holds at most
    file_bytes / 2n rows: the uint8 pixels and int64 labels of that many, and one block parsed.
    """
    max_rows = max(1, file_bytes // (2 * n_columns))
    return {"pixels and labels": max_rows * (n_columns + 8),
            "parsing": min(max_rows, CHUNK_ROWS) * n_columns * PARSE_BYTES_PER_VALUE,
            "the first row's fields": n_columns * FIELD_BYTES}


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _count_rows(path: Path) -> int:
    """Lines in the file, counting a last line without a newline: at least the rows it holds."""
    lines, last = 0, b"\n"
    with open(path, "rb") as raw:
        while block := raw.read(COUNT_BLOCK_BYTES):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


def _parse(chunk: list[str], path: Path, first_row: int, n_columns: int) -> np.ndarray:
    """`chunk`'s lines as integers `(rows, n_columns)`; blank lines are skipped."""
    try:
        values = np.loadtxt(chunk, delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError:
        values = None
    if values is not None and (values.size == 0 or values.shape[1] == n_columns):
        return values.reshape(-1, n_columns)
    raise _first_bad_row(chunk, path, first_row, n_columns)


def _first_bad_row(chunk: list[str], path: Path, first_row: int, n_columns: int) -> DatasetError:
    """The error for the first line of `chunk` that NumPy could not parse, found line by line."""
    for offset, line in enumerate(chunk):
        if not line.strip():
            continue
        row = first_row + offset
        fields = line.rstrip("\r\n").split(",")
        if len(fields) != n_columns:
            return DatasetError(
                f"{path}, row {row}: expected {n_columns} columns as in the first row, found {len(fields)}; "
                "every row needs the same columns"
            )
        for column, field in enumerate(fields, start=1):
            if not WHOLE_NUMBER.fullmatch(field):  # int() would take "1_000" and "٣"; np.loadtxt takes neither
                return DatasetError(
                    f"{path}, row {row}, column {column}: expected a whole number, found {field.strip()[:20]!r}"
                )
    return DatasetError(f"{path}, rows {first_row}-{first_row + len(chunk) - 1}: could not be read as numbers")


def _check_range(values: np.ndarray, highest: int, what: str, chunk, path: Path, first_row: int, columns) -> None:
    """Raise naming the row and column of the first value outside 0..highest."""
    outside = (values < 0) | (values > highest)
    if not outside.any():
        return
    index, column = divmod(int(np.argmax(outside)), values.shape[1])
    row = first_row + [offset for offset, line in enumerate(chunk) if line.strip()][index]
    raise DatasetError(
        f"{path}, row {row}, column {columns[column] + 1}: expected {what}, found {values[index, column]}"
    )
