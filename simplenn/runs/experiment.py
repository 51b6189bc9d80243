"""`train_and_evaluate`: load the data, train, score, and write the run directory.

The one function behind `simplenn train`, the notebook, `ablate` and `bench`;
`resume_run` goes on with a run that was stopped, from its config and checkpoint.
"""

from __future__ import annotations

import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
from simplenn.machine.quiet_tensorflow import tf

from simplenn.training.augmentation import check_augmentation
from simplenn.training.checkpoints import CheckpointStore
from simplenn.config import Config, fit_to_data
from simplenn.runs.contract import contract_for_data
from simplenn.training.data import PreparedData, prepare_data
from simplenn.training.distribution import DistributedTrainer, WorkerCheckpoints, WorkerLost, place
from simplenn.errors import SimplennError
from simplenn.machine.file_safety import DiskFull
from simplenn.runs.interruption import StopRequests, Terminated, TrainingInterrupted
from simplenn.machine.memory import MemoryLimit
from simplenn.nn.metrics import classification_scores, logits_in_blocks, loss_and_accuracy, weights_sha256
from simplenn.runs.run_directory import RunDirectory
from simplenn.runs.run_rules import check_run_start
from simplenn.training.progress import EpochRecord
from simplenn.training.trainer import Trainer, fit


def train_and_evaluate(
    config: Config,
    *,
    run_dir: str | Path | None = None,
    resume: bool = False,
    adapt_layers: bool = True,
    data: PreparedData | None = None,
    live_progress: bool | None = None,
    log: Callable[[str], None] = print,
    memory_limit: MemoryLimit | None = None,
    on_chunk: Callable[[Trainer], None] | None = None,
    on_epoch: Callable[[Trainer, EpochRecord], None] | None = None,
) -> dict:
    """Train `config` and return its summary (also written to `run_dir`/summary.json).

    run_dir: where the run is written. It is locked against a second writer and
    checkpointed after every epoch and every `config.checkpoint_every_steps` steps;
    SIGINT or SIGTERM stops training after the current chunk of steps with a
    checkpoint, raising `TrainingInterrupted`.
    resume: go on with the run in `run_dir` from its newest intact checkpoint; `config`
    must be the one stored there, which `resume_run` reads.
    adapt_layers: fit the first and last layer sizes to the data (presets are written
    for 28x28 images); when False, a mismatch is an error naming both sizes.
    memory_limit: what the data, network and optimizer may need (default: half the
    available memory); checked before anything is trained.
    on_chunk, on_epoch: called as `fit` calls its own, after the run directory is brought up
    to date (a watcher such as `simplenn lab`'s; neither may change the trainer).

    Every check runs before the run directory is created, so a run that never starts
    leaves nothing behind.
    """
    cluster = check_run_start(config, run_dir, resume=resume)  # before the data: a mistake costs no time
    chief = cluster is None or cluster.is_chief  # the one worker that writes the run directory
    run = RunDirectory(run_dir) if run_dir is not None else None
    placement = place(config, cluster)  # before the data too: TensorFlow must not have started
    data = data or prepare_data(config, memory_limit)
    config = fit_to_data(config, data.n_features, data.n_classes, layers_given=not adapt_layers)
    if config.augments:
        check_augmentation(config, data.image_shape)
    if placement is None:
        trainer = Trainer(config, data.train.size, data.image_shape)
    else:
        trainer = DistributedTrainer(config, data.train.size, data.image_shape, placement)
        log(trainer.describe())
    watchers = (on_chunk, on_epoch)
    if run is None:
        return _train(trainer, data, None, live_progress, log, watchers)
    if not chief:  # it trains alongside the chief and keeps none of the run's files
        return _train(trainer, data, run, live_progress, log, watchers,
                      WorkerCheckpoints(run.checkpoints, trainer, log, cluster))
    if not resume:
        run.create()
    try:
        with run.lock():
            return _train_in(run, trainer, data, resume, live_progress, log, watchers)
    except BaseException:
        run.remove_unstarted()  # a run that never wrote its config leaves no folder behind
        raise


def _train_in(run: RunDirectory, trainer: Trainer, data: PreparedData, resume: bool, live_progress, log,
              watchers) -> dict:
    """`_train` in the locked `run`, turning a full disk or a signal into a message with the resume command."""
    try:
        if not resume:
            run.require_new()
            run.write_config(trainer.config)
            run.write_data_facts(data.class_names, data.image_shape,
                                 contract_for_data(trainer.config.dataset, data.image_shape, trainer.config.scale_inputs))
        return _train(trainer, data, run, live_progress, log, watchers)
    except DiskFull as full:  # the checkpoints saved before are intact
        started = (run.path / "config.json").exists()
        advice = f"free some space, then resume with: {resume_command(run)}" if started else \
            "free some space and start again"
        raise DiskFull(full.path, full.needed_bytes, advice) from None
    except (KeyboardInterrupt, Terminated) as stop:  # a signal outside training's chunks
        number = signal.SIGINT if isinstance(stop, KeyboardInterrupt) else signal.SIGTERM
        raise TrainingInterrupted(
            f"stopped by {number.name}; the run directory keeps every checkpoint saved so far; "
            f"resume with: {resume_command(run)}", number
        ) from None


