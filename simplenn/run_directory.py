"""A run's folder: its config, history, summary and TensorBoard scalars.

    RUN_DIR/config.json      the `Config` the run was started with
    RUN_DIR/history.json     one record per finished epoch (also history.csv)
    RUN_DIR/summary.json     final scores, timings and `weights_sha256`
    RUN_DIR/tensorboard/     `tf.summary` scalars for `tensorboard --logdir runs`

Every file is written atomically (a temporary file in the same folder, flushed, then
renamed over the old one), so a killed process leaves the old file or the new one,
never half of one.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import tensorflow as tf

from simplenn.config import Config
from simplenn.errors import SimplennError
from simplenn.training import EpochRecord


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` so that readers see the old or the new file, whole."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(path: Path, value: Any) -> None:
    write_atomically(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SimplennError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SimplennError(f"cannot read {path}: {error}") from None


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

    def write_config(self, config: Config) -> None:
        write_atomically(self.path / "config.json", config.to_json() + "\n")

    def read_config(self) -> Config:
        return Config.from_dict(read_json(self.path / "config.json"))

    def read_history(self) -> list[EpochRecord]:
        path = self.path / "history.json"
        if not path.exists():
            return []
        return [EpochRecord(**record) for record in read_json(path)]

    def write_history(self, history: list[EpochRecord]) -> None:
        records = [dataclasses.asdict(record) for record in history]
        write_json(self.path / "history.json", records)
        table = io.StringIO()
        writer = csv.DictWriter(table, fieldnames=[f.name for f in dataclasses.fields(EpochRecord)])
        writer.writeheader()
        writer.writerows(records)
        write_atomically(self.path / "history.csv", table.getvalue())

    def write_scalars(self, record: EpochRecord) -> None:
        """Add one epoch to the TensorBoard log."""
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
