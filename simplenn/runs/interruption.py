"""Stop training cleanly on Ctrl-C (SIGINT) or SIGTERM.

A compiled chunk of steps cannot be stopped half-way, and a checkpoint taken half-way
would not be consistent, so the signal handler only records the request. Training looks
at it between chunks, saves a checkpoint and raises `TrainingInterrupted`, whose exit
status is the shell's 128 + signal number: 130 for Ctrl-C, 143 for SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import threading

from simplenn.errors import SimplennError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(SimplennError):
    """Training stopped on a signal after saving a checkpoint."""

    def __init__(self, message: str, signal_number: int):
        super().__init__(message)
        self.exit_status = 128 + signal_number


class Terminated(BaseException):
    """SIGTERM outside training, raised where it arrives as Ctrl-C raises `KeyboardInterrupt`."""


def raise_on_sigterm() -> None:
    """From now on SIGTERM raises `Terminated`, so that the CLI can end with a message and 143."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


def _raise_terminated(number: int, frame) -> None:
    raise Terminated()


class StopRequests:
    """While entered, SIGINT and SIGTERM ask training to stop instead of killing it.

    `signal_number` is None until a signal arrives. A second signal gets the default
    action, so pressing Ctrl-C twice stops at once, without a checkpoint; the files
    already written stay whole because every one of them is replaced atomically.
    """

    def __init__(self):
        self.signal_number: int | None = None
        self._previous_handlers: dict[int, object] = {}

    def __enter__(self) -> "StopRequests":
        # Python lets only the main thread set handlers; elsewhere signals act as usual.
        if threading.current_thread() is threading.main_thread():
            for number in STOP_SIGNALS:
                self._previous_handlers[number] = signal.signal(number, self._request_stop)
        return self

    def __exit__(self, *exc_info) -> None:
        for number, handler in self._previous_handlers.items():
            signal.signal(number, handler)
        self._previous_handlers.clear()

    def _request_stop(self, number: int, frame) -> None:
        self.signal_number = number
        signal.signal(number, signal.SIG_DFL)
        print(
            f"simplenn: {signal.Signals(number).name} received; stopping after the current chunk of "
            "steps with a checkpoint (send it again to stop at once, without one)",
            file=sys.stderr,
            flush=True,
        )
