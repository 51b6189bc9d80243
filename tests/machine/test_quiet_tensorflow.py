"""After `simplenn.set_up()`, TensorFlow says nothing on stderr when simplenn imports it, and its
retracing warning about simplenn's per-run functions is dropped, while its other warnings still arrive."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from simplenn.machine.quiet_tensorflow import is_new_run_tracing, retracing_expected, tf


def run_python(code: str) -> subprocess.CompletedProcess:
    # stderr is a pipe here, as it is in a Jupyter kernel
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # a fresh process
def test_importing_a_module_that_needs_tensorflow_prints_nothing():
    done = run_python("import simplenn; simplenn.set_up(); from simplenn.nn.network import Network; print(Network([4, 3, 2]))")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith("Network(4 → 3 → 2")


@pytest.mark.slow  # a fresh process
def test_stderr_works_again_after_the_import():
    done = run_python("import sys, simplenn; simplenn.set_up(); from simplenn.machine.quiet_tensorflow import tf; "
                      "print('still here', file=sys.stderr)")
    assert done.stderr == "still here\n"


@pytest.mark.slow  # a fresh process
def test_tensorflow_comes_without_keras_and_keras_comes_quietly_when_training_asks_for_it():
    code = (
        "import importlib.util, sys, simplenn\n"
        "simplenn.set_up()\n"
        "from simplenn.machine.quiet_tensorflow import tf\n"
        "print(sorted(m for m in ('keras', 'jax', 'sklearn', 'matplotlib') if m in sys.modules))\n"
        "from simplenn.config import preset\n"
        "from simplenn.nn.optimizers import make_optimizer\n"
        "print(type(make_optimizer(preset('fixed'), steps_per_epoch=10)).__name__)\n"
        "print(sorted(m for m in ('keras', 'jax', 'matplotlib', 'IPython', 'sklearn') if m in sys.modules))\n"
        "if importlib.util.find_spec('jax'):  # left out of the imports, not out of reach\n"
        "    import jax\n"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.splitlines() == ["[]", "AdamW", "['keras']"]


@pytest.mark.slow  # a fresh process
def test_keras_scikit_learn_wrappers_left_out_with_scikit_learn_work_when_first_used():
    code = (
        "import sys, simplenn\n"
        "simplenn.set_up()\n"
        "from simplenn.machine.quiet_tensorflow import keras, tf\n"
        "print('sklearn' in sys.modules)\n"
        "import sklearn.base\n"
        "print(issubclass(keras.wrappers.SKLearnClassifier, sklearn.base.BaseEstimator))\n"
        "from keras.wrappers import SKLearnRegressor\n"
        "print(issubclass(SKLearnRegressor, sklearn.base.RegressorMixin))\n"
        "print(tf.keras.wrappers.SKLearnRegressor is SKLearnRegressor)\n"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["False", "True", "True", "True"]


@pytest.mark.slow  # a fresh process
def test_without_set_up_tensorflow_is_imported_as_it_is():
    done = run_python("import sys; from simplenn.machine.quiet_tensorflow import tf; print('keras' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "True\n"  # TensorFlow's own import loads Keras


@pytest.mark.slow  # a fresh process
def test_many_runs_in_one_process_raise_no_retracing_warning():
    code = (
        "import numpy as np, simplenn\n"
        "simplenn.set_up()\n"
        "from simplenn.config import preset\n"
        "from simplenn.training.trainer import Trainer\n"
        "config = preset('fixed').replace(layers=(4, 3, 2), jit_compile=False)\n"
        "for run in range(8):\n"
        "    Trainer(config, n_train=10).forward(np.zeros((run + 1, 4), np.float32))\n"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord("tensorflow", logging.WARNING, __file__, 1, message, None, None)


def test_only_simplenn_functions_retracing_is_dropped():
    about = "5 out of the last 5 calls to {} triggered tf.function retracing. Tracing is expensive"
    assert is_new_run_tracing(record(about.format("<bound method Network.forward of Network(64 → 10)>")))
    assert is_new_run_tracing(record(about.format("<bound method Trainer._train_steps of <simplenn.training.trainer.Trainer>>")))
    assert not is_new_run_tracing(record(about.format("<function my_own_step at 0x7f>")))
    assert not is_new_run_tracing(record("some other warning about Network.forward of Network("))
    assert tf.get_logger().filters  # the filter is installed on TensorFlow's logger (conftest calls set_up)


def test_code_that_traces_new_shapes_on_purpose_can_drop_every_retracing_warning():
    about = "5 out of the last 5 calls to <function products at 0x7f> triggered tf.function retracing."
    logger = tf.get_logger()
    with retracing_expected():
        assert not all(check(record(about)) for check in logger.filters)
    assert all(check(record(about)) for check in logger.filters)


@pytest.mark.slow  # a fresh process
def test_one_commands_import_leaves_its_objects_frozen_and_the_collector_as_it_found_it():
    # Frozen: later collections skip TensorFlow's ~450,000 objects (0.6 s of the import,
    # 0.2 s of the first trace). The collector runs again afterwards, unless it was off.
    code = ("import gc, simplenn; {before}simplenn.set_up(one_command=True); "
            "from simplenn.machine.quiet_tensorflow import tf; print(gc.isenabled(), gc.get_freeze_count())")
    for before, collecting in (("", True), ("gc.disable(); ", False)):
        done = run_python(code.format(before=before))
        assert done.returncode == 0, done.stderr
        enabled, frozen = done.stdout.split()
        assert enabled == str(collecting)
        assert int(frozen) > 100_000


@pytest.mark.slow  # a fresh process
def test_a_process_that_goes_on_keeps_nothing_of_the_caller_that_imported_tensorflow():
    # TensorFlow and Keras catch ImportErrors while they load; the frames those pass through,
    # the caller's among them, would hold its locals for good had the import been frozen.
    code = (
        "import gc, weakref, simplenn\n"
        "simplenn.set_up()\n"
        "class Data: pass\n"
        "def fit(data):\n"
        "    from simplenn.machine.quiet_tensorflow import keras, tf  # first use, inside the caller\n"
        "    return weakref.ref(data)\n"
        "alive = fit(Data())\n"
        "gc.collect()\n"
        "print(alive() is None, gc.get_freeze_count(), gc.isenabled())\n"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "0", "True"]