def resume_run(
    run_dir: str | Path,
    *,
    live_progress: bool | None = None,
    log: Callable[[str], None] = print,
    memory_limit: MemoryLimit | None = None,
) -> dict:
    """Go on with the run in `run_dir` from its config.json and newest intact checkpoint.

    Returns the summary; a run that finished already is not trained again.
    """
    run = RunDirectory(run_dir).open()
    if run.finished:
        log(f"{run.path} finished already; its summary is in summary.json")
        return run.read_summary()
    return train_and_evaluate(
        run.read_config(), run_dir=run.path, resume=True, live_progress=live_progress, log=log,
        memory_limit=memory_limit,
    )


def resume_command(run: RunDirectory) -> str:
    """`simplenn train --resume RUN_DIR`, quoted for a shell: a path with a space still works."""
    return f"simplenn train --resume {shlex.quote(str(run.path))}"


def _train(trainer: Trainer, data: PreparedData, run: RunDirectory | None, live_progress, log, watchers,
           worker: WorkerCheckpoints | None = None) -> dict:
    """Train from the run's newest checkpoint, or from the start, and write the summary.

    watchers: (on_chunk, on_epoch), each None or called after the run's own.
    worker: the checkpoints of a multi-worker run's non-chief worker, which writes no record.
    """
    config = trainer.config
    if config.batch_size > data.train.size:
        log(f"note: --batch-size {config.batch_size} is more than the {data.train.size:,} training images; "
            f"each step uses all {data.train.size:,}")
    log(f"{trainer.network!r}; {config.preset} preset on {config.dataset}, "
        f"{data.train.size:,} training images, {trainer.steps_per_epoch} steps per epoch")
    if live_progress is None:
        live_progress = sys.stdout.isatty()
    started = time.perf_counter()
    if run is None:
        history = fit(trainer, data.train, data.validation, live_progress=live_progress, on_chunk=watchers[0],
                      on_epoch=watchers[1], log=log)
    else:
        with RunRecorder(run, trainer, log, worker) as recorder:
            try:
                if isinstance(trainer, DistributedTrainer):
                    trainer.require_same_start()
                fit(trainer, data.train, data.validation, live_progress=live_progress,
                    on_chunk=_then(recorder.on_chunk, watchers[0]), on_epoch=_then(recorder.on_epoch, watchers[1]),
                    log=log)
            except WorkerLost as lost:
                if worker is None:  # the chief: a worker lost while saving leaves its copy behind
                    recorder.checkpoints.remove_unfinished_writes()
                raise WorkerLost(f"{lost}; once every worker is up, resume each with: {resume_command(run)}") from None
        history = recorder.history
    train_seconds = time.perf_counter() - started
    summary = summarize(config, trainer, data, history, train_seconds)
    if run is not None and worker is None:
        run.write_summary(summary)
    return summary


def _then(first: Callable, then: Callable | None) -> Callable:
    """`first`, followed by `then` with the same arguments when there is one."""
    if then is None:
        return first

    def both(*args) -> None:
        first(*args)
        then(*args)

    return both


