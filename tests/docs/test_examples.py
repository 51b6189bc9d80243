"""`examples/post_fixed.py`: the post's program, fixed, fits on one screen, reaches its
target on digits, and fails loudly when it misses it."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "post_fixed.py"
ONE_SCREEN = 60  # lines, counting everything


def run(script: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script), "--dataset", "digits"],
                          capture_output=True, text=True, timeout=300)


def test_post_fixed_fits_on_one_screen():
    assert len(EXAMPLE.read_text().splitlines()) <= ONE_SCREEN


@pytest.mark.slow  # the example in its own process
def test_post_fixed_reaches_its_target_on_digits():
    done = run(EXAMPLE)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    epochs = re.findall(r"^epoch +(\d+) +loss ([\d.]+) +test accuracy ([\d.]+)$", done.stdout, re.MULTILINE)
    assert [int(epoch) for epoch, _, _ in epochs] == list(range(1, len(epochs) + 1))
    final_accuracy = float(epochs[-1][2])
    assert final_accuracy >= 0.95
    assert float(epochs[-1][1]) < float(epochs[0][1])  # the loss came down
    assert done.stdout.endswith(f"test accuracy {final_accuracy:.4f} reaches the target 0.95\n")


@pytest.mark.slow  # the example in its own process
def test_post_fixed_exits_non_zero_below_its_target(tmp_path):
    source = EXAMPLE.read_text()
    assert source.count("TARGET = 0.95") == 1
    unreachable = tmp_path / "post_fixed.py"
    unreachable.write_text(source.replace("TARGET = 0.95", "TARGET = 1.01"))
    done = run(unreachable)
    assert done.returncode == 1
    assert re.search(r"FAILED: test accuracy 0\.\d{4} is below the target 1\.01\n$", done.stderr), done.stderr[-2000:]
