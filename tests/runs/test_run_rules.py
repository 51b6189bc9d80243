"""The run rules hold for Python callers as for the CLI: one check, the same words."""

from __future__ import annotations

import json

import pytest

from simplenn.config import preset
from simplenn.errors import SimplennError
from simplenn.runs.experiment import train_and_evaluate
from simplenn.runs.run_rules import check_run_start


def test_a_multiworker_run_needs_a_run_directory_from_python_too(monkeypatch):
    workers = {"cluster": {"worker": ["127.0.0.1:1234", "127.0.0.1:1235"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(workers))
    config = preset("fixed").replace(dataset="digits", strategy="multiworker")
    with pytest.raises(SimplennError, match="^--strategy multiworker needs --run-dir: every worker must name"):
        train_and_evaluate(config)  # before any data is read or TensorFlow server started


def test_resuming_with_another_config_names_what_differs(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    stored = preset("fixed").replace(dataset="digits", epochs=2)
    (run_dir / "config.json").write_text(json.dumps(stored.to_dict()))
    with pytest.raises(SimplennError) as raised:
        train_and_evaluate(stored.replace(lr=0.1, epochs=3), run_dir=run_dir, resume=True)
    assert str(raised.value) == f"--resume goes on with the config stored in {run_dir}/config.json; drop --lr, --epochs"
    assert check_run_start(stored, run_dir, resume=True) is None  # the stored config itself goes on


def test_a_new_run_is_checked_before_anything_is_written(tmp_path):
    taken = tmp_path / "file"
    taken.write_text("mine")
    with pytest.raises(SimplennError, match="is a file; choose another --run-dir"):
        check_run_start(preset("fixed").replace(dataset="digits"), taken)
    with pytest.raises(SimplennError, match="expected a dataset name"):
        check_run_start(preset("fixed").replace(dataset="no-such-set"), tmp_path / "run")
    assert taken.read_text() == "mine" and not (tmp_path / "run").exists()
