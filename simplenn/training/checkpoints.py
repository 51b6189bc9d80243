"""Checkpoints of a `Trainer` in RUN_DIR/checkpoints, each sealed by a sha256 digest.

    checkpoints/checkpoint                   TensorFlow's list of the checkpoints it keeps
    checkpoints/ckpt-7.index                 which variables are stored, and where
    checkpoints/ckpt-7.data-00000-of-00001   their values
    checkpoints/ckpt-7.sha256                sha256 of both, in `sha256sum --check` format

A checkpoint holds all a run needs to go on exactly where it stopped: the weights, the
optimizer's state (its step count and Adam's moments), the epoch and the step within it,
the epoch's running loss and accuracy, the early-stopping best, and the config as JSON.
Shuffles and dropout masks are drawn from (seed, epoch) and (seed, step), so those
counters are the random state as well.

`tf.train.CheckpointManager` writes each checkpoint into a temporary folder, moves it
into place, and deletes all but the newest `max_to_keep`, also across restarts. The
digest is written (atomically) after the checkpoint, which makes it the commit record:
a checkpoint counts once its digest exists, and one whose bytes no longer match it (a
flipped bit, a truncated copy) is skipped with a warning for the one before it.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from simplenn.machine.quiet_tensorflow import tf

from simplenn.config import Config
from simplenn.errors import SimplennError
from simplenn.machine.file_safety import DiskFull, is_disk_full, remove_unfinished_writes, sha256_of, write_atomically

if TYPE_CHECKING:  # a checkpoint stores any trainer it is given; the type is for readers
    from simplenn.training.trainer import Trainer

CHECKPOINT_NAME = "ckpt"
DIGEST_SUFFIX = ".sha256"
# What a killed save leaves behind: TensorFlow's temporary folder and files, and the copy a
# multi-worker run's other worker writes and removes at once (distribution.WorkerCheckpoints).
UNFINISHED_WRITES = (f"{CHECKPOINT_NAME}-*_temp", "*.tempstate*", "checkpoint.tmp*", "workertemp_*")


def checkpoint_number(prefix: Path) -> int:
    """7 for `.../ckpt-7`."""
    return int(prefix.name.rsplit("-", 1)[1])


def weight_shapes(shapes: list[tuple[int, ...]]) -> str:
    """`[(64, 100), (100, 10)]` -> "W1 (64, 100), W2 (100, 10)"."""
    return ", ".join(f"W{l} {shape}" for l, shape in enumerate(shapes, start=1))


class CheckpointStore:
    """Save a trainer's state into `directory`, and restore the newest intact checkpoint.

    Use it while holding the run directory's lock: on creation it removes what a killed
    save left behind, which would be unsafe while another process is saving.
    """

    def __init__(
        self, directory: str | Path, trainer: Trainer, log: Callable[[str], None] = print, *, read_only: bool = False
    ):
        """read_only: only `restore` will be used, without the lock (`load_run`): touch no file."""
        self.directory = Path(directory)
        self.trainer = trainer
        self._log = log
        self._config = tf.Variable(trainer.config.to_json(), trainable=False, name="config")
        self._checkpoint = tf.train.Checkpoint(trainer=trainer, config=self._config)
        self._manager = tf.train.CheckpointManager(
            self._checkpoint, str(self.directory), trainer.config.max_to_keep, checkpoint_name=CHECKPOINT_NAME
        )
        # The last checkpoint saved or restored, and the optimizer step it was taken at.
        self.latest: Path | None = None
        self.saved_at_step: int | None = None
        if not read_only:
            self.remove_unfinished_writes()

    def save(self) -> Path:
        """Checkpoint the trainer now, then seal it with its digest; the checkpoint's prefix.

        A save that fails (a full disk) leaves no trace: TensorFlow's temporary folder and
        the unsealed files are removed, the checkpoints saved before stay as they were, and
        `SimplennError` (`DiskFull`) names the checkpoint and the space it needs.
        """
        needed = self._size_estimate()
        prefix = None
        try:
            prefix = Path(self._manager.save())
            files = sorted(p for p in prefix.parent.glob(f"{prefix.name}.*") if p.suffix != DIGEST_SUFFIX)
            write_atomically(
                self._digest_path(prefix), "".join(f"{sha256_of(path)}  {path.name}\n" for path in files)
            )
        except (tf.errors.OpError, OSError) as error:
            if prefix is not None:  # written but not sealed: not a checkpoint, and it takes space
                for path in prefix.parent.glob(f"{prefix.name}.*"):
                    path.unlink(missing_ok=True)
            self.remove_unfinished_writes()
            where = self.directory / f"{CHECKPOINT_NAME}-{int(self._checkpoint.save_counter.numpy())}"
            if is_disk_full(error):
                raise DiskFull(where, needed) from None
            first_line = (getattr(error, "message", None) or str(error)).strip().splitlines()[0]
            raise SimplennError(f"cannot write checkpoint {where}: {first_line}") from None
        self._remove_orphan_digests()
        self.latest, self.saved_at_step = prefix, self.trainer.global_step
        return prefix

    def write_copy(self, prefix: Path) -> None:
        """Write the trainer's state to `prefix`, outside the checkpoints this store keeps.

        A multi-worker run's other workers save so, into a folder they then remove.
        """
        self._checkpoint.write(str(prefix))

    def _size_estimate(self) -> int:
        """Bytes a checkpoint takes: the newest one's files, or the variables' bytes before the first."""
        if self.latest is not None:
            return sum(p.stat().st_size for p in self.latest.parent.glob(f"{self.latest.name}.*"))
        return sum(int(v.numpy().nbytes) for v in self.trainer.variables) + 4096  # and the index

    def committed(self) -> list[Path]:
        """Prefixes of the checkpoints whose digest was written, newest first."""
        pattern = re.compile(rf"{CHECKPOINT_NAME}-\d+{re.escape(DIGEST_SUFFIX)}")
        prefixes = [
            self.directory / path.name.removesuffix(DIGEST_SUFFIX)
            for path in self.directory.glob(f"{CHECKPOINT_NAME}-*{DIGEST_SUFFIX}")
            if pattern.fullmatch(path.name)
        ]
        return sorted(prefixes, key=checkpoint_number, reverse=True)

    def restore(self) -> Path | None:
        """Load the newest intact checkpoint into the trainer; its prefix, or None if none exists.

        A damaged checkpoint is skipped with a warning. Raises `SimplennError` when every
        checkpoint is damaged, or when they were saved from another network or config.
        """
        damaged = []
        for prefix in self.committed():
            problem = self._damage(prefix) or self._load(prefix)
            if problem is None:
                self.latest, self.saved_at_step = prefix, self.trainer.global_step
                return prefix
            damaged.append(f"{prefix.name}: {problem}")
            self._log(f"warning: checkpoint {prefix} is damaged ({problem}); trying the one before it")
        if damaged:
            raise SimplennError(
                f"no usable checkpoint in {self.directory} ({'; '.join(damaged)}); start the run again "
                "in a new --run-dir"
            )
        return None

    def _damage(self, prefix: Path) -> str | None:
        """None when the files of checkpoint `prefix` match its digest, else what does not."""
        digest = self._digest_path(prefix)
        try:
            lines = digest.read_text(encoding="ascii").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            return f"cannot read {digest.name}: {getattr(error, 'strerror', None) or error}"
        expected = {}  # file name -> sha256
        for line in lines:
            sha256, _, name = line.partition("  ")
            expected[name] = sha256
        if f"{prefix.name}.index" not in expected or not all(
            name.startswith(f"{prefix.name}.") for name in expected
        ):
            return f"{digest.name} does not list the checkpoint's files"
        for name, sha256 in expected.items():
            path = prefix.parent / name
            if not path.is_file():
                return f"{name} is missing"
            if sha256_of(path) != sha256:
                return f"{name} does not match its sha256 in {digest.name}"
        return None

    def _load(self, prefix: Path) -> str | None:
        """Restore `prefix` into the trainer; None, or why TensorFlow could not read it."""
        try:
            reader = tf.train.load_checkpoint(str(prefix))
            self._require_same_run(prefix, reader)
            self._checkpoint.restore(str(prefix)).assert_existing_objects_matched()
        except (tf.errors.OpError, ValueError, AssertionError) as error:
            return f"TensorFlow cannot read it: {str(error).strip().splitlines()[0]}"
        return None

    def _require_same_run(self, prefix: Path, reader) -> None:
        """Raise `SimplennError` naming both sides when `prefix` belongs to another network or config."""
        shapes = reader.get_variable_to_shape_map()
        saved = []
        while (key := f"trainer/network/W{len(saved) + 1}/.ATTRIBUTES/VARIABLE_VALUE") in shapes:
            saved.append(tuple(shapes[key]))
        ours = [tuple(W.shape) for W in self.trainer.network.weights]
        if saved != ours:
            raise SimplennError(
                f"checkpoint {prefix} was saved from a different network: it holds {weight_shapes(saved)}, "
                f"but this config builds {weight_shapes(ours)}; resume with the config the run started with"
            )
        # A field added to Config since the checkpoint was saved has its default there.
        saved_config = {**Config().to_dict(), **json.loads(reader.get_tensor("config/.ATTRIBUTES/VARIABLE_VALUE"))}
        our_config = self.trainer.config.to_dict()
        changed = [
            f"{field} {saved_config.get(field)!r} -> {our_config.get(field)!r}"
            for field in sorted(set(saved_config) | set(our_config))
            if saved_config.get(field) != our_config.get(field)
        ]
        if changed:
            raise SimplennError(
                f"checkpoint {prefix} was saved with a different config ({', '.join(changed)}); "
                "resume with the config.json the run started with"
            )

    def _digest_path(self, prefix: Path) -> Path:
        return prefix.with_name(prefix.name + DIGEST_SUFFIX)

    def _remove_orphan_digests(self) -> None:
        """Delete the digests of checkpoints the manager has rotated out."""
        for prefix in self.committed():
            if not prefix.with_name(f"{prefix.name}.index").exists():
                self._digest_path(prefix).unlink(missing_ok=True)

    def remove_unfinished_writes(self) -> None:
        """Delete what a killed save left in the folder; only while no save of this run is under way."""
        remove_unfinished_writes(self.directory)  # digests
        for pattern in UNFINISHED_WRITES:
            for path in self.directory.glob(pattern):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        # Values without their index: a save or a deletion that was cut short.
        for values in self.directory.glob(f"{CHECKPOINT_NAME}-*.data-*"):
            if not values.with_name(values.name.split(".")[0] + ".index").exists():
                values.unlink(missing_ok=True)
