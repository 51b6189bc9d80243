"""A run's live line on a terminal: the epoch's bar while it runs, then its figures in its place.

    epoch 3/30 [========>...........]  98/235  run ETA 1:52  loss 0.4213  accuracy 85.10
    epoch 3/30  loss 0.4012  accuracy score : 86.02  lr 0.0049  41,000 samples/s  1.45s  run ETA 1:49

Each epoch leaves one line, as in a log, but the bar is redrawn in place (`\r`) instead of
printed beside the numbers. The ETA is for the whole run, from the speed of the steps done
so far in this process after the first chunk (which includes compiling). Keras's `Progbar` draws the bar but cannot hand its line over to the
epoch's figures, hence these few lines.
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass
from typing import TextIO

BAR_WIDTH = 20
CLEAR_TO_END = "\x1b[K"  # erase what is left of the line from an earlier, longer draw


@dataclass
class EpochRecord:
    """One line of a run's history; accuracies are fractions in 0-1."""

    epoch: int
    loss: float
    accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    lr: float
    seconds: float
    samples_per_s: float


def epoch_line(record: EpochRecord, epochs: int) -> str:
    """The post's report, one line per epoch: `epoch 3/5  loss …  accuracy score : 87.12`."""
    line = f"epoch {record.epoch}/{epochs}  loss {record.loss:.4f}  accuracy score : {100 * record.accuracy:.2f}"
    if record.val_accuracy is not None:
        line += f"  val_loss {record.val_loss:.4f}  val_accuracy {100 * record.val_accuracy:.2f}"
    return line + f"  lr {record.lr:.2g}  {record.samples_per_s:,.0f} samples/s  {record.seconds:.2f}s"


def format_duration(seconds: float) -> str:
    """`1:52`, `1:02:07`: minutes and seconds, hours when there are any."""
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class EpochProgress:
    """The live line of a run of `epochs` epochs of `steps_per_epoch` steps, written to `stream`."""

    def __init__(self, epochs: int, steps_per_epoch: int, stream: TextIO | None = None):
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.stream = stream or sys.stdout
        # The clock starts at the first update, so that compiling the steps, which the first
        # chunk pays for, does not count as the speed of the rest of the run.
        self._started: float | None = None
        self._first_position = 0  # the run's step count when the clock started (a resumed run's is not 0)
        self._drawn = False  # a bar is on the line, not yet ended by a newline

    def update(self, epoch: int, step: int, loss: float, accuracy: float) -> None:
        """Redraw the bar: `step` of the epoch's steps are done."""
        filled = BAR_WIDTH * step // self.steps_per_epoch
        bar = ("=" * filled + ">").ljust(BAR_WIDTH, ".")[:BAR_WIDTH]
        width = len(str(self.steps_per_epoch))
        self._draw(
            f"epoch {epoch}/{self.epochs} [{bar}] {step:>{width}}/{self.steps_per_epoch}{self._eta(epoch, step)}  "
            f"loss {loss:.4f}  accuracy {100 * accuracy:.2f}",
            fit_the_width=True,
        )

    def finish_epoch(self, epoch: int, line: str) -> None:
        """Replace the bar with the epoch's figures (`epoch_line`) and end the line."""
        self._draw(line + (self._eta(epoch, self.steps_per_epoch) if epoch < self.epochs else ""))
        self.close()

    def close(self) -> None:
        """End a bar's line, so that whatever is printed next starts on a line of its own."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def _eta(self, epoch: int, step: int) -> str:
        position = (epoch - 1) * self.steps_per_epoch + step  # steps done in the whole run
        if self._started is None:
            self._started, self._first_position = time.perf_counter(), position
        done = position - self._first_position  # since the clock started
        if done <= 0:
            return ""
        remaining = (self.epochs * self.steps_per_epoch - position) * (time.perf_counter() - self._started) / done
        return f"  run ETA {format_duration(remaining)}"

    def _draw(self, text: str, fit_the_width: bool = False) -> None:
        """Write `text` over the line; a bar is cut to the terminal's width, as a wrapped line could not be redrawn."""
        if fit_the_width:
            text = text[: max(shutil.get_terminal_size().columns - 1, 20)]
        self.stream.write("\r" + text + CLEAR_TO_END)
        self.stream.flush()
        self._drawn = True
