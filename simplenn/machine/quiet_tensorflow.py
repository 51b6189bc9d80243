"""TensorFlow, imported without its start-up lines on stderr.

    from simplenn.machine.quiet_tensorflow import tf   # instead of `import tensorflow as tf`

TensorFlow 2.21 logs through absl while its C++ libraries load, before
`TF_CPP_MIN_LOG_LEVEL` takes effect: "oneDNN custom operations are on", "Could not find
cuda drivers", CPU features. Those lines would bury the CLI's one-line messages and the
notebook's output, so every simplenn module that needs TensorFlow imports it from here,
and the first one to do so loads it with file descriptor 2 pointed at /dev/null. That
works wherever fd 2 leads: a terminal, a file, or the pipe a Jupyter kernel reads.
Errors raised by the import itself still arrive, as Python exceptions.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import sys

from simplenn.machine.compile_cache import use_compile_cache

# Later messages (XLA's compiler, the GPU probe) do honour it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def import_tensorflow():
    """The `tensorflow` module, imported with stderr muted at the file-descriptor level.

    The import creates about 450,000 Python objects that live as long as the process.
    With the cyclic garbage collector running, each full collection walks all of them:
    during the import (0.6 s of its 3.3 s here) and again while the first `tf.function`
    traces (0.2 s of 0.45 s). So the collector is paused for the import, and what it
    made is frozen (`gc.freeze`): later collections skip it.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _import_muted()
    finally:
        gc.freeze()
        if collecting:
            gc.enable()


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


def is_new_run_tracing(record: logging.LogRecord) -> bool:
    """Whether `record` is TensorFlow's retracing warning about a simplenn function.

    Every `Trainer` wraps its own network's `forward` and its own steps in new
    `tf.function`s, each traced once per input shape; TensorFlow counts traces per Python
    function, so a second run in the same process (`ablate`, `bench`, a notebook) looks to
    it like one function retraced on every call. These traces are the work, not a mistake.
    So are those of `bench.matmul_gflops`, one per shape it measures.
    """
    message = record.getMessage()
    return "triggered tf.function retracing" in message and (
        "Network.forward of Network(" in message or "<simplenn." in message
        or "matmul_gflops.<locals>.products" in message
    )


use_compile_cache()  # before TensorFlow reads TF_XLA_FLAGS
tf = import_tensorflow()
tf.get_logger().addFilter(lambda record: not is_new_run_tracing(record))
