"""TensorFlow for simplenn's modules, and the one call that makes its import quiet.

    from simplenn.machine.quiet_tensorflow import tf   # instead of `import tensorflow as tf`
    simplenn.set_up()   # once, first: the CLI's entry point and the notebook's first cell do

Importing this module, or any simplenn module, changes nothing in the process: `tf` is
plain `import tensorflow`, done when a module first asks for it. `set_up()` is the one
call that changes the process, on purpose, and only from the moment TensorFlow loads:

- TensorFlow 2.21 logs through absl while its C++ libraries load, before
  `TF_CPP_MIN_LOG_LEVEL` takes effect ("oneDNN custom operations are on", "Could not find
  cuda drivers", CPU features). Those lines would bury the CLI's one-line messages and the
  notebook's output, so TensorFlow is loaded with file descriptor 2 pointed at /dev/null,
  wherever it leads (a terminal, a file, the pipe a Jupyter kernel reads). Errors raised
  by the import itself still arrive, as Python exceptions.
- XLA's programs are kept on disk between runs (`compile_cache`).
- The import creates about 450,000 Python objects that live as long as the process. With
  the cyclic garbage collector running, each full collection walks all of them: during the
  import (0.6 s of its 3.3 s here) and again while the first `tf.function` traces (0.2 s
  of 0.45 s). So the collector is paused for the import and what it made is frozen
  (`gc.freeze`): later collections skip it.
- TensorFlow's retracing warning about simplenn's per-run functions is dropped (see
  `is_new_run_tracing`); its other warnings still arrive.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import os
import sys

from simplenn.machine.compile_cache import use_compile_cache

_set_up = False  # whether `set_up` was called: TensorFlow is then imported quietly


def set_up() -> None:
    """Make TensorFlow's import quiet, cached and frozen when it comes (now, if it already came)."""
    global _set_up
    _set_up = True
    if "tensorflow" in sys.modules:  # imported before the call: only its warnings can still be filtered
        _filter_warnings(sys.modules["tensorflow"])


def __getattr__(name: str):
    """`tf`: TensorFlow, imported on first use (quietly after `set_up`)."""
    if name != "tf":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    tf = import_tensorflow() if _set_up else importlib.import_module("tensorflow")
    globals()["tf"] = tf  # later look-ups find it directly
    return tf


def import_tensorflow():
    """The `tensorflow` module, imported as `set_up` describes: muted, cached, its objects frozen."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # later messages (XLA, the GPU probe) do honour it
    use_compile_cache()  # before TensorFlow reads TF_XLA_FLAGS
    collecting = gc.isenabled()
    gc.disable()
    try:
        tf = _import_muted()
    finally:
        gc.freeze()
        if collecting:
            gc.enable()
    _filter_warnings(tf)
    return tf


def _import_muted():
    """`import tensorflow` with file descriptor 2 pointed at /dev/null while it runs."""
    sys.stderr.flush()
    try:
        saved_stderr = os.dup(2)
    except OSError:  # no fd 2 at all (a daemon): nothing to mute
        return importlib.import_module("tensorflow")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        return importlib.import_module("tensorflow")
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        os.close(devnull)


def _filter_warnings(tf) -> None:
    logger = tf.get_logger()
    if drop_new_run_tracing not in logger.filters:
        logger.addFilter(drop_new_run_tracing)


def is_new_run_tracing(record: logging.LogRecord) -> bool:
    """Whether `record` is TensorFlow's retracing warning about a simplenn function.

    Every `Trainer` wraps its own network's `forward` and its own steps in new
    `tf.function`s, each traced once per input shape; TensorFlow counts traces per Python
    function, so a second run in the same process (`ablate`, `bench`, a notebook) looks to
    it like one function retraced on every call. These traces are the work, not a mistake.
    """
    message = record.getMessage()
    return "triggered tf.function retracing" in message and (
        "Network.forward of Network(" in message or "<simplenn." in message
    )


def drop_new_run_tracing(record: logging.LogRecord) -> bool:
    """A `logging` filter: False (drop) for `is_new_run_tracing` records."""
    return not is_new_run_tracing(record)


@contextlib.contextmanager
def retracing_expected():
    """Drop every retracing warning inside the block: for code that traces new shapes on purpose."""

    def drop(record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()

    logger = logging.getLogger("tensorflow")
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)
