"""A run's folder and its records: config, history (one `EpochRecord` per epoch), summary, TensorBoard scalars.

    RUN_DIR/config.json      the `Config` the run was started with
    RUN_DIR/data.json        what the data said: its class names and image shape
    RUN_DIR/history.json     one record per finished epoch (also history.csv)
    RUN_DIR/summary.json     final scores, timings and `weights_sha256`
    RUN_DIR/tensorboard/     `tf.summary` scalars for `tensorboard --logdir runs`
    RUN_DIR/checkpoints/     the latest checkpoints (see `checkpoints.py`)
    RUN_DIR/.lock            held by the one process writing the run

Every file is written atomically (`file_safety.write_atomically`), so a killed process
leaves the old file or the new one, never half of one. A run directory is someone else's
files as often as one's own (copied, downloaded, or `--run-dir .`), so simplenn refuses
one where any of the names above is a symbolic link, opens `.lock` without following a
link, and deletes nothing there but its own temporary files.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import errno
import fcntl
import io
import json
import os
import re
import shlex
import stat
import time
from pathlib import Path
from typing import Iterator

from simplenn.config import Config, ConfigError
from simplenn.datasets.validation import MAX_CLASSES
from simplenn.errors import SimplennError
from simplenn.training.progress import EpochRecord
from simplenn.machine.file_safety import (
    RUN_RECORD_FOLDERS,
    RUN_RECORDS,
    DiskFull,
    is_disk_full,
    read_json,
    remove_unfinished_writes,
    require_no_links,
    run_record_of,
    user_path,
    write_error,
    write_json,
    write_text,
)

LOCK_NAME = ".lock"
# Everything simplenn writes in a run directory: none of them may be a link.
RUN_FILES = RUN_RECORDS + ("evaluation.json", "report.html")
RUN_FOLDERS = RUN_RECORD_FOLDERS + ("figures",)
MAX_IMAGE_SIDE = 4096  # data.json's image_shape: larger sides are a damaged file, not a dataset
SCALARS_BYTES = 4096  # an event file's header and one epoch's scalars, rounded up to a disk block
LOCK_CONTENT = re.compile(r"\d*\n?")  # what simplenn writes in .lock: its pid, or nothing yet
# summary.json: the fields that commands read back, and their JSON types.
# test_accuracy and test_scores are null for a run that trained on every example (--test-split 0).
SUMMARY_FIELDS = {"test_accuracy": (int, float, type(None)), "train_accuracy": (int, float),
                  "train_seconds": (int, float), "epochs": int, "weights_sha256": str,
                  "test_scores": (dict, type(None)), "config": dict}
SCORE_FIELDS = tuple(f"{score}_{average}" for average in ("micro", "macro")
                     for score in ("precision", "recall", "f1")) + ("accuracy",)


def default_run_dir(config: Config) -> Path:
    """runs/PRESET-DATASET-TIME, e.g. runs/fixed-digits-20261127-201500."""
    return Path("runs") / f"{config.preset}-{config.dataset.replace('/', '_')}-{time.strftime('%Y%m%d-%H%M%S')}"


class RunDirectory:
    """The files of one training run under `path`."""

    def __init__(self, path: str | Path):
        self.path = user_path(path, "run directory")
        self.made_here = False  # whether `create` made the folder
        self._summary_writer = None

    def check_new(self) -> "RunDirectory":
        """Raise `SimplennError` if a new run cannot be written here; writes nothing.

        Called before the data is loaded, so that a mistake costs no time; `create` makes
        the folder only once the run is ready to start.
        """
        self.require_not_link()
        if self.path.exists() and not self.path.is_dir():
            raise SimplennError(f"run directory {self.path} is a file; choose another --run-dir")
        needed_by = run_record_of(self.path / "config.json")  # inside another run's checkpoints or TensorBoard folder
        if needed_by is not None and not (self.path / "config.json").is_file():
            raise SimplennError(f"run directory {self.path} lies in a folder that {needed_by} needs to load; "
                                "choose another --run-dir")
        existing = self.path
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise SimplennError(f"cannot create run directory {self.path}: {existing} is a file, not a folder")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise SimplennError(f"cannot create run directory {self.path}: {existing} is not writable; "
                                "choose another --run-dir")
        if self.path.is_dir():
            self.require_new()
            self.require_own_files()
        return self

    def create(self) -> "RunDirectory":
        self.check_new()
        self.made_here = not self.path.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SimplennError(f"cannot create run directory {self.path}: {error.strerror}") from None
        return self

    def open(self) -> "RunDirectory":
        """This directory as an earlier run to resume, or `SimplennError` saying why it is not one."""
        if not (self.path / "config.json").is_file():
            found = "does not exist" if not self.path.exists() else "is not a folder" if not self.path.is_dir() \
                else "holds no config.json"
            raise SimplennError(
                f"cannot resume {self.path}: it {found}; give the --run-dir of an earlier `simplenn train`"
            )
        self.require_own_files()
        return self

    def require_not_link(self) -> None:
        """Refuse a run directory that is itself a link: its files would be written in the folder it points to."""
        if self.path.is_symlink():
            raise SimplennError(f"run directory {self.path} is a link to {os.readlink(self.path)}; simplenn does not "
                                "write through links, so give the folder itself as --run-dir")

    def require_own_files(self) -> None:
        """Refuse a run directory whose files simplenn would write through or mistake.

        None of simplenn's names may be a link (a `.lock` linked to a file elsewhere would
        be opened and written; a linked `checkpoints` folder would receive the checkpoints),
        its folders must be folders, and the checkpoints and TensorBoard files must not be
        links either.
        """
        self.require_not_link()
        where = f"run directory {self.path}"
        require_no_links(self.path, RUN_FILES + RUN_FOLDERS, what=where)
        for name in RUN_FOLDERS:
            folder = self.path / name
            if folder.exists() and not folder.is_dir():
                raise SimplennError(f"{where}: {folder} is a file where simplenn keeps a folder; "
                                    "move it away or choose another --run-dir")
            if folder.is_dir():
                for inner, folders, files in os.walk(folder):  # os.walk does not follow links into folders
                    require_no_links(Path(inner), tuple(folders + files), what=where)

    def require_new(self) -> None:
        """Refuse to start a run over another one, whose checkpoints it would mix with its own."""
        if (self.path / "config.json").exists():
            raise SimplennError(
                f"run directory {self.path} already holds a run; continue it with "
                f"`simplenn train --resume {shlex.quote(str(self.path))}`, or choose another --run-dir"
            )

    def read_records(self) -> tuple[Config, list[EpochRecord], dict | None]:
        """The config, history and summary (None until finished) of a run to load; reads no weights.

        `SimplennError` "cannot load run RUN_DIR: ..." when it is not a run, holds links,
        or a record is damaged.
        """
        path = self.path
        if not path.is_dir():
            raise SimplennError(f"cannot load run {path}: {'it does not exist' if not path.exists() else 'it is not a folder'}")
        if not (path / "config.json").is_file():
            raise SimplennError(f"cannot load run {path}: it holds no config.json; give the --run-dir of a `simplenn train`")
        try:
            self.require_own_files()
            return self.read_config(), self.read_history(), self.read_summary() if self.finished else None
        except SimplennError as error:
            raise SimplennError(f"cannot load run {path}: {error}") from None

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
        path = self.path / LOCK_NAME
        fd = _open_lock(path)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
                raise SimplennError(
                    f"run directory {self.path} is in use by another simplenn process (pid {holder}); "
                    "wait for it to finish, or choose another --run-dir"
                ) from None
            if LOCK_CONTENT.fullmatch(os.pread(fd, 32, 0).decode("ascii", "replace")):  # simplenn's own lock file
                pid = f"{os.getpid()}\n".encode("ascii")
                try:
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, pid, 0)
                except OSError as error:
                    raise write_error(path, error, len(pid)) from None
            self.require_own_files()  # checked again under the lock: nothing can change it now
            remove_unfinished_writes(self.path)
            yield self
        finally:
            os.close(fd)

    def remove_unstarted(self) -> None:
        """Remove the folder `create` made for a run that never wrote its config; nothing else is touched."""
        if self.made_here and not (self.path / "config.json").exists():
            (self.path / LOCK_NAME).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.path.rmdir()  # only if empty: whatever else is there stays

    def write_config(self, config: Config) -> None:
        write_text(self.path / "config.json", config.to_json() + "\n")

    def read_config(self) -> Config:
        path = self.path / "config.json"
        try:
            return Config.from_dict(read_json(path))
        except ConfigError as error:
            raise SimplennError(f"{path}: config field {error}") from None

    def write_data_facts(self, class_names, image_shape: tuple[int, int], contract=None) -> None:
        """data.json: what `load_run` needs to know of the data without reading it again,
        and the run's input contract (`contract.InputContract`) under `input`."""
        facts = {"class_names": list(class_names), "image_shape": list(image_shape)}
        if contract is not None:
            facts["input"] = contract.to_dict()
        write_json(self.path / "data.json", facts)

    def read_data_facts(self) -> dict | None:
        """data.json's `class_names`, `image_shape` and `input` (absent in runs recorded before
        it was), or None for a run recorded before data.json existed."""
        path = self.path / "data.json"
        if not path.exists():
            return None
        facts = read_json(path)
        if not isinstance(facts, dict):
            raise SimplennError(f"cannot read {path}: expected a JSON object with class_names and image_shape, found a "
                                f"JSON {type(facts).__name__}; the file was changed after training")
        names, shape = facts.get("class_names"), facts.get("image_shape")
        if not (isinstance(names, list) and all(isinstance(name, str) for name in names)
                and 2 <= len(names) <= MAX_CLASSES):
            found = f"{len(names):,} names" if isinstance(names, list) else json.dumps(names)[:40]
            raise SimplennError(f"cannot read {path}: field class_names must be a list of 2 to {MAX_CLASSES} strings, "
                                f"found {found}; the file was changed after training")
        if not (isinstance(shape, list) and len(shape) == 2
                and all(isinstance(side, int) and not isinstance(side, bool) and 1 <= side <= MAX_IMAGE_SIDE
                        for side in shape)):
            raise SimplennError(f"cannot read {path}: field image_shape must be [height, width], whole numbers from 1 "
                                f"to {MAX_IMAGE_SIDE:,}, found {json.dumps(shape)[:40]}; the file was changed after training")
        if not isinstance(facts.get("input", {}), dict):
            raise SimplennError(f"cannot read {path}: field input must be a JSON object, found "
                                f"{json.dumps(facts['input'])[:40]}; the file was changed after training")
        return facts

    def read_history(self) -> list[EpochRecord]:
        """The epochs recorded so far; `SimplennError` when history.json is not a list of epoch records."""
        path = self.path / "history.json"
        if not path.exists():
            return []
        records = read_json(path)
        if not isinstance(records, list) or not records:
            found = "an empty list" if records == [] else f"a JSON {type(records).__name__}"
            raise SimplennError(f"cannot read {path}: expected a list of epoch records, found {found}; "
                                "the file was changed after training")
        history = [_epoch_record(record, path) for record in records]
        if [record.epoch for record in history] != list(range(1, len(history) + 1)):
            raise SimplennError(f"cannot read {path}: expected epochs 1, 2, 3, ... in order, found "
                                f"{', '.join(str(record.epoch) for record in history[:8])}; "
                                "the file was changed after training")
        return history

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
        from simplenn.machine.quiet_tensorflow import tf  # only here: reading a run needs no TensorFlow

        folder = self.path / "tensorboard"
        try:
            if self._summary_writer is None:
                self._summary_writer = tf.summary.create_file_writer(str(folder))
            with self._summary_writer.as_default(step=record.epoch):
                for name, value in dataclasses.asdict(record).items():
                    if name != "epoch" and value is not None:
                        tf.summary.scalar(name, value)
            self._summary_writer.flush()
        except tf.errors.OpError as error:
            if is_disk_full(error):
                raise DiskFull(folder, SCALARS_BYTES) from None
            raise SimplennError(f"cannot write {folder}: {error.message.strip().splitlines()[-1]}") from None

    def write_summary(self, summary: dict) -> None:
        write_json(self.path / "summary.json", summary)

    def read_summary(self) -> dict:
        """summary.json, or `SimplennError` when it lacks a field that commands read back."""
        path = self.path / "summary.json"
        summary = read_json(path)
        if not isinstance(summary, dict):
            raise SimplennError(f"cannot read {path}: expected a JSON object of results, found a JSON "
                                f"{type(summary).__name__}; the file was changed after training")
        for name, kinds in SUMMARY_FIELDS.items():
            _require_type(summary.get(name), kinds, f"{name} in {path}")
        for name in SCORE_FIELDS if summary["test_scores"] is not None else ():
            _require_type(summary["test_scores"].get(name), (int, float), f"test_scores.{name} in {path}")
        return summary


