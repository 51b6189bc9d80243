"""Training: the post's step (`step.py`), compiled and run over mini-batches.

    Trainer(config, n_train, image_shape)      one run's state, steps run compiled
    fit(trainer, train, validation)            epochs, history, early stopping

There is one driver, whatever the strategy. `Trainer` runs a whole range of steps inside
one `tf.function` with the data resident as tensors, so Python runs once per chunk of an
epoch, not once per batch; within it, blocks of `BLOCK_STEPS` steps on whole batches run
as one call each, and an epoch's smaller last batch runs on its own. Every step is
`train_step`, called through `strategy.run`: on one device the default strategy, which
calls it once, and XLA compiles the whole block; under `--strategy mirrored` or
`multiworker` (distribution.py) each replica runs it on its share of the batch, and XLA
compiles each replica's gradients alone, as it cannot compile the all-reduce before the update.

XLA is used when a run does enough arithmetic to pay back compiling (`uses_xla`), or when
`--xla`/`--no-xla` say so. A process that trains a second run of the same shape (same
layer sizes, batch size, rows and step settings: a fold of a cross-validation, a test)
reuses the first run's traced and compiled steps with its variables reset (`CompiledSteps`).

Every source of randomness is stateless and keyed by (seed, epoch) or (seed, step):
the shuffle of epoch e and the augmented images and dropout masks of step k are the
same whether or not the run was interrupted in between, so a resumed run ends with the
same weights.
"""

from __future__ import annotations

import dataclasses
import math
import time
import weakref
from typing import Callable

from simplenn.machine.quiet_tensorflow import tf

from simplenn.training.augmentation import check_augmentation
from simplenn.config import Config
from simplenn.training.data import Split
from simplenn.errors import SimplennError
from simplenn.nn.metrics import loss_and_accuracy
from simplenn.nn.network import Network, initial_params
from simplenn.nn.optimizers import make_optimizer, retunable_fields, retune
from simplenn.training.progress import EpochProgress, EpochRecord, epoch_line
from simplenn.training.step import batch_gradients, epoch_order, gradient_function, tape_gradients, train_step  # noqa: F401

# Whole batches per compiled call: a call from the graph costs a fraction of a step's
# arithmetic on a batch of a few hundred rows, paid once per block instead of once per step.
BLOCK_STEPS = 32

# XLA pays back its compilation above about this many multiply-adds in a run (`expected_macs`).
# Measured on this 2-core machine (`simplenn train --preset fixed` with --xla and --no-xla,
# each in a fresh process with SIMPLENN_COMPILE_CACHE=off, two interleaved rounds): XLA made a
# steady Fashion-MNIST epoch (1.5e10 multiply-adds) 0.27 s shorter (0.33 against 0.60 s) and
# a digits epoch no shorter (0.007 s either way); compiling added 0.3-2.9 s to the first epoch,
# about 1.5 s in the middle. 1.5 s / 0.27 s per 1.5e10 = 8e10, rounded up: `fixed` on
# Fashion-MNIST compiles from 7 epochs on (30 epochs: 4.4e11), and on digits never (30 epochs: 1.2e9).
XLA_MIN_MACS = 1e11


class TrainingDiverged(SimplennError):
    """The loss became NaN or infinite: the message, the config and the epoch it happened in."""

    def __init__(self, message: str, config: Config | None = None, epoch: int | None = None):
        super().__init__(message)
        self.config, self.epoch = config, epoch


def expected_macs(config: Config, n_train: int) -> float:
    """The multiply-adds a run's steps will do: examples x epochs x (forward + backward) per example.

    The backward pass does two matmuls for each of the forward pass's one (dW and dA).
    """
    forward = sum(n_in * n_out for n_in, n_out in zip(config.layers, config.layers[1:]))
    return float(n_train) * config.epochs * 3 * forward


def uses_xla(config: Config, n_train: int) -> bool:
    """Whether a run compiles its steps with XLA: `--xla`/`--no-xla` when given, else whether
    its arithmetic is enough to pay back the compilation (`XLA_MIN_MACS`).

    XLA orders float additions its own way, so a run's weights differ with and without it.
    """
    if config.jit_compile is not None:
        return config.jit_compile
    return expected_macs(config, n_train) >= XLA_MIN_MACS


