"""Writing files so that no reader ever sees half of one, and hashing them.

Every file simplenn writes (run records, checkpoint digests, downloaded datasets) goes
through `write_atomically`: the bytes go to a uniquely named temporary file in the same
folder, are flushed to disk, optionally checked, and only then renamed over the
destination. A process killed at any moment, SIGKILL included, leaves the old file or the
new one, whole, and at worst a `.NAME.simplenn-XXXX.tmp` file that `remove_unfinished_writes`
clears away. Only files with that marker are ever deleted: a user's own `.x.tmp` is not
simplenn's to remove.

One rule for every path a command writes (`check_output`): it is a regular file or a new
one; a link, a device, a FIFO, a folder, or a record that a run folder needs to load
(`RUN_RECORDS`) is refused in one line, never replaced; a user's existing file is
replaced only when asked (`--force`); `-` means standard output where a command allows it.
`write_atomically` refuses a destination that is not a regular file, so the rule holds for
every writer, and `require_no_links` refuses folders whose entries are links, so nothing is
written outside the folder it was meant for. Inputs are read only from regular files
(`check_input`): a FIFO or a device would block or never end. A full disk is reported as
one line naming the file and the bytes it needed (`DiskFull`). An output that must be new
(`export`'s model) is renamed into place by `rename_new`, which fails rather than replace
what took the name while it was written.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable

from simplenn.errors import SimplennError

TEMPORARY_MARKER = ".simplenn-"  # in the name of every temporary file simplenn creates
TEMPORARY_SUFFIX = ".tmp"
CHUNK_BYTES = 2**20  # hashing reads files a mebibyte at a time: memory stays flat
STDOUT = "-"  # the output path that means standard output, as for `tar -f -` and `curl -o -`
# What a run folder needs to load, or holds while a process writes it: no command's output replaces them.
RUN_RECORDS = (".lock", "config.json", "data.json", "history.json", "history.csv", "summary.json")
RUN_RECORD_FOLDERS = ("checkpoints", "tensorboard")


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
    require_regular_or_new(path)
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}{TEMPORARY_MARKER}", suffix=TEMPORARY_SUFFIX
    )
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


# renameat2(2)'s flag that makes a rename fail with EEXIST instead of replacing its destination.
RENAME_NOREPLACE = 1
AT_FDCWD = -100  # "relative to the working folder", for the *at system calls


def rename_new(source: Path, destination: Path) -> None:
    """Rename `source` to `destination`, which must not exist: `FileExistsError` if something
    has taken the name since it was checked, which is never replaced.

    On Linux one system call (`renameat2` with `RENAME_NOREPLACE`) checks and renames at
    once. Where it is missing or the file system refuses it, a file is linked under the new
    name (which fails if the name exists) and its old name removed; a folder is renamed
    after one more check.
    """
    if _rename_noreplace(source, destination):
        return
    if source.is_dir():
        if os.path.lexists(destination):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(destination))
        os.rename(source, destination)
    else:
        os.link(source, destination)
        os.unlink(source)


def _rename_noreplace(source: Path, destination: Path) -> bool:
    """`renameat2(..., RENAME_NOREPLACE)`: True once renamed, False where the call is unavailable."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(AT_FDCWD, os.fsencode(source), AT_FDCWD, os.fsencode(destination), RENAME_NOREPLACE) == 0:
        return True
    number = ctypes.get_errno()
    if number in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # no such call, or not on this file system
        return False
    raise OSError(number, os.strerror(number), str(destination))


class DiskFull(SimplennError):
    """A write failed for want of space: the file, the bytes it needed (None if unknown), what to do."""

    def __init__(self, path: Path, needed_bytes: int | None, advice: str = "free some space and run the command again"):
        needed = f" (it needs about {format_bytes(needed_bytes)})" if needed_bytes else ""
        super().__init__(f"cannot write {path}: the disk is full{needed}; {advice}")
        self.path, self.needed_bytes = path, needed_bytes


