"""The one exception type a user can cause, and how the CLI prints it.

`SimplennError` carries a message that names the problem and what to do about it. The
CLI prints it with `error_text` and exits with its `exit_status`, 2 unless a subclass
says otherwise; everything else is a bug and keeps its traceback.
"""

WRAP_AFTER = 100  # characters; a longer message is printed as a first line and indented details


class SimplennError(Exception):
    """A mistake in the user's input, files or environment, explained in one message."""

    exit_status = 2


class SimplennWarning(UserWarning):
    """Something the user should know that does not stop the work, e.g. a damaged cached file passed over."""


def error_text(message: str, prog: str = "simplenn") -> str:
    """`prog: error: message`, wrapped when long: its first clause, then each further one indented.

    Clauses are the parts between "; " outside brackets and quotes, so a list of reasons in
    parentheses stays whole. Each "; " becomes ";" and a new line indented by two spaces, so
    joining the lines with a space, indentation stripped, gives the message back.
    """
    if len(message) <= WRAP_AFTER:
        return f"{prog}: error: {message}"
    return f"{prog}: error: " + ";\n  ".join(_clauses(message))


def _clauses(message: str) -> list[str]:
    """`message` split at each "; " that lies outside (), [] and backquotes."""
    clauses, start, depth, quoted = [], 0, 0, False
    for i, char in enumerate(message):
        if char == "`":
            quoted = not quoted
        elif char in "([" and not quoted:
            depth += 1
        elif char in ")]" and not quoted:
            depth = max(depth - 1, 0)
        elif message.startswith("; ", i) and depth == 0 and not quoted:
            clauses.append(message[start:i])
            start = i + 2
    return clauses + [message[start:]]
