"""Read images from a CSV file, one image per row, as Kaggle publishes MNIST and Fashion-MNIST.

    label,pixel0,pixel1,...,pixel783     the header, if there is one
    5,0,0,...,0                          a label, then the pixels 0-255 row by row

The label column is the one headed `label` (anywhere in the row). Without a header it
is the first column, unless a row holds a square number of values (784 = 28x28): then
the file is pixels only. A file without labels, such as Kaggle's Digit Recognizer
`test.csv`, can be predicted on but not trained on. Rows with a square number of pixels
become square images; any other count n becomes images of 1 x n.

The file is read twice, both times in blocks: once to count its rows, so the arrays are
allocated once and their size checked first; then `np.loadtxt` parses `CHUNK_ROWS` rows
at a time in C. Only when a block fails to parse are its lines looked at one by one in
Python, to name the row (the file's line number, the header being row 1) and column.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np

from simplenn.datasets.idx import MAX_PAYLOAD_BYTES
from simplenn.datasets.validation import MAX_CLASSES, DatasetError

CHUNK_ROWS = 4096
LABEL_COLUMN = "label"
COUNT_BLOCK_BYTES = 2**24


def read_csv(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """`(images, labels)` from the CSV at `path`: uint8 `(n, height, width)` and int64 `(n,)`,
    or None for labels when the file has no label column."""
    try:
        with open(path, encoding="utf-8", newline="") as text:
            first = text.readline()
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
            try:
                int(field)
            except ValueError:
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