def is_disk_full(error: BaseException) -> bool:
    """Whether `error` (an `OSError`, or TensorFlow's error for one) says that no space was left."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    return "No space left on device" in str(error) or "Disk quota exceeded" in str(error)


def write_error(path: Path, error: OSError, needed_bytes: int | None = None) -> SimplennError:
    """The one-line error for a failed write of `path`: `DiskFull` with the space needed, when that is why."""
    if is_disk_full(error):
        return DiskFull(path, needed_bytes)
    return SimplennError(f"cannot write {path}: {error.strerror or error}")


def format_bytes(n: float) -> str:
    """2**30 -> "1.0 GiB", 1536 -> "1.5 KiB": binary units, as `free -h`, `df -h` and `--max-memory 8G` count."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TiB"


def write_text(path: str | Path, text: str) -> Path:
    """Write `text` atomically, creating the folder; the path written, or `SimplennError`."""
    return write_bytes(path, text.encode("utf-8"))


def write_bytes(path: str | Path, content: bytes) -> Path:
    """Write `content` atomically, creating the folder; the path written, or `SimplennError`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, content)
    except OSError as error:
        raise write_error(path, error, len(content)) from None
    return path


def write_json(path: str | Path, value: Any) -> Path:
    """Write `value` as JSON, atomically, creating the folder; the path written."""
    return write_text(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> Any:
    """The JSON value in `path`, or `SimplennError` saying why it cannot be read."""
    check_input(path)  # a FIFO named config.json would block the read forever
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SimplennError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SimplennError(f"cannot read {path}: {error}") from None


def remove_unfinished_writes(folder: Path) -> None:
    """Delete the temporary files that a process killed inside `write_atomically` left in `folder`.

    Only regular files named `.NAME.simplenn-XXXX.tmp`: anything else is not simplenn's.
    """
    for temporary in folder.glob(f".*{TEMPORARY_MARKER}*{TEMPORARY_SUFFIX}"):
        if stat.S_ISREG(temporary.lstat().st_mode):
            temporary.unlink(missing_ok=True)


def require_no_links(folder: Path, names: tuple[str, ...] | None = None, *, what: str) -> None:
    """Refuse (`SimplennError`) when an entry of `folder` is a symbolic link.

    names: the entries to look at (those that simplenn writes); None for every entry.
    Writing through a link would change a file outside `folder`; `what` names the folder
    in the message, e.g. "run directory runs/x".
    """
    entries = [folder / name for name in names] if names is not None else sorted(folder.iterdir())
    for entry in entries:
        if entry.is_symlink():
            raise SimplennError(
                f"{what} holds a link {entry} -> {os.readlink(entry)}; simplenn does not write through links "
                "out of a run directory, so remove the link or choose another folder"
            )


def file_kind(path: Path) -> str | None:
    """What `path` is when it is not a regular file ("a link to ...", "a FIFO", ...); None when it is one or is new."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return None
    except OSError as error:
        return f"unreadable ({error.strerror or error})"
    return f"a link to {os.readlink(path)}" if stat.S_ISLNK(mode) else _kind_of(mode)


def _kind_of(mode: int) -> str | None:
    """None for a regular file's `st_mode`, else what the file is."""
    if stat.S_ISREG(mode):
        return None
    kinds = {stat.S_ISDIR: "a folder", stat.S_ISFIFO: "a FIFO", stat.S_ISCHR: "a device", stat.S_ISBLK: "a device",
             stat.S_ISSOCK: "a socket"}
    return next((name for test, name in kinds.items() if test(mode)), "not a regular file")


def require_regular_or_new(path: Path) -> None:
    """Refuse (`SimplennError`) to replace anything at `path` but a regular file."""
    kind = file_kind(path)
    if kind is not None:
        advice = "; write to - for standard output" if path.parent == Path("/dev") else ""
        raise SimplennError(f"cannot write {path}: it is {kind}, not a regular file; simplenn replaces only regular "
                            f"files, so give a new file name{advice}")