def _open_lock(path: Path) -> int:
    """RUN_DIR/.lock opened for reading and writing, created if missing, never through a link: its descriptor."""
    try:
        # O_NOFOLLOW: a link is refused, not followed; O_NONBLOCK: a FIFO there cannot hang the open.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise SimplennError(
                f"run directory {path.parent} holds a link {path} -> {os.readlink(path)}; simplenn does not "
                "write through links out of a run directory, so remove the link or choose another folder"
            ) from None
        raise write_error(path, error) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SimplennError(f"cannot lock {path}: it is not a regular file; remove it or choose another --run-dir")
    os.set_blocking(fd, True)
    return fd


def _epoch_record(record, path: Path) -> EpochRecord:
    """One entry of history.json as an `EpochRecord`, each field of its type."""
    fields = {field.name: field for field in dataclasses.fields(EpochRecord)}
    if not isinstance(record, dict) or set(record) != set(fields):
        found = sorted(record) if isinstance(record, dict) else f"a JSON {type(record).__name__}"
        raise SimplennError(f"cannot read {path}: expected epoch records with fields {', '.join(fields)}, "
                            f"found {found}; the file was changed after training")
    for name, field in fields.items():
        kinds = int if name == "epoch" else (int, float)
        if "None" in str(field.type):
            kinds = (int, float, type(None))
        _require_type(record[name], kinds, f"{name} of an epoch in {path}")
    return EpochRecord(**record)


def _require_type(value, kinds, where: str) -> None:
    """`SimplennError` unless `value` is a JSON value of `kinds` (a bool is not a number; NaN is allowed)."""
    if isinstance(value, bool) or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in (kinds if isinstance(kinds, tuple) else (kinds,)))
        raise SimplennError(f"cannot read {where}: expected {names.replace('NoneType', 'null')}, found "
                            f"{value!r}; the file was changed after training")
