"""Small MNIST-format files for the dataset tests: IDX bytes, npz archives, catalogue entries."""

from __future__ import annotations

import gzip
import hashlib
import io
from pathlib import Path

import numpy as np

from simplenn.datasets.catalogue import IDX_FILE_NAMES, DataFile, DatasetSpec, Source


def tiny_splits(n_train: int = 12, n_test: int = 8, seed: int = 0):
    """`((x_train, y_train), (x_test, y_test))`: random uint8 5x4 images, labels cycling 0-9."""
    rng = np.random.default_rng(seed)
    splits = []
    for n in (n_train, n_test):
        images = rng.integers(0, 256, size=(n, 5, 4), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        splits.append((images, labels))
    return splits[0], splits[1]


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """`array` (uint8) as an IDX file: magic 00 00 <type> <ndim>, big-endian sizes, items."""
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(size.to_bytes(4, "big") for size in array.shape)
    return header + array.astype(np.uint8).tobytes()


def idx_files(splits, gz: bool = True) -> dict[str, bytes]:
    """The four IDX files of `splits`, keyed by their published names (".gz" when `gz`)."""
    (x_train, y_train), (x_test, y_test) = splits
    arrays = (x_train, y_train, x_test, y_test)
    return {
        stem + (".gz" if gz else ""): (gzip.compress(idx_bytes(a), mtime=0) if gz else idx_bytes(a))
        for stem, a in zip(IDX_FILE_NAMES, arrays)
    }


def npz_bytes(**arrays: np.ndarray) -> bytes:
    """An `.npz` archive of `arrays`, as np.savez writes it."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def write_files(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return folder


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def idx_spec(name: str, files: dict[str, bytes], mirrors: list[str], debian_package: str | None = None) -> DatasetSpec:
    """A catalogue entry for four `.gz` IDX `files`, served from each URL prefix in `mirrors`."""
    data_files = tuple(
        DataFile(
            cache_path=f"{name}/{stem}.gz",
            urls=tuple(f"{mirror}{stem}.gz" for mirror in mirrors),
            size=len(files[stem + ".gz"]),
            sha256=sha256(files[stem + ".gz"]),
        )
        for stem in IDX_FILE_NAMES
    )
    return DatasetSpec(
        name=name,
        title=f"test dataset {name}",
        sources=(Source("idx", data_files),),
        class_names=tuple("abcdefghij"),
        licence="test",
        citation="test",
        homepage="http://127.0.0.1/",
        debian_package=debian_package,
    )


def npz_spec(name: str, content: bytes, urls: list[str]) -> DatasetSpec:
    """A catalogue entry for one Keras-style npz `content` at the top of the cache."""
    data_file = DataFile(cache_path=f"{name}.npz", urls=tuple(urls), size=len(content), sha256=sha256(content))
    return DatasetSpec(
        name=name,
        title=f"test dataset {name}",
        sources=(Source("npz", (data_file,)),),
        class_names=tuple("abcdefghij"),
        licence="test",
        citation="test",
        homepage="http://127.0.0.1/",
    )