def run_record_of(path: Path) -> str | None:
    """"the run in RUN_DIR" when `path` is a record that run needs, or lies in its checkpoints or TensorBoard folder."""
    folder = path.parent.resolve()
    if path.name in RUN_RECORDS and (folder / "config.json").is_file():
        return f"the run in {path.parent}"
    for parent in (folder, *folder.parents):
        if parent.name in RUN_RECORD_FOLDERS and (parent.parent / "config.json").is_file():
            return f"the run in {parent.parent}"
    return None


def check_output(text: str | Path, *, force: bool = False, allow_stdout: bool = False) -> Path | None:
    """The path a command will write, checked against the one output rule; None for `-` (standard output).

    Refused (`SimplennError`, one line): a link, a folder, a device, a FIFO; a record that a
    run folder needs (`RUN_RECORDS`, anything in its checkpoints); an existing file unless
    `force`; `-` unless `allow_stdout`.
    """
    if str(text) == STDOUT:
        if allow_stdout:
            return None
        raise SimplennError("cannot write - here: this output is a file; give a file name")
    path = user_path(text)
    if str(text).endswith(("/", os.sep)):  # Path() drops the slash, and would write a file named like the folder
        raise SimplennError(f"cannot write {text}: it ends in /, so it names a folder; this output is a file, "
                            "so give a file name")
    require_regular_or_new(path)
    needed_by = run_record_of(path)
    if needed_by is not None:
        raise SimplennError(f"cannot write {path}: {needed_by} needs it to load; give another file name")
    if path.exists() and not force:
        raise SimplennError(f"{path} already exists; add --force to replace it, or give a new file name")
    return path


def check_outputs(outputs: dict[str, str | Path | None], *, force: bool = False, inputs=()) -> None:
    """Each of a command's `outputs` ({"--json": PATH, ...}; None for an output not asked for)
    checked by `check_output`, and refused (`SimplennError`) when two name the same file or
    one names a file among `inputs` (the paths the command reads): the second write would
    replace the first, and an input would be destroyed before, or while, it is read."""
    read = {Path(path).resolve() for path in inputs if Path(path).is_file()}
    written: dict[Path, str] = {}
    for name, text in outputs.items():
        if text is None or str(text) == STDOUT:
            continue
        try:
            path = check_output(text, force=force)
        except SimplennError as error:
            raise SimplennError(f"argument {name}: {error}") from None
        resolved = path.resolve()
        if resolved in read:
            raise SimplennError(f"argument {name}: {text} is a file this command reads; writing it would destroy its "
                                "input, so give another file name")
        if resolved in written:
            raise SimplennError(f"arguments {written[resolved]} and {name} both name {text}; one would replace the "
                                "other, so give each its own file")
        written[resolved] = name


def check_input(path: str | Path) -> Path:
    """`path` if it is a regular file (links to one are followed); `SimplennError` for a FIFO, a device, a folder.

    Checked before opening: opening a FIFO waits for a writer forever, and a device never ends.
    """
    path = Path(path)
    try:
        kind = _kind_of(path.stat().st_mode)
    except FileNotFoundError:
        raise SimplennError(f"{path} does not exist") from None
    except OSError as error:
        raise SimplennError(f"cannot read {path}: {error.strerror or error}") from None
    if kind is not None:
        raise SimplennError(f"cannot read {path}: it is {kind}; simplenn reads only regular files")
    return path


def unique_names(names: list[str]) -> list[str]:
    """`names` with each repeat made unique by a counter before its suffix: x.png, x.png -> x.png, x-2.png."""
    taken, unique = set(), []
    for name in names:
        stem, dot, suffix = name.partition(".")
        candidate, count = name, 1
        while candidate in taken:
            count += 1
            candidate = f"{stem}-{count}{dot}{suffix}"
        taken.add(candidate)
        unique.append(candidate)
    return unique


def user_path(text: str | Path, what: str = "path") -> Path:
    """`text` as a `Path`, `~` and `~user` expanded; `SimplennError` for an unknown user."""
    try:
        return Path(text).expanduser()
    except RuntimeError:  # "Could not determine home directory"
        user = str(text).split("/", 1)[0]
        raise SimplennError(f"{what} {text}: there is no user {user[1:]!r} on this machine, so {user} "
                            "cannot be expanded; give the folder itself") from None


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