def use_deterministic_kernels() -> None:
    """Same seed, same weights: TensorFlow picks kernels that add in a fixed order (process-wide)."""
    tf.config.experimental.enable_op_determinism()


# Config fields that do not reach the compiled steps: runs that differ only in them share them.
# The initial weights are drawn before the steps run; the seed is a variable of `CompiledSteps`,
# and so are the optimizer's numbers in `retunable_fields` (a grid over learning rates, say).
OUTSIDE_THE_STEPS = {"preset", "dataset", "scale_inputs", "test_split", "image_size", "validation_split", "patience",
                     "init", "init_stddev", "seed", "checkpoint_every_steps", "max_to_keep", "stop_on_nan",
                     "cpu_devices"}


class CompiledSteps:
    """A run's network, optimizer and epoch counters with the compiled loop traced on them.

    `compiled_steps` keeps them for the next run of the same shape in the process, which
    only resets the variables: tracing and XLA compilation are paid once per shape.
    """

    def __init__(self, config: Config, n_train: int, image_shape, jit_compile: bool):
        self.config, self.n_train, self.image_shape = config, n_train, image_shape
        self.strategy = tf.distribute.get_strategy()  # the default strategy outside a `strategy.scope()`
        self.batch_size = min(config.batch_size or n_train, n_train)
        self.steps_per_epoch = math.ceil(n_train / self.batch_size)
        self.network = Network(
            config.layers, config.activation, config.init, config.init_stddev,
            config.dropout, config.seed, config.precision,
        )
        self.optimizer = make_optimizer(config, self.steps_per_epoch)
        if config.optimizer == "adamw":
            self.optimizer.exclude_from_weight_decay(var_list=self.network.biases)
        self.optimizer.build(self.network.params)
        self.optimizer_start = [v.numpy() for v in self.optimizer.variables]
        self.seed = tf.Variable(config.seed, dtype=tf.int64, trainable=False, name="seed")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")  # completed
        self.step_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="step_in_epoch")
        self.loss_sum = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="loss_sum")
        self.correct = tf.Variable(0, dtype=tf.int64, trainable=False, name="correct")
        # Steps on whole batches run BLOCK_STEPS to a compiled call. An epoch's smaller last
        # batch runs without XLA: compiling its shape too would cost more than it saves.
        self.block_steps = min(BLOCK_STEPS, n_train // self.batch_size)
        self.replicas = self.strategy.num_replicas_in_sync
        # Traced once each, without AutoGraph: its rewrite of every function the step calls
        # cost more than a second of the first epoch. The loops are `tf.while_loop`s instead.
        # The step is traced once for any batch size. On one device XLA compiles the whole
        # block; on several, each replica's gradients (the update all-reduces, which XLA cannot compile).
        batch = tf.TensorSpec([None, None], tf.float32)  # X (B, n0) or Y (B, K), any B
        self._step = tf.function(self._train_step, autograph=False,
                                 input_signature=[batch, batch, tf.TensorSpec([2], tf.int64)])
        self._block = tf.function(self._train_block, jit_compile=jit_compile and self.replicas == 1,
                                  autograph=False)
        self._gradients = None
        if self.replicas > 1:
            self._gradients = tf.function(self._batch_gradients, jit_compile=jit_compile)
        self._steps = tf.function(self._train_steps, autograph=False)
        # X (n, n0) -> Z (n, K), traced once for any n and, like the steps, without AutoGraph:
        # its rewrite of the forward pass took a third of a digits run's first second.
        rows = tf.TensorSpec([None, config.layers[0]], tf.float32)
        self.forward = tf.function(self.network.forward, jit_compile=jit_compile, autograph=False,
                                   input_signature=[rows])
        # What `fit` reads after every chunk, one call each rather than an eager op per variable
        # and per term of the schedule: those took a tenth of a digits run.
        self.learning_rate = tf.function(lambda: tf.convert_to_tensor(self.optimizer.learning_rate),
                                         autograph=False)  # () float32, at the optimizer's current step
        self.weights_are_finite = tf.function(
            lambda: tf.reduce_all([tf.reduce_all(tf.math.is_finite(p)) for p in self.network.params]),
            autograph=False)  # () bool
        self.owner = None  # a weak reference to the `Trainer` using these steps

    def reset(self, config: Config) -> None:
        """Start again from `config`'s initial weights (its seed), a new optimizer state and epoch 0."""
        for p, start in zip(self.network.params, initial_params(config.layers, config.init, config.init_stddev,
                                                                config.seed)):
            p.assign(start)
        for v, start in zip(self.optimizer.variables, self.optimizer_start):
            v.assign(start)
        retune(self.optimizer, config)  # after them: Keras's float rate is one of them
        self.seed.assign(config.seed)
        for counter in (self.epoch, self.step_in_epoch, self.correct):
            counter.assign(0)
        self.loss_sum.assign(0.0)

    def step_seed(self):
        """(seed, optimizer step) as a (2,) int64 tensor: step k draws the same images and
        dropout masks on resume."""
        step_count = tf.convert_to_tensor(self.optimizer.iterations)  # keras variable -> (), int64
        return tf.stack([tf.convert_to_tensor(self.seed), step_count])

    def _batch_gradients(self, X, Y, step_seed, global_batch_size):
        return batch_gradients(self.network, self.config, X, Y, step_seed, self.image_shape, global_batch_size)

    def _replica_step(self, X, Y, step_seed):
        """One replica's part of `train_step` on the batch `X (G, n0)`, `Y (G, K)`:
        (loss summed over its rows, correct answers) `(2,)`."""
        config, R = self.config, self.replicas
        G = tf.shape(X, out_type=tf.int64)[0]
        global_batch_size = None
        if R > 1:  # replica r of R computes on rows [r G / R, (r + 1) G / R), with draws of its own
            r = tf.cast(tf.distribute.get_replica_context().replica_id_in_sync_group, tf.int64)
            X, Y = X[r * G // R : (r + 1) * G // R], Y[r * G // R : (r + 1) * G // R]  # (G / R, n0), (G / R, K)
            step_seed = tf.random.experimental.stateless_fold_in(step_seed, r)
            global_batch_size = G  # each replica's loss is its share of the step's
        loss, Z = train_step(self.network, self.optimizer, config, X, Y, step_seed, self.image_shape,
                             global_batch_size, self._gradients)
        loss_total = loss if config.reduction == "sum" else loss * tf.cast(G, loss.dtype)
        correct = tf.reduce_sum(tf.cast(tf.argmax(Z, 1) == tf.argmax(Y, 1), loss.dtype))
        return tf.stack([loss_total, correct])

    def _train_step(self, X, Y, step_seed):
        """`train_step` on `X (B, n0)`, `Y (B, K)` through `strategy.run`: (summed loss, correct) `(2,)`."""
        totals = self.strategy.run(self._replica_step, args=(X, Y, step_seed))
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, totals, axis=None)

    def _train_block(self, Xb, Yb, count):
        """Steps on the first `count` batches of a block `Xb (S, B, n0)`, `Yb (S, B, K)`.

        Returns (loss summed over the examples, correct) `(2,)`, as `_train_step` does.
        """
        def step(s, totals):  # a while loop, not `tf.range(count)`: XLA would compile once per count
            return s + 1, totals + self._step(Xb[s], Yb[s], self.step_seed())

        _, totals = tf.while_loop(lambda s, _: s < count, step, (tf.constant(0, tf.int64), tf.zeros((2,))))
        return totals

    def _train_steps(self, X, Y, epoch, start, stop):
        """Run steps `start..stop-1` of `epoch` over the shuffled rows of `X (n, n0)`."""
        n = tf.shape(X, out_type=tf.int64)[0]
        B, S = self.batch_size, tf.constant(self.block_steps, tf.int64)
        order = epoch_order(n, epoch, tf.convert_to_tensor(self.seed), self.steps_per_epoch > 1)  # (n,)
        whole = tf.minimum(stop, n // B)  # steps before `whole` have a whole batch of B rows

        def block(first):
            count = tf.minimum(S, whole - first)
            rows = order[first * B : (first + count) * B]
            rows = tf.pad(rows, [[0, (S - count) * B]])  # a short block: steps it skips read row 0
            Xb = tf.reshape(tf.gather(X, rows), [S, B, -1])  # (S * B, n0) -> (S, B, n0)
            Yb = tf.reshape(tf.gather(Y, rows), [S, B, -1])
            self._add_to_epoch(self._block(Xb, Yb, count))
            return first + S

        tf.while_loop(lambda first: first < whole, block, [start])

        def last_batch(done):  # the epoch's last batch, of n mod B rows
            rows = order[whole * B :]
            self._add_to_epoch(self._step(tf.gather(X, rows), tf.gather(Y, rows), self.step_seed()))
            return done + 1

        # Run once if `stop` reaches it: a loop, as `tf.cond` cannot hold MirroredStrategy's `run`.
        tf.while_loop(lambda done: done < tf.cast(stop > whole, tf.int64), last_batch, [tf.constant(0, tf.int64)])
        self.step_in_epoch.assign(stop)

    def _add_to_epoch(self, totals):
        """Add a block's or step's (summed loss, correct) `(2,)` to the epoch's."""
        self.loss_sum.assign_add(tf.cast(totals[0], tf.float64))
        self.correct.assign_add(tf.cast(totals[1], tf.int64))


# The steps compiled in this process, by shape: a list, as two live trainers of one shape need two.
_compiled: dict[tuple, list[CompiledSteps]] = {}


def compiled_steps(config: Config, n_train: int, image_shape, owner) -> CompiledSteps:
    """Steps for `config` on `n_train` rows: ones compiled before for the same shape whose
    trainer is gone, reset to `config`'s start, else new ones. `owner` (the trainer) holds them."""
    jit_compile = uses_xla(config, n_train)
    strategy = tf.distribute.get_strategy()
    outside = OUTSIDE_THE_STEPS | retunable_fields(config)
    step_settings = tuple((field.name, getattr(config, field.name)) for field in dataclasses.fields(config)
                          if field.name not in outside)
    shape = (step_settings, n_train, image_shape, jit_compile, strategy)
    kept = _compiled.setdefault(shape, [])
    free = [steps for steps in kept if steps.owner is None or steps.owner() is None]
    if free:
        steps = free[0]
        steps.config = config
        steps.reset(config)
    else:
        steps = CompiledSteps(config, n_train, image_shape, jit_compile)
        kept.append(steps)
    steps.owner = weakref.ref(owner)
    return steps


class Trainer(tf.Module):
    """A network, its optimizer and the progress of one run, all checkpointable.

    The progress counters and the running sums of the current epoch are variables, so a
    checkpoint taken mid-epoch resumes with the same epoch statistics; so are the best
    validation accuracy and its weights, for early stopping.
    """

    def __init__(self, config: Config, n_train: int, image_shape: tuple[int, int] | None = None):
        """image_shape: (height, width) of the flattened training images; augmentation needs it."""
        super().__init__(name="trainer")
        if config.augments:
            check_augmentation(config, image_shape)
        self.image_shape = image_shape
        self.config = config
        self.n_train = n_train
        steps = compiled_steps(config, n_train, image_shape, self)
        self._compiled = steps  # not a checkpointed object: its variables are, as the attributes below
        self.jit_compile = uses_xla(config, n_train)
        self.batch_size, self.steps_per_epoch = steps.batch_size, steps.steps_per_epoch
        self.network, self.optimizer = steps.network, steps.optimizer
        self.epoch, self.step_in_epoch = steps.epoch, steps.step_in_epoch
        self.loss_sum, self.correct = steps.loss_sum, steps.correct
        # Early stopping: the best validation accuracy so far and the weights that got it.
        self.best_accuracy = tf.Variable(-1.0, dtype=tf.float64, trainable=False)
        self.best_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.best_params = [tf.Variable(p, trainable=False) for p in self.network.params]
        self.forward = steps.forward  # X (n, n0) -> Z (n, K), compiled as the steps are

    @property
    def global_step(self) -> int:
        return int(self.optimizer.iterations.numpy())

    def step_seed(self):
        """(seed, optimizer step) as a (2,) int64 tensor: what the next step's draws are keyed by."""
        return self._compiled.step_seed()

    def run_steps(self, train: Split, stop: int) -> None:
        """Advance the current epoch up to step `stop`."""
        self._compiled._steps(
            train.X, train.Y, self.epoch, self.step_in_epoch, tf.constant(stop, tf.int64)
        )

    def epoch_statistics(self) -> tuple[float, float]:
        """(mean loss per example, accuracy) over the batches of the epoch so far."""
        seen = min(int(self.step_in_epoch.numpy()) * self.batch_size, self.n_train)
        return float(self.loss_sum.numpy()) / max(seen, 1), int(self.correct.numpy()) / max(seen, 1)

    def start_next_epoch(self) -> None:
        self.epoch.assign_add(1)
        self.step_in_epoch.assign(0)
        self.loss_sum.assign(0.0)
        self.correct.assign(0)

    def learning_rate(self) -> float:
        return float(self._compiled.learning_rate())

    def weights_are_finite(self) -> bool:
        return bool(self._compiled.weights_are_finite())


# Early stopping, on the trainer's checkpointed best accuracy, epoch and weights.

def remember_if_best(trainer: Trainer, accuracy: float) -> bool:
    """Keep the weights when `accuracy` beats the best so far; True if it did."""
    if accuracy <= float(trainer.best_accuracy.numpy()):
        return False
    trainer.best_accuracy.assign(accuracy)
    trainer.best_epoch.assign(trainer.epoch + 1)
    for best, p in zip(trainer.best_params, trainer.network.params):
        best.assign(p)
    return True


def restore_best(trainer: Trainer) -> None:
    for best, p in zip(trainer.best_params, trainer.network.params):
        p.assign(best)


def stopped_early(trainer: Trainer) -> bool:
    """True once `patience` epochs have passed without a better validation accuracy.

    Read from the checkpointed counters, so a run resumed after it stopped stays stopped.
    """
    patience = trainer.config.patience
    return bool(patience) and int(trainer.epoch.numpy()) - int(trainer.best_epoch.numpy()) >= patience


def overflow_causes(config: Config) -> list[tuple[str, str]]:
    """The settings of `config` that make numbers blow up, most fundamental first: (cause, fix)."""
    causes = []
    if not config.scale_inputs:
        causes.append(("raw 0-255 inputs", "--scale-inputs"))
    if config.reduction == "sum":
        causes.append(("a loss summed over the batch instead of averaged", "--reduction mean"))
    causes.append((f"a learning rate of {config.lr:g} that may be too large", f"--lr {config.lr / 10:g}"))
    return causes


def divergence_message(config: Config, epoch: int, as_parameters: bool = False) -> str:
    """Why a loss goes to NaN or infinity, in the terms of this config: the CLI's flags, or
    with `as_parameters` the estimator's (`lr=0.1` for `--lr 0.1`)."""
    causes = [f"{cause} (try {as_parameter(fix) if as_parameters else fix})" for cause, fix in overflow_causes(config)]
    return f"loss became NaN or infinite in epoch {epoch}; likely causes: " + "; ".join(causes)


def as_parameter(flag: str) -> str:
    """A CLI fix in a Python caller's terms: "--lr 0.01" -> "lr=0.01", "--scale-inputs" -> "scale_inputs=True"."""
    name, _, value = flag.removeprefix("--").partition(" ")
    name = name.replace("-", "_")
    if not value:
        return f"{name}=True"
    try:
        float(value)
    except ValueError:
        return f"{name}={value!r}"
    return f"{name}={value}"


def chunk_steps(config: Config, steps_per_epoch: int, live_progress: bool, chunks_per_epoch: int = 1) -> int:
    """How many steps run per call into the compiled loop.

    One call per epoch is fastest; a live progress bar wants about ten updates an epoch, a
    caller's `on_chunk` `chunks_per_epoch`, and step checkpoints need a return to Python
    every `checkpoint_every_steps`.
    """
    chunks = max(chunks_per_epoch, 10 if live_progress else 1)
    chunk = max(1, math.ceil(steps_per_epoch / chunks))
    if config.checkpoint_every_steps:
        chunk = min(chunk, config.checkpoint_every_steps)
    return chunk


def fit(
    trainer: Trainer,
    train: Split,
    validation: Split | None = None,
    *,
    live_progress: bool = False,
    on_chunk: Callable[[Trainer], None] | None = None,
    on_epoch: Callable[[Trainer, EpochRecord], None] | None = None,
    log: Callable[[str], None] = print,
    epochs: int | None = None,
    chunks_per_epoch: int = 1,
) -> list[EpochRecord]:
    """Train from the trainer's current epoch and step to `epochs` (default `config.epochs`).

    `epochs` beyond the config's is how `Classifier.partial_fit` trains one more epoch.
    `on_chunk` runs after each finished chunk of steps (step checkpoints; at least
    `chunks_per_epoch` a epoch, and `trainer.epoch_statistics()` is the epoch's loss and
    accuracy so far); `on_epoch` after each epoch (history, epoch checkpoints). Early stopping, when configured,
    restores the weights of the best validation epoch. Each epoch's figures go to `log`,
    or with `live_progress` onto the terminal's live line, in place of the epoch's bar.
    """
    use_deterministic_kernels()
    config = trainer.config
    chunk = chunk_steps(config, trainer.steps_per_epoch, live_progress, chunks_per_epoch)
    history: list[EpochRecord] = []
    warned_overflow = False
    progress = EpochProgress(config.epochs, trainer.steps_per_epoch) if live_progress else None
    try:
        while int(trainer.epoch.numpy()) < (epochs or config.epochs) and not stopped_early(trainer):
            record, warned_overflow = _fit_epoch(
                trainer, train, validation, chunk, progress, on_chunk, log, warned_overflow
            )
            history.append(record)
            trainer.start_next_epoch()
            if progress:
                progress.finish_epoch(record.epoch, epoch_line(record, config.epochs))
            else:
                log(epoch_line(record, config.epochs))
            if stopped_early(trainer):
                log(f"early stopping: no better validation accuracy for {config.patience} epochs")
            if on_epoch is not None:
                on_epoch(trainer, record)
    finally:
        if progress:
            progress.close()  # an interruption's message starts on a line of its own
    if config.patience and validation is not None:
        restore_best(trainer)
        log(f"restored the weights of epoch {int(trainer.best_epoch.numpy())} "
            f"(val_accuracy {100 * float(trainer.best_accuracy.numpy()):.2f})")
    return history


def _fit_epoch(trainer: Trainer, train: Split, validation: Split | None, chunk: int,
               progress: EpochProgress | None, on_chunk, log, warned_overflow: bool) -> tuple[EpochRecord, bool]:
    """Run the rest of the current epoch, `chunk` steps per call: its record, and whether an overflow
    has been warned about (once a run)."""
    config = trainer.config
    epoch = int(trainer.epoch.numpy()) + 1
    started, first_step = time.perf_counter(), int(trainer.step_in_epoch.numpy())
    while (step := int(trainer.step_in_epoch.numpy())) < trainer.steps_per_epoch:
        trainer.run_steps(train, min(trainer.steps_per_epoch, step + chunk))
        loss, accuracy = trainer.epoch_statistics()
        if config.stop_on_nan and not (math.isfinite(loss) and trainer.weights_are_finite()):
            # The weights are checked as well: the chunk's last update can overflow them
            # while the loss it started from was finite, and on_chunk may checkpoint them.
            raise TrainingDiverged(divergence_message(config, epoch), config, epoch)
        if not math.isfinite(loss) and not warned_overflow:
            causes = " and ".join(cause for cause, _ in overflow_causes(config))
            if progress:
                progress.close()
            log(
                f"warning: the loss overflowed in epoch {epoch}: {causes}; `simplenn diagnose` "
                "shows why. Carrying on, as the post does."
            )
            warned_overflow = True
        if progress:
            progress.update(epoch, int(trainer.step_in_epoch.numpy()), loss, accuracy)
        if on_chunk is not None:
            on_chunk(trainer)
    seconds = time.perf_counter() - started
    trained = min((trainer.steps_per_epoch - first_step) * trainer.batch_size, train.size)
    loss, accuracy = trainer.epoch_statistics()
    val_loss = val_accuracy = None
    if validation is not None:
        val_loss, val_accuracy = loss_and_accuracy(trainer.forward, validation, config)
        remember_if_best(trainer, val_accuracy)
    record = EpochRecord(
        epoch, loss, accuracy, val_loss, val_accuracy, trainer.learning_rate(), seconds, trained / seconds
    )
    return record, warned_overflow
