"""XLA's persistent compilation cache: each program is compiled once per machine, not once per process.

A run's compiled block of steps costs XLA about half a second to build. TensorFlow can keep
what XLA built in a folder (`--tf_xla_persistent_cache_directory` in `TF_XLA_FLAGS`) and load
it the next time the same program, at the same shapes, is asked for: a second identical
`simplenn train`, an `ablate` row whose network was compiled before, the test suite. The
file's name is a fingerprint of the program, so a changed config compiles anew.

The folder is `$SIMPLENN_COMPILE_CACHE`, else `$XDG_CACHE_HOME/simplenn/xla` (by default
`~/.cache/simplenn/xla`); `SIMPLENN_COMPILE_CACHE=off` turns the cache off, and a
`TF_XLA_FLAGS` that names a cache folder of its own is left alone. The flag must be set before
TensorFlow starts, so `quiet_tensorflow` calls `use_compile_cache` before importing it.
"""

from __future__ import annotations

import os
from pathlib import Path

FLAG = "--tf_xla_persistent_cache_directory"
# Each entry is a few hundred kB; the oldest beyond this many are removed at start-up.
MAX_ENTRIES = 200


def compile_cache_dir() -> Path | None:
    """The cache folder, or None when `SIMPLENN_COMPILE_CACHE=off`."""
    setting = os.environ.get("SIMPLENN_COMPILE_CACHE", "")
    if setting.lower() in ("off", "0", "false", "no"):
        return None
    if setting:
        return Path(setting).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "simplenn" / "xla"


def use_compile_cache() -> Path | None:
    """Point XLA at the cache folder (made if missing) and prune it; the folder, or None if unused.

    A folder that cannot be made or written (a read-only home) means no cache, not an error:
    the cache only saves time.
    """
    flags = os.environ.get("TF_XLA_FLAGS", "")
    if FLAG in flags:  # the user's own choice
        return None
    try:
        folder = compile_cache_dir()
        if folder is None:
            return None
        folder.mkdir(parents=True, exist_ok=True)
        if folder.is_symlink() or not os.access(folder, os.W_OK):
            return None
        prune(folder, MAX_ENTRIES)
    except (OSError, RuntimeError):  # RuntimeError: no home folder to be found
        return None
    os.environ["TF_XLA_FLAGS"] = f"{flags} {FLAG}={folder}".strip()
    return folder


def prune(folder: Path, keep: int) -> None:
    """Remove all but the `keep` most recently written cache entries (never a link, never a folder)."""
    entries = [path for path in folder.glob("xla_compile_cache_*") if path.is_file() and not path.is_symlink()]
    entries.sort(key=lambda path: path.stat().st_mtime, reverse=True)
    for stale in entries[keep:]:
        stale.unlink(missing_ok=True)
