"""Training on several devices, or several machines, with tf.distribute.

    placement = place(config, cluster)        # None for --strategy default: `Trainer` as it is
    trainer = DistributedTrainer(config, n_train, image_shape, placement)
    fit(trainer, train)                       # training.py's `fit` and driver, unchanged

`--strategy mirrored` keeps a copy of every variable on each local GPU, or on each of
`--cpu-devices` logical CPUs, with `MirroredStrategy`; `--strategy multiworker` on each
worker named in TF_CONFIG (`cluster.py`), with `MultiWorkerMirroredStrategy`. The steps
are `Trainer`'s, `train_step` through `strategy.run` in blocks, as on one device; under
several replicas a step is the custom-loop recipe of TensorFlow's distributed-training tutorials:

- the global batch is the config's `batch_size` rows, taken from the same shuffled order
  as on one device (keyed by (seed, epoch)); replica r of R computes on rows
  [r G / R, (r + 1) G / R) of its G rows;
- each replica's loss is its share of the step's: its summed loss over the G rows of the
  whole batch (`tf.nn.compute_average_loss`), and 1/R of any L2 penalty
  (`tf.nn.scale_regularization_loss`);
- the Keras optimizer sums the replicas' gradients (an all-reduce) and applies the same
  update on every replica, so the copies stay equal.

The sum of the replicas' gradients is the one-device gradient up to float rounding, so a
run's accuracy does not depend on the replica count beyond it. Dropout masks and moved
images are drawn per replica, from (seed, step) folded with the replica's number.

XLA compiles what each replica computes alone, its forward and backward pass; the
all-reduce and the optimizer's update run outside it, as XLA cannot compile collectives
across workers (tensorflow/tensorflow#45940, #58961).

Checkpoints follow TensorFlow's multi-worker rule: every worker saves, the chief into the
run directory, the others into a folder of their own that they remove at once. Every
worker restores the chief's. A lost worker makes the others stop: a collective with it
fails at once when its port refuses connections, and when it hangs, TensorFlow's
coordination service, to which every worker sends heartbeats, aborts the others'
collectives some ten seconds after its last one. `WorkerLost` names it, and no checkpoint
is taken of the unfinished step. No timeout is set on each collective
(`CommunicationOptions(timeout_seconds=...)`): TensorFlow arms every collective's timeout
with a thread of its own that sleeps for the whole of it, hundreds of threads a second
here, and a worker with a 60 s timeout crashed on them ("Resource temporarily
unavailable") after 17 epochs of Fashion-MNIST.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from simplenn.machine.quiet_tensorflow import tf

from simplenn.training.checkpoints import CHECKPOINT_NAME, CheckpointStore
from simplenn.training.cluster import (
    Cluster,
    grpc_exposure,
    require_free_port,
    stoppable_wait,
    unreachable,
    wait_for_peers,
)
from simplenn.config import Config
from simplenn.training.data import Split
from simplenn.errors import SimplennError, SimplennWarning
from simplenn.training.trainer import Trainer

# How TensorFlow reports a collective that lost a worker: refused, timed out, or aborted
# by the coordination service once the worker's heartbeats stopped.
COLLECTIVE_FAILURES = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError,
                       tf.errors.CancelledError)


class WorkerLost(SimplennError):
    """A worker of a multi-worker run stopped answering; this one stopped too."""

    exit_status = 1  # not a mistake in the input: the run was cut short, as a failed test is


@dataclass
class Placement:
    """Where the steps of a run go: a strategy, this machine's devices in it, and the workers."""

    strategy: tf.distribute.Strategy
    devices: tuple[str, ...]  # this machine's devices that hold a replica, e.g. "/device:CPU:1"
    cluster: Cluster | None  # the workers of --strategy multiworker

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync


# One placement per device set, or cluster, and process: a worker's collectives are set up
# once, and every MirroredStrategy numbers its collective groups from the same start, so two
# over the same devices would share numbers (two over device sets of different sizes are
# refused outright: see `bench_strategies.replica_counts`).
_placements: dict[tuple[str, ...] | Cluster, Placement] = {}


