"""TensorFlow, imported without its start-up lines on stderr.

    from simplenn.quiet_tensorflow import tf   # instead of `import tensorflow as tf`

TensorFlow 2.21 logs through absl while its C++ libraries load, before
`TF_CPP_MIN_LOG_LEVEL` takes effect: "oneDNN custom operations are on", "Could not find
cuda drivers", CPU features. Those lines would bury the CLI's one-line messages and the
notebook's output, so every simplenn module that needs TensorFlow imports it from here,
and the first one to do so loads it with file descriptor 2 pointed at /dev/null. That
works wherever fd 2 leads: a terminal, a file, or the pipe a Jupyter kernel reads.
Errors raised by the import itself still arrive, as Python exceptions.

TensorFlow's own import also loads Keras, and through `tf.lite` JAX, when they are
installed: with them scikit-learn, SciPy, matplotlib and IPython, two fifths of the import.
A network's forward pass and its checkpoint need none of them, so they are deferred:
`import_keras` loads Keras when training first needs an optimizer, and JAX loads when
something imports it.
"""

from __future__ import annotations

import gc
import importlib
import importlib.abc
import importlib.machinery
import logging
import os
import sys

from simplenn.compile_cache import use_compile_cache

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
    deferred = DeferredImports(("keras", "jax"))
    sys.meta_path.insert(0, deferred)
    try:
        return _import_frozen("tensorflow")
    finally:
        sys.meta_path.remove(deferred)


def import_keras():
    """The `keras` module, imported as TensorFlow is: muted, with what it made frozen.

    Only training needs Keras, for its optimizers. Keras in turn tries JAX (a shim for its
    Orbax callback), matplotlib (`keras.visualization`'s plots) and IPython (notebook
    detection) where it would do without them; those three are left out of its import,
    which then takes a tenth of the time. Imported before Keras, they are used as usual.
    """
    import_tensorflow()  # Keras's TensorFlow backend: TensorFlow first, quietly
    if "keras" in sys.modules:
        return sys.modules["keras"]
    deferred = DeferredImports(("jax", "matplotlib", "IPython"))
    sys.meta_path.insert(0, deferred)
    try:
        return _import_frozen("keras")
    finally:
        sys.meta_path.remove(deferred)


def _import_frozen(name: str):
    """`import name` muted, with the cyclic collector paused and what it made frozen."""
    if name in sys.modules:
        return sys.modules[name]
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _import_muted(name)
    finally:
        gc.freeze()
        if collecting:
            gc.enable()


class DeferredImports(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """While installed, importing one of `packages` not yet loaded fails, as if it were missing.

    TensorFlow and Keras import these only where they would do without them (`try: ...
    except ImportError`), so they can load later, when something uses them. A search that
    only looks for them (`importlib.util.find_spec`, as TensorFlow's module paths do)
    still finds where they are.
    """

    def __init__(self, packages: tuple[str, ...]):
        self.packages = packages

    def find_spec(self, name, path=None, target=None):
        package = name.partition(".")[0]
        if package not in self.packages or package in sys.modules:  # one already loaded is used as usual
            return None
        found = importlib.machinery.PathFinder.find_spec(name, path)
        if found is None:
            return None
        return importlib.machinery.ModuleSpec(
            name, self, origin=found.origin, is_package=found.submodule_search_locations is not None
        )

    def create_module(self, spec):
        raise ImportError(f"{spec.name} is loaded when first used, not with TensorFlow")

    def exec_module(self, module):  # never reached: create_module refuses
        raise ImportError(f"{module.__name__} is loaded when first used, not with TensorFlow")


def _import_muted(name: str):
    """`import name` with file descriptor 2 pointed at /dev/null while it runs."""
    sys.stderr.flush()
    try:
        saved_stderr = os.dup(2)
    except OSError:  # no fd 2 at all (a daemon): nothing to mute
        return importlib.import_module(name)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        return importlib.import_module(name)
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
