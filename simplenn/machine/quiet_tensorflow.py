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
  of 0.45 s). So the collector is paused for the import. In a process that runs one
  command (`set_up(one_command=True)`: the CLI, a lab run, a bench peer) what the import
  made is then frozen (`gc.freeze`): later collections skip it. Freezing keeps whatever
  is garbage at that moment for good, though, and the import leaves some behind: the
  exceptions TensorFlow and Keras catch hold the frames they passed through, the caller's
  among them, with its locals (an estimator's `fit`, its X). A process that goes on
  (a notebook, a script, a grid search) therefore collects once instead (0.24 s here), so
  that nothing of the caller's is kept.
- TensorFlow's retracing warning about simplenn's per-run functions is dropped (see
  `is_new_run_tracing`); its other warnings still arrive.
- TensorFlow's own import also loads Keras, and through `tf.lite` JAX: with them
  scikit-learn, SciPy, matplotlib and IPython, two fifths of the import. A forward pass and
  a checkpoint need none of them, so they are left out; Keras comes when training first
  asks for an optimizer (`keras` below), and Keras's own import leaves out JAX, matplotlib
  and IPython (`import_keras`), which take nine tenths of it.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.abc
import importlib.machinery
import logging
import os
import sys

from simplenn.machine.compile_cache import use_compile_cache

_set_up = False  # whether `set_up` was called: TensorFlow is then imported quietly
_one_command = False  # whether the process ends with its command: the import's objects are then frozen


def set_up(one_command: bool = False) -> None:
    """Make TensorFlow's import quiet and cached when it comes (now, if it already came).

    one_command: the process runs one command and ends, so the import's objects may be
    frozen as they are, garbage and all (see the module docstring).
    """
    global _set_up, _one_command
    _set_up, _one_command = True, one_command
    if "tensorflow" in sys.modules:  # imported before the call: only its warnings can still be filtered
        _filter_warnings(sys.modules["tensorflow"])


def __getattr__(name: str):
    """`tf` and `keras`: TensorFlow and Keras, imported on first use (as `set_up` describes after it)."""
    if name == "tf":
        module = import_tensorflow() if _set_up else importlib.import_module("tensorflow")
    elif name == "keras":
        module = import_keras() if _set_up else importlib.import_module("keras")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = module  # later look-ups find it directly
    return module


def import_tensorflow():
    """The `tensorflow` module, imported as `set_up` describes: muted, cached, lean, the collector paused."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # later messages (XLA, the GPU probe) do honour it
    use_compile_cache()  # before TensorFlow reads TF_XLA_FLAGS
    tf = _import_lean("tensorflow", leaving_out=("keras", "jax"))
    _filter_warnings(tf)
    return tf


def import_keras():
    """The `keras` module, imported as TensorFlow is: muted, lean, the collector paused.

    Only training needs Keras, for its optimizers. Keras tries JAX (a shim for its Orbax
    callback), matplotlib (`keras.visualization`'s plots), IPython (notebook detection)
    and scikit-learn (its `keras.wrappers`, which bring SciPy's statistics) where it would
    do without them; left out, its import takes 0.1 s here (0.5 s with scikit-learn alone,
    a tenth of `simplenn train --dataset digits`). Those imported before Keras are used
    as usual, and `keras.wrappers` left without scikit-learn is imported again when first
    used (`_wrappers_when_used`).
    """
    if "keras" in sys.modules:
        return sys.modules["keras"]
    import_tensorflow()  # Keras's TensorFlow backend: TensorFlow first, quietly
    keras = _import_lean("keras", leaving_out=("jax", "matplotlib", "IPython", "sklearn"))
    if "sklearn" not in sys.modules:
        _wrappers_when_used()
    return keras


def _wrappers_when_used() -> None:
    """Forget Keras's scikit-learn wrappers, imported without scikit-learn, so that their first
    use imports them again, with it (`keras.wrappers.SKLearnClassifier`, `from keras.wrappers import ...`).

    Without scikit-learn they would stand on stand-in base classes and refuse to work.
    """
    forgotten = {name: module for name, module in sys.modules.items()
                 if name in ("keras.wrappers", "keras.src.wrappers")
                 or name.startswith(("keras.wrappers.", "keras.src.wrappers."))}
    for name in forgotten:
        del sys.modules[name]
    for parent in [m for name, m in list(sys.modules.items()) if name == "keras" or name.startswith("keras.")]:
        module = getattr(parent, "__dict__", {}).get("wrappers")
        if module is not None and module in forgotten.values():
            del parent.__dict__["wrappers"]
            parent.__dict__.setdefault("__getattr__", _import_on_first_use(parent, "wrappers", module.__name__))


def _import_on_first_use(parent, attribute: str, module_name: str):
    """A module `__getattr__` (PEP 562) for `parent` that imports `module_name` as `parent.attribute`."""
    def __getattr__(name: str):
        if name != attribute:
            raise AttributeError(f"module {parent.__name__!r} has no attribute {name!r}")
        module = importlib.import_module(module_name)
        setattr(parent, attribute, module)
        return module

    return __getattr__


def _import_lean(name: str, leaving_out: tuple[str, ...]):
    """`import name`, muted, without the packages `leaving_out`, the collector paused; then what it
    made frozen (one command) or its garbage collected (a process that goes on)."""
    if name in sys.modules:
        return sys.modules[name]
    left_out = LeftOut(leaving_out)
    sys.meta_path.insert(0, left_out)
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _import_muted(name)
    finally:
        sys.meta_path.remove(left_out)
        if _one_command:
            gc.freeze()
        else:
            gc.collect()
        if collecting:
            gc.enable()


class LeftOut(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """While in `sys.meta_path`, importing one of `packages` not loaded yet fails, as if it were missing.

    TensorFlow and Keras import these only where they do without them (`try: ... except
    ImportError`), so they load later, if something uses them. A search that only looks
    for one (`importlib.util.find_spec`, as TensorFlow's module paths do) still finds it.
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
        raise ImportError(f"{spec.name} is loaded when first used, not with TensorFlow or Keras")

    def exec_module(self, module):  # never reached: create_module refuses
        raise ImportError(f"{module.__name__} is loaded when first used, not with TensorFlow or Keras")


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
