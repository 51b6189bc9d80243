"""What the CLI leaves behind, read back by the tests: its error on stderr, and the files in a folder."""

import os
from pathlib import Path

from simplenn.errors import error_text


def error_message(err: str) -> str:
    """The message of a CLI error on stderr, after checking its shape.

    The shape: "simplenn: error: " and the message's first clause on the first line; only
    when the message is long, each further clause on a line of its own indented by two
    spaces; nothing else, in particular no traceback.
    """
    assert err.startswith("simplenn: error: ") and err.endswith("\n") and "Traceback" not in err, err
    first, *details = err.removesuffix("\n").split("\n")
    assert all(line.startswith("  ") and not line.startswith("   ") for line in details), err
    message = " ".join([first.removeprefix("simplenn: error: "), *(line[2:] for line in details)])
    assert err == error_text(message) + "\n", err  # wrapped exactly when long, and only at clauses
    return message


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every file under `folder` by relative path: its bytes, or where a link points (to compare before and after)."""
    files = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        files[key] = f"-> {os.readlink(path)}" if path.is_symlink() else path.read_bytes() if path.is_file() else "dir"
    return files