class RunRecorder:
    """Keeps a run directory up to date while `fit` trains.

    On creation it restores the newest intact checkpoint, if any, and the history up to
    it. After every epoch it writes the history, the TensorBoard scalars and a checkpoint;
    after every `checkpoint_every_steps` steps, a checkpoint. While it is entered, SIGINT
    and SIGTERM are caught: a checkpoint at the end of the chunk, then `TrainingInterrupted`.
    """

    def __init__(self, run: RunDirectory, trainer: Trainer, log: Callable[[str], None],
                 worker: WorkerCheckpoints | None = None):
        """worker: a non-chief worker's checkpoints; it then writes no history, as the chief does."""
        self.run = run
        self.trainer = trainer
        self.checkpoints = worker or CheckpointStore(run.checkpoints, trainer, log)
        self.keeps_records = worker is None
        self.stop_requests = StopRequests()
        restored = self.checkpoints.restore()
        # history.json is written before the epoch's checkpoint, so it can be an epoch ahead.
        epochs_done = int(trainer.epoch.numpy())
        self.history: list[EpochRecord] = run.read_history()[:epochs_done]
        if len(self.history) < epochs_done:
            raise SimplennError(
                f"cannot resume {run.path}: its checkpoint is at the end of epoch {epochs_done} but history.json "
                f"records {len(self.history)} epoch(s); the run directory was changed, start again in a new --run-dir"
            )
        if restored is not None:
            log(f"resumed from {restored} at {self._position()}")

    def __enter__(self) -> "RunRecorder":
        self.stop_requests.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop_requests.__exit__(*exc_info)

    def on_chunk(self, trainer: Trainer) -> None:
        if trainer.step_in_epoch.numpy() == trainer.steps_per_epoch:
            return  # the end of an epoch: on_epoch follows at once
        every = trainer.config.checkpoint_every_steps
        steps_since_saved = trainer.global_step - (self.checkpoints.saved_at_step or 0)
        if self.stop_requests.signal_number is not None or (every and steps_since_saved >= every):
            self.checkpoints.save()
        self._stop_if_asked()

    def on_epoch(self, trainer: Trainer, record: EpochRecord) -> None:
        self.history.append(record)
        if self.keeps_records:
            self.run.write_history(self.history)
            self.run.write_scalars(record)
        self.checkpoints.save()
        self._stop_if_asked()

    def _position(self) -> str:
        """Where training stands: "epoch 3/5, step 12/40", or "the end of epoch 2/5"."""
        trainer = self.trainer
        epochs_done, step = int(trainer.epoch.numpy()), int(trainer.step_in_epoch.numpy())
        if step == 0:
            return f"the end of epoch {epochs_done}/{trainer.config.epochs}"
        return f"epoch {epochs_done + 1}/{trainer.config.epochs}, step {step}/{trainer.steps_per_epoch}"

    def _stop_if_asked(self) -> None:
        number = self.stop_requests.signal_number
        if number is not None:
            latest = self.checkpoints.latest
            saved = f"with checkpoint {latest}" if latest is not None else "before its first checkpoint"
            raise TrainingInterrupted(
                f"stopped by {signal.Signals(number).name} at {self._position()} {saved}; "
                f"resume with: {resume_command(self.run)}",
                number,
            )


def summarize(config: Config, trainer: Trainer, data: PreparedData, history, train_seconds: float) -> dict:
    """Scores of the trained network on the training and test sets, and the run's facts."""
    _, train_accuracy = loss_and_accuracy(trainer.forward, data.train, config)
    test_scores = None  # --test-split 0: every example trained, nothing is left to score
    if data.test.size:
        test_logits = logits_in_blocks(trainer.forward, data.test.X)
        test_scores = classification_scores(data.test.labels, np.argmax(test_logits, axis=1))
    return {
        "preset": config.preset,
        "dataset": config.dataset,
        "config": config.to_dict(),
        "epochs": len(history) and history[-1].epoch,
        "train_seconds": train_seconds,
        "train_accuracy": train_accuracy,
        "test_accuracy": test_scores and test_scores["accuracy"],
        "test_scores": test_scores,
        "n_params": trainer.network.n_params,
        "weights_sha256": weights_sha256(trainer.network.params),
        "tensorflow": tf.__version__,
    }


def format_result(summary: dict, run_dir: str | Path | None = None) -> str:
    """What `simplenn train` prints at the end: the test scores as the post reports them."""
    scores = summary["test_scores"]
    if scores is None:
        lines = [f"no test split: trained on every example (--test-split 0), so no test score follows "
                 f"(train {100 * summary['train_accuracy']:.2f} %, {summary['train_seconds']:.1f} s of training)"]
        return "\n".join(lines + ([f"run written to {run_dir}"] if run_dir is not None else []))
    lines = [f"test accuracy {100 * scores['accuracy']:.2f} %  (train {100 * summary['train_accuracy']:.2f} %, "
             f"{summary['train_seconds']:.1f} s of training)"]
    for average in ("micro", "macro"):
        lines.append(f"  {average:5}  precision {scores[f'precision_{average}']:.4f}  "
                     f"recall {scores[f'recall_{average}']:.4f}  f1 {scores[f'f1_{average}']:.4f}")
    if run_dir is not None:
        lines.append(f"run written to {run_dir}")
    return "\n".join(lines)


class TargetMissed(SimplennError):
    """A run finished below the accuracy it was asked to reach."""

    exit_status = 1  # not a mistake in the input: the run worked and fell short, as a failed test does


def check_target_accuracy(summary: dict, target: float) -> None:
    """`TargetMissed` when the run's test accuracy is below `target` (a fraction)."""
    accuracy = summary["test_accuracy"]
    if accuracy is None:
        raise SimplennError("--target-accuracy needs a test score, and --test-split 0 leaves no test split; "
                            "drop one of the two")
    if accuracy < target:
        raise TargetMissed(
            f"test accuracy {100 * accuracy:.2f} % is below the target {100 * target:.2f} %"
        )
