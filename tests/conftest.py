"""Shared test set-up: quiet TensorFlow, and the runs trained once a session (`shared_runs` says what they are)."""

import os

import pytest

import simplenn
from shared_runs import DIGITS_RUN_EPOCHS, SMALL

os.environ.setdefault("MPLBACKEND", "Agg")
simplenn.set_up()  # TensorFlow loads quietly, as under the CLI and in the notebook
# Loaded here, the quiet way, before any test module's own `import tensorflow`: TensorFlow's
# plain import brings JAX, which sets TF_CPP_MIN_LOG_LEVEL=1 for this process and so for
# every fresh process a test starts to check that simplenn says nothing on stderr.
from simplenn.machine.quiet_tensorflow import tf  # noqa: E402,F401


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """A real run of `simplenn train --preset fixed` on the 8x8 digits, 10 epochs, written by the real CLI.

    Shared by every test that inspects, predicts with, serves or exports a run; a test that
    damages it works on a copy.
    """
    from simplenn.cli import main

    run_dir = tmp_path_factory.mktemp("digits-run") / "run"
    code = main(["train", "--preset", "fixed", "--dataset", "digits", "--epochs", str(DIGITS_RUN_EPOCHS),
                 "--run-dir", str(run_dir), "--quiet"])
    assert code == 0
    return run_dir


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """A finished one-epoch run of a 64-16-10 network on digits (`shared_runs.SMALL`), by the real CLI.

    For the tests that need a finished run, not a good one; a test that changes it works on a copy.
    """
    from simplenn.cli import main

    run_dir = tmp_path_factory.mktemp("small-run") / "run"
    assert main(["train", *SMALL, "--run-dir", str(run_dir)]) == 0
    return run_dir


@pytest.fixture(scope="module")
def run(digits_run):
    """The shared digits run, loaded (`load_run`), for the serving tests."""
    from simplenn.runs.loaded_run import load_run

    return load_run(digits_run)


@pytest.fixture(scope="module")
def client(run):
    """`simplenn serve`'s app for `run`, through Starlette's test client."""
    from starlette.testclient import TestClient

    from simplenn.serving import server

    with TestClient(server.create_app(run), base_url="http://localhost", raise_server_exceptions=False) as client:
        yield client