def place(config: Config, cluster: Cluster | None = None) -> Placement | None:
    """The placement `config.strategy` asks for, or None for `default` (one device, no strategy).

    Must run before TensorFlow starts (before the data is loaded): logical devices and
    the collectives of a worker can only be set up then. `SimplennError` when it is too
    late, or when this worker's port is taken.
    """
    if config.strategy == "default":
        return None
    if config.strategy == "mirrored":
        return mirrored(local_devices(config.cpu_devices))
    if cluster not in _placements:
        _placements[cluster] = _multiworker(cluster)
    return _placements[cluster]


def split_cpu(n: int) -> None:
    """Make this process's CPU `n` logical devices, /CPU:0 to /CPU:n-1, sharing its cores."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
    except RuntimeError:  # "cannot be modified after being initialized"
        have = len(tf.config.list_logical_devices("CPU"))
        raise SimplennError(
            f"--cpu-devices {n} must be set before TensorFlow starts, but this process has run TensorFlow already "
            f"with {have} CPU device(s); train in a new process (a `simplenn train` command, or a restarted kernel)"
        ) from None


def local_devices(cpu_devices: int) -> tuple[str, ...]:
    """The devices `--strategy mirrored` uses: `cpu_devices` logical CPUs, else every GPU, else the CPU."""
    if cpu_devices:
        split_cpu(cpu_devices)
    devices = tf.config.list_logical_devices("CPU") if cpu_devices else \
        tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tuple(device.name for device in devices)


def mirrored(devices: tuple[str, ...]) -> Placement:
    """One replica on each of `devices`, all in this process."""
    if devices not in _placements:
        _placements[devices] = Placement(tf.distribute.MirroredStrategy(list(devices)), devices, None)
    return _placements[devices]


def _multiworker(cluster: Cluster) -> Placement:
    require_free_port(cluster)
    warnings.warn(SimplennWarning(grpc_exposure(cluster)), stacklevel=2)
    wait_for_peers(cluster)  # here signals still stop the wait; inside TensorFlow they would not
    try:
        with stoppable_wait(", ".join(cluster.name(i) for i in cluster.peers()), say=False):
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except (RuntimeError, ValueError) as error:  # "Collective ops must be configured at program startup"
        raise SimplennError(
            f"--strategy multiworker must start before TensorFlow does, but this process has run TensorFlow "
            f"already ({error}); train in a new process (a `simplenn train` command, or a restarted kernel)"
        ) from None
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")[:1]
    return Placement(strategy, tuple(device.name for device in devices), cluster)


class DistributedTrainer(Trainer):
    """A `Trainer` whose variables are mirrored on every replica of `placement`.

    Its steps are `Trainer`'s, each one `train_step` through `strategy.run`; what it adds
    is naming a lost worker and checking that every worker starts from the same step. Its
    checkpoints hold the same variables, so `load_run` reads them into a plain `Trainer`.
    """

    def __init__(self, config: Config, n_train: int, image_shape: tuple[int, int] | None, placement: Placement):
        with placement.strategy.scope():  # the network, the optimizer's slots and the counters
            super().__init__(config, n_train, image_shape)
        self.placement = placement

    def describe(self) -> str:
        """Which path the run takes, for its log: the replicas, the batch split, what XLA compiles."""
        placement, B, R = self.placement, self.batch_size, self.placement.replicas
        devices = ", ".join(name.split("device:")[-1] for name in placement.devices)
        where = f"{R} replica(s) on {devices}"
        if placement.cluster is not None:
            cluster = placement.cluster
            role = "the chief" if cluster.is_chief else "not the chief"
            where = f"{cluster.name(cluster.index)}, {role}, of {len(cluster.workers)} workers; {R} replicas in all"
        share = f"{B // R}" if B % R == 0 else f"{B // R}-{-(-B // R)}"
        if self.config.strategy == "mirrored" and R == 1 and "CPU" in devices:
            where += " (a machine without GPUs has one device: --cpu-devices N splits its CPU into N)"
        xla = ("XLA compiles each replica's forward and backward pass; the all-reduce and the update run outside it"
               if self.jit_compile else "no XLA: every step runs as a plain graph")
        return f"strategy {self.config.strategy}: {where}; each step's {B} rows split {share} per replica; {xla}"

    def run_steps(self, train: Split, stop: int) -> None:
        """Advance the current epoch up to step `stop`, every replica on its part of each batch."""
        with self._naming_lost_workers():
            super().run_steps(train, stop)

    @contextlib.contextmanager
    def _naming_lost_workers(self):
        """A collective that lost a worker raises `WorkerLost`, naming it, in a multi-worker run."""
        try:
            yield
        except COLLECTIVE_FAILURES as error:
            if self.placement.cluster is None:
                raise
            raise WorkerLost(lost_worker_message(self.placement.cluster, error)) from None

    def require_same_start(self) -> None:
        """`SimplennError` unless every worker goes on from the same step; call it after restoring.

        Each worker restores the chief's newest checkpoint; one that cannot see the chief's
        run directory would start again from step 0 while the others go on.
        """
        if self.placement.cluster is None:
            return  # one process: one restore
        step = float(self.global_step)
        cluster = self.placement.cluster
        with self._naming_lost_workers(), stoppable_wait(", ".join(cluster.name(i) for i in cluster.peers()), say=False):
            sums = self._sum_over_replicas(tf.constant([step, step * step], tf.float64))
        # A worker that has the sums may stop before its last message of the all-reduce has
        # reached the others, which would then see it lost. A second all-reduce is a barrier:
        # none can finish it before every worker has finished the first. A failure in it is
        # ignored, since the sums are known; a worker truly lost stops the first step.
        try:
            self._sum_over_replicas(tf.zeros((), tf.float64))
        except COLLECTIVE_FAILURES:
            pass
        R = self.placement.replicas
        # Every replica at step s: sum s = R s and sum s^2 = R s^2; any other mix breaks one of them.
        if sums.numpy().tolist() != [R * step, R * step * step]:
            raise SimplennError(
                f"the workers would go on from different steps (this one from step {int(step)}): every worker "
                "restores the chief's checkpoints, so the run directory must be one folder that all of them see "
                "(shared, or copied to each); then resume every worker with the same command"
            )

    def _sum_over_replicas(self, values):
        """`values`, summed over every replica of every worker."""
        strategy = self.placement.strategy
        return tf.function(lambda: strategy.reduce(
            tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.identity(values)), axis=None))()


def lost_worker_message(cluster: Cluster, error: Exception) -> str:
    """Which worker was lost, found by knocking on each one's port, else from TensorFlow's message."""
    lost = unreachable(cluster, cluster.peers())
    text = getattr(error, "message", None) or str(error)
    if not lost:
        named = {int(index) for index in re.findall(r"/job:worker/(?:replica:\d+/)?task:(\d+)", text)}
        lost = sorted(named - {cluster.index})
    if not lost and "CoordinationService" in text and not cluster.is_chief:
        lost = [0]  # the chief runs the coordination service, and it stopped answering heartbeats
    who = " and ".join(cluster.name(index) for index in lost) or "a worker"
    kind = "timed out" if isinstance(error, tf.errors.DeadlineExceededError) else "failed"
    return (f"lost {who}: a collective with it {kind} mid-step, so {cluster.name(cluster.index)} stops too, "
            "with no checkpoint of the unfinished step (those saved before are intact)")


class WorkerCheckpoints:
    """A non-chief worker's checkpoints, by TensorFlow's multi-worker rule.

    It restores the chief's newest checkpoint from the run directory, and saves whenever
    the chief does, as every worker must, into `checkpoints/workertemp_N`, which it
    removes at once: only the chief's copy is kept. It never touches the chief's files.
    """

    def __init__(self, directory: Path, trainer: Trainer, log: Callable[[str], None], cluster: Cluster):
        self.chief = CheckpointStore(directory, trainer, log, read_only=True)
        self.folder = Path(directory) / f"workertemp_{cluster.index}"
        self.trainer = trainer
        self.latest: Path | None = None  # the chief's checkpoint this worker restored
        self.saved_at_step: int | None = None

    def restore(self) -> Path | None:
        self.latest = self.chief.restore()
        self.saved_at_step = self.chief.saved_at_step
        return self.latest

    def save(self) -> Path:
        try:
            self.chief.write_copy(self.folder / CHECKPOINT_NAME)
        except (tf.errors.OpError, OSError) as error:  # a full disk: the chief's checkpoints are what count
            first_line = (getattr(error, "message", None) or str(error)).strip().splitlines()[0]
            raise SimplennError(f"cannot write this worker's copy of the checkpoint in {self.folder}: "
                                f"{first_line}") from None
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
        self.saved_at_step = self.trainer.global_step
        return self.folder
