"""A run's folder and its records: config, history (one `EpochRecord` per epoch), summary, TensorBoard scalars.

    RUN_DIR/config.json      the `Config` the run was started with
    RUN_DIR/data.json        what the data said: its class names and image shape
    RUN_DIR/history.json     one record per finished epoch (also history.csv)
    RUN_DIR/summary.json     final scores, timings and `weights_sha256`
    RUN_DIR/tensorboard/     `tf.summary` scalars for `tensorboard --logdir runs`
    RUN_DIR/checkpoints/     the latest checkpoints (see `checkpoints.py`)
    RUN_DIR/.lock            held by the one process writing the run

Every file is written atomically (`file_safety.write_atomically`), so a killed process
leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import fcntl
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from simplenn.config import Config, ConfigError
from simplenn.errors import SimplennError
from simplenn.file_safety import read_json, remove_unfinished_writes, write_json, write_text


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


class RunDirectory:
    """The files of one training run under `path`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._summary_writer = None

    def create(self) -> "RunDirectory":
        if self.path.exists() and not self.path.is_dir():
            raise SimplennError(f"run directory {self.path} is a file; choose another --run-dir")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SimplennError(f"cannot create run directory {self.path}: {error.strerror}") from None
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise SimplennError(f"run directory {self.path} is not writable; choose another --run-dir")
        return self

    def open(self) -> "RunDirectory":
        """This directory as an earlier run to resume, or `SimplennError` saying why it is not one."""
        if not (self.path / "config.json").is_file():
            found = "does not exist" if not self.path.exists() else "is not a folder" if not self.path.is_dir() \
                else "holds no config.json"
            raise SimplennError(
                f"cannot resume {self.path}: it {found}; give the --run-dir of an earlier `simplenn train`"
            )
        return self

    def require_new(self) -> None:
        """Refuse to start a run over another one, whose checkpoints it would mix with its own."""
        if (self.path / "config.json").exists():
            raise SimplennError(
                f"run directory {self.path} already holds a run; continue it with "
                f"`simplenn train --resume {self.path}`, or choose another --run-dir"
            )

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def finished(self) -> bool:
        return (self.path / "summary.json").is_file()

    @contextlib.contextmanager
    def lock(self) -> Iterator["RunDirectory"]:
        """Hold RUN_DIR/.lock, so that a second process refuses to write this run.

        An flock belongs to the open file, so the operating system drops it when the
        process ends in any way, SIGKILL included: a killed run never leaves it stuck.
        Once held, the temporary files of a killed writer are cleared away.
        """
        path = self.path / ".lock"
        try:
            handle = open(path, "a+", encoding="ascii")  # "a+": create it, keep the holder's pid
        except OSError as error:
            raise SimplennError(f"cannot lock {path}: {error.strerror or error}") from None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                raise SimplennError(
                    f"run directory {self.path} is in use by another simplenn process (pid {holder}); "
                    "wait for it to finish, or choose another --run-dir"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            remove_unfinished_writes(self.path)
            yield self

    def write_config(self, config: Config) -> None:
        write_text(self.path / "config.json", config.to_json() + "\n")

    def read_config(self) -> Config:
        path = self.path / "config.json"
        try:
            return Config.from_dict(read_json(path))
        except ConfigError as error:
            raise SimplennError(f"{path}: config field {error}") from None

    def write_data_facts(self, class_names, image_shape: tuple[int, int]) -> None:
        """data.json: what `load_run` needs to know of the data without reading it again."""
        write_json(self.path / "data.json", {"class_names": list(class_names), "image_shape": list(image_shape)})

    def read_data_facts(self) -> dict | None:
        """data.json's `class_names` and `image_shape`, or None for a run recorded before it existed."""
        path = self.path / "data.json"
        if not path.exists():
            return None
        facts = read_json(path)
        if not (isinstance(facts, dict) and isinstance(facts.get("class_names"), list)
                and isinstance(facts.get("image_shape"), list) and len(facts["image_shape"]) == 2):
            raise SimplennError(f"cannot read {path}: expected class_names and image_shape")
        return facts

    def read_history(self) -> list[EpochRecord]:
        path = self.path / "history.json"
        if not path.exists():
            return []
        try:
            return [EpochRecord(**record) for record in read_json(path)]
        except TypeError as error:
            raise SimplennError(f"cannot read {path}: it does not hold epoch records ({error})") from None

    def write_history(self, history: list[EpochRecord]) -> None:
        records = [dataclasses.asdict(record) for record in history]
        write_json(self.path / "history.json", records)
        table = io.StringIO()
        writer = csv.DictWriter(table, fieldnames=[f.name for f in dataclasses.fields(EpochRecord)])
        writer.writeheader()
        writer.writerows(records)
        write_text(self.path / "history.csv", table.getvalue())

    def write_scalars(self, record: EpochRecord) -> None:
        """Add one epoch to the TensorBoard log."""
        import tensorflow as tf  # only here: reading a run needs no TensorFlow

        if self._summary_writer is None:
            self._summary_writer = tf.summary.create_file_writer(str(self.path / "tensorboard"))
        with self._summary_writer.as_default(step=record.epoch):
            for name, value in dataclasses.asdict(record).items():
                if name != "epoch" and value is not None:
                    tf.summary.scalar(name, value)
        self._summary_writer.flush()

    def write_summary(self, summary: dict) -> None:
        write_json(self.path / "summary.json", summary)

    def read_summary(self) -> dict:
        return read_json(self.path / "summary.json")
