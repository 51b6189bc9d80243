"""Writing files so that no reader ever sees half of one, and hashing them.

Every file simplenn writes (run records, checkpoint digests, downloaded datasets) goes
through `write_atomically`: the bytes go to a uniquely named temporary file in the same
folder, are flushed to disk, optionally checked, and only then renamed over the
destination. A process killed at any moment, SIGKILL included, leaves the old file or the
new one, whole, and at worst a `.NAME.XXXX.tmp` file that `remove_unfinished_writes`
clears away.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable

from simplenn.errors import SimplennError

TEMPORARY_SUFFIX = ".tmp"
CHUNK_BYTES = 2**20  # hashing reads files a mebibyte at a time: memory stays flat


def write_atomically(
    path: Path,
    content: str | bytes | Callable[[BinaryIO], None],
    check: Callable[[Path], None] | None = None,
) -> Path:
    """Replace `path` with `content` so that readers see the old or the new file, whole.

    content: text (written as UTF-8), bytes, or a function that writes into the stream.
    check: called with the temporary file's path before the rename; if it raises, `path`
    is left as it was. Raises `OSError` as the system does (a full disk, no permission).
    """
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX)
    try:
        with os.fdopen(handle, "wb") as stream:
            if callable(content):
                content(stream)
            else:
                stream.write(content.encode("utf-8") if isinstance(content, str) else content)
            stream.flush()
            os.fsync(stream.fileno())  # on disk before the rename can make it visible
        if check is not None:
            check(Path(temporary))
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp's 0600 would hide the file from other users
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write `text` atomically, creating the folder; the path written, or `SimplennError`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, text)
    except OSError as error:
        raise SimplennError(f"cannot write {path}: {error.strerror or error}") from None
    return path


def write_json(path: str | Path, value: Any) -> Path:
    """Write `value` as JSON, atomically, creating the folder; the path written."""
    return write_text(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> Any:
    """The JSON value in `path`, or `SimplennError` saying why it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SimplennError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SimplennError(f"cannot read {path}: {error}") from None


def remove_unfinished_writes(folder: Path) -> None:
    """Delete the temporary files that a process killed inside `write_atomically` left in `folder`."""
    for temporary in folder.glob(f".*{TEMPORARY_SUFFIX}"):
        temporary.unlink(missing_ok=True)


def file_digests(path: Path, *algorithms: str) -> dict[str, str]:
    """Hex digests of `path`'s bytes, e.g. `{"md5": ..., "sha256": ...}`, in one pass."""
    digests = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            for digest in digests.values():
                digest.update(chunk)
    return {name: digest.hexdigest() for name, digest in digests.items()}


def sha256_of(path: Path) -> str:
    return file_digests(path, "sha256")["sha256"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
