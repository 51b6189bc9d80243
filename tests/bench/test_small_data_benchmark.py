"""`benchmarks/small_data.py` keeps working: its estimator workloads, one fresh-process round, its report.

No figure is asserted: the times depend on the machine; what is checked is that every
piece runs and that the report says which target is met by the figures it is given.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "small_data.py"
pytestmark = pytest.mark.slow  # the benchmark script's workloads, and a round in fresh processes


@pytest.fixture(scope="module")
def small_data():
    spec = importlib.util.spec_from_file_location("small_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.mark.parametrize("workload", ["estimator-cv", "mlp-grid"])
def test_each_kind_of_workload_runs_in_process_scores_and_times_each_call(small_data, workload):
    done = small_data.run_workload(workload, epochs=1, calls=2)
    assert 0.0 <= done["accuracy"] <= 1.0
    assert len(done["calls"]) == 2 and all(seconds > 0 for seconds in done["calls"])


def test_one_round_in_fresh_processes_prints_the_report(digits_run):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--repeat", "1", "--epochs", "1", "--only", "predict",
         "--run", str(digits_run), "--threads", "1"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    report = done.stdout
    assert report.startswith("load average before ") and "threads: 1\n" in report
    assert "\npredict " in report
    assert "simplenn predict of one image in at most 3 s: " in report  # met or not, with its figure


def test_targets_are_judged_from_the_medians_and_accuracies(small_data):
    results = {
        "estimator-cv": {"seconds": [3.0, 9.0, 4.0], "accuracy": 0.95, "first_call": [2.0, 2.5, 3.0],
                         "next_call": [0.5, 0.4, 0.6]},
        "mlp-cv": {"seconds": [2.0, 2.0, 2.0], "accuracy": 0.90, "first_call": [0.5, 0.5, 0.5],
                   "next_call": [0.3, 0.3, 0.3]},
        "estimator-grid": {"seconds": [5.0], "accuracy": 0.80},
        "mlp-grid": {"seconds": [5.0], "accuracy": 0.90},
        "train": {"seconds": [4.5, 3.5, 3.9], "accuracy": None},
        "predict": {"seconds": [3.1], "accuracy": None},
    }
    lines = small_data.target_lines(results)
    assert lines == [
        "  met     cross-validation within 2x MLPClassifier, at equal or better accuracy (whole process): "
        "2.0x, accuracy 95.0 % against 90.0 %",
        "  missed  cross-validation within 2x MLPClassifier, at equal or better accuracy (first call): "
        "5.0x, accuracy 95.0 % against 90.0 %",
        "  met     cross-validation within 2x MLPClassifier, at equal or better accuracy (next call): "
        "1.7x, accuracy 95.0 % against 90.0 %",
        "  missed  grid search within 2x MLPClassifier, at equal or better accuracy (whole process): "
        "1.0x, accuracy 80.0 % against 90.0 %",
        "  met     simplenn train --preset fixed --dataset digits in at most 4 s: 3.90 s",
        "  missed  simplenn predict of one image in at most 3 s: 3.10 s",
    ]
    report = small_data.format_report(results, (1.0, 2.0, 3.0), (1.5, 2.0, 3.0))
    assert ("simplenn.Classifier / MLPClassifier, cross-validation: "
            "2.0x whole process, 5.0x first call, 1.7x next call") in report
    assert "\n  next call        0.50s            0.50 0.40 0.60\n" in report
    assert "simplenn.Classifier / MLPClassifier, grid search: 1.0x whole process" in report
    assert report.startswith("load average before 1.00 2.00 3.00, after 1.50 2.00 3.00")
    assert "threads: each library its own" in report.splitlines()[0]
