"""The live line on a terminal: a bar redrawn in place, then the epoch's figures in its place.

Checked on a pseudo-terminal with the real command, and on a string buffer for the details.
"""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys

import pytest

from simplenn.training.progress import EpochProgress, format_duration


def test_each_epoch_leaves_one_line_its_bar_redrawn_then_replaced():
    stream = io.StringIO()
    progress = EpochProgress(epochs=2, steps_per_epoch=4, stream=stream)
    for epoch in (1, 2):
        for step in range(1, 5):
            progress.update(epoch, step, loss=1.0 / step, accuracy=0.5)
        progress.finish_epoch(epoch, f"epoch {epoch}/2  loss 0.2500")
    progress.close()  # nothing left to end
    lines = stream.getvalue().split("\n")
    assert len(lines) == 3 and lines[-1] == ""
    for epoch, line in zip((1, 2), lines):
        draws = line.split("\r")[1:]
        assert [draw.split(" [")[0] for draw in draws[:-1]] == [f"epoch {epoch}/2"] * 4
        assert draws[-1].startswith(f"epoch {epoch}/2  loss 0.2500")
        assert all(draw.endswith("\x1b[K") for draw in draws)
    assert "[====================] 4/4" in lines[0]
    assert re.search(r"epoch 1/2  loss 0\.2500  run ETA \d+:\d\d\x1b\[K$", lines[0])
    assert "ETA" not in lines[1].split("\r")[-1]  # the last epoch has nothing left


def test_close_ends_an_interrupted_bar():
    stream = io.StringIO()
    progress = EpochProgress(epochs=3, steps_per_epoch=10, stream=stream)
    progress.update(1, 3, 2.0, 0.1)
    progress.close()
    assert stream.getvalue().endswith("\x1b[K\n")


@pytest.mark.parametrize("seconds, shown", [(0, "0:00"), (59.6, "1:00"), (112, "1:52"), (3727, "1:02:07")])
def test_durations(seconds, shown):
    assert format_duration(seconds) == shown


def run_on_a_terminal(argv: list[str], cwd) -> str:
    """What `argv` writes to a pseudo-terminal, 100 columns wide."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "COLUMNS": "100"}
    process = subprocess.Popen(argv, stdin=terminal, stdout=terminal, stderr=terminal, cwd=cwd, env=env)
    os.close(terminal)
    written = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the process closed the terminal
            break
        if not chunk:
            break
        written += chunk
    assert process.wait(timeout=300) == 0, written.decode(errors="replace")
    os.close(controller)
    return written.decode()


@pytest.mark.slow  # a run in its own process
def test_train_on_a_terminal_shows_one_live_line_per_epoch(tmp_path):
    simplenn = [sys.executable, "-m", "simplenn.cli"]
    shown = run_on_a_terminal([*simplenn, "train", "--preset", "fixed", "--dataset", "digits", "--epochs", "3",
                               "--no-xla", "--run-dir", str(tmp_path / "run")], tmp_path)
    epoch_lines = [line for line in shown.split("\r\n") if "epoch " in line]
    assert len(epoch_lines) == 3  # one line per epoch: no bar on a line of its own, no figures twice
    for epoch, line in enumerate(epoch_lines, start=1):
        final = line.split("\r")[-1].removesuffix("\x1b[K")
        assert final.startswith(f"epoch {epoch}/3  loss ") and "accuracy score : " in final
        assert "[" not in final  # the bar is gone from the line
        assert final.count("samples/s") == 1
    assert "run ETA" in epoch_lines[1]
    assert shown.count("Traceback") == 0 and "oneDNN" not in shown
