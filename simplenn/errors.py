"""The one exception type a user can cause.

`SimplennError` carries a single line that names the problem and what to do about it.
The CLI prints that line and exits with its `exit_status`, 2 unless a subclass says
otherwise; everything else is a bug and keeps its traceback.
"""


class SimplennError(Exception):
    """A mistake in the user's input, files or environment, explained in one line."""

    exit_status = 2
