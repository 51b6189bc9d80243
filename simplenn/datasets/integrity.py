"""Check a file against the hashes its catalogue entry pins.

A file verifies when its md5 or sha256 matches the published one, or, for a `.gz` that a
repackager recompressed, when the sha256 of its decompressed bytes matches.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

from simplenn.datasets.catalogue import DataFile
from simplenn.datasets.validation import DatasetError
from simplenn.machine.file_safety import CHUNK_BYTES, file_digests

# (size, modification time) of each file verified in this process, so it is hashed once.
_verified: dict[Path, tuple[int, int]] = {}


def mismatch(path: Path, data_file: DataFile) -> str | None:
    """None when `path` matches a hash pinned by `data_file`, else what was found, e.g.
    "sha256 is 5e88..., expected 731c...".
    """
    try:
        digests = file_digests(path, "md5", "sha256")
    except OSError as error:
        raise DatasetError(f"{path}: cannot read the file ({error.strerror or error})") from None
    if digests["md5"] == data_file.md5 or digests["sha256"] == data_file.sha256:
        return None
    found = [f"md5 is {digests['md5']}" if data_file.md5 else f"sha256 is {digests['sha256']}"]
    if data_file.content_sha256:
        content = _content_sha256(path)
        if content == data_file.content_sha256:
            return None
        found.append(f"content sha256 is {content}")
    return f"{', '.join(found)}; expected {data_file.pinned}"


def _content_sha256(path: Path) -> str:
    """The sha256 of a gzip file's decompressed bytes, or a note when it does not decompress."""
    content = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(CHUNK_BYTES):
                content.update(chunk)
    except (EOFError, gzip.BadGzipFile, zlib.error):
        return "unavailable (not a complete gzip file)"
    return content.hexdigest()


def verify_cached(path: Path, data_file: DataFile, dataset: str) -> None:
    """Raise `DatasetError` unless `path` is `data_file` of `dataset`; hashes once per process."""
    stat = path.stat()
    stamp = (stat.st_size, stat.st_mtime_ns)
    if _verified.get(path) == stamp:
        return
    problem = mismatch(path, data_file)
    if problem:
        raise DatasetError(
            f"{path}: {problem}; the file is damaged, incomplete or a different version — "
            f"run `simplenn data fetch {dataset}` to download a good copy"
        )
    _verified[path] = stamp
