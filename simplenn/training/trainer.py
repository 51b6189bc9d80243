"""Training: the post's step, compiled and run over mini-batches.

    train_step(network, optimizer, config, X, Y, step_seed)   the post's `backward`, one update
    Trainer(config, n_train, image_shape)                     one run's state, steps run compiled
    fit(trainer, train, validation)                           epochs, history, early stopping

The step is the post's `backward`: forward pass and loss inside `tf.GradientTape`,
`tape.gradient`, then `optimizer.apply_gradients`, with one optimizer for the whole run
instead of a new one per call. `Trainer` runs a whole range of steps inside one
`tf.function` with the data resident as tensors, so Python runs once per chunk of an
epoch, not once per batch; within it, blocks of `BLOCK_STEPS` steps on whole batches run
as one XLA call each, and an epoch's smaller last batch runs on its own, without XLA.

Every source of randomness is stateless and keyed by (seed, epoch) or (seed, step):
the shuffle of epoch e and the augmented images and dropout masks of step k are the
same whether or not the run was interrupted in between, so a resumed run ends with the
same weights.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
from simplenn.machine.quiet_tensorflow import tf

from simplenn.training.augmentation import augment, check_augmentation
from simplenn.config import Config
from simplenn.training.data import Split
from simplenn.errors import SimplennError
from simplenn.nn.losses import data_loss, l2_penalty
from simplenn.nn.metrics import loss_and_accuracy
from simplenn.nn.network import Network
from simplenn.nn.optimizers import make_optimizer, uses_l2_penalty
from simplenn.training.progress import EpochProgress, EpochRecord, epoch_line

# Whole batches per compiled call: a call from the graph costs a fraction of a step's
# arithmetic on a batch of a few hundred rows, paid once per block instead of once per step.
BLOCK_STEPS = 32


class TrainingDiverged(SimplennError):
    """The loss became NaN or infinite: the message, the config and the epoch it happened in."""

    def __init__(self, message: str, config: Config | None = None, epoch: int | None = None):
        super().__init__(message)
        self.config, self.epoch = config, epoch


def tape_gradients(network: Network, config: Config, X, Y, step_seed=None, global_batch_size=None):
    """The post's backward pass: loss `()`, logits `(B, K)` and d(objective)/d(params).

    step_seed (2,) keys the dropout masks; a config without dropout needs none.
    global_batch_size: under a tf.distribute strategy (distribution.py), the rows of the
    step on all replicas; the loss and penalty are then this replica's share of them.
    """
    with tf.GradientTape() as tape:
        Z = network.forward(X, training=True, dropout_seed=step_seed)  # (B, K)
        loss = data_loss(Y, Z, config.loss, config.reduction, config.label_smoothing, global_batch_size)
        objective = loss
        if uses_l2_penalty(config):
            penalty = l2_penalty(network.weights, config.weight_decay)
            objective += penalty if global_batch_size is None else tf.nn.scale_regularization_loss(penalty)
    return loss, Z, tape.gradient(objective, network.params)


def gradient_function(grad: str) -> Callable:
    """`tape_gradients`, or the chain rule written out by hand for `grad="manual"`."""
    if grad == "manual":
        from simplenn.nn.backprop import manual_gradients

        return manual_gradients
    return tape_gradients


def train_step(network: Network, optimizer, config: Config, X, Y, step_seed=None, image_shape=None):
    """One update on a batch `X (B, n0)`, `Y (B, K)`: the post's `backward(x, y)`.

    step_seed (2,) keys the step's augmentation and dropout masks (a config with neither
    needs none); image_shape (H, W) lets augmentation see the flattened rows as images.
    Returns the loss `()` and the logits `(B, K)`, both from before the update.
    """
    # (B, n0) moved or mirrored copies; the batch itself when the config does not augment
    X = augment(X, image_shape, config.shift_pixels, config.flip_images, step_seed)
    loss, Z, grads = gradient_function(config.grad)(network, config, X, Y, step_seed)
    optimizer.apply_gradients(zip(grads, network.params))  # W -= lr * dW, or Adam's rule
    return loss, Z


def use_deterministic_kernels() -> None:
    """Same seed, same weights: TensorFlow picks kernels that add in a fixed order (process-wide)."""
    tf.config.experimental.enable_op_determinism()


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
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")  # completed
        self.step_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="step_in_epoch")
        self.loss_sum = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="loss_sum")
        self.correct = tf.Variable(0, dtype=tf.int64, trainable=False, name="correct")
        # Early stopping: the best validation accuracy so far and the weights that got it.
        self.best_accuracy = tf.Variable(-1.0, dtype=tf.float64, trainable=False)
        self.best_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.best_params = [tf.Variable(p, trainable=False) for p in self.network.params]
        # Steps on whole batches run BLOCK_STEPS to a compiled call. An epoch's smaller last
        # batch runs without XLA: compiling its shape too would cost more than it saves.
        self.block_steps = min(BLOCK_STEPS, n_train // self.batch_size)
        # Traced once each, without AutoGraph: its rewrite of every function the step calls
        # cost more than a second of the first epoch. The loops are `tf.while_loop`s instead.
        # The step is traced once for any batch size, and the block compiles it with XLA.
        batch = tf.TensorSpec([None, None], tf.float32)  # X (B, n0) or Y (B, K), any B
        self._step = tf.function(self._train_step, autograph=False,
                                 input_signature=[batch, batch, tf.TensorSpec([2], tf.int64)])
        self._block = tf.function(self._train_block, jit_compile=config.jit_compile, autograph=False)
        self._steps = tf.function(self._train_steps, autograph=False)
        self.forward = tf.function(self.network.forward, jit_compile=config.jit_compile)  # X (n, n0) -> Z (n, K)

    @property
    def global_step(self) -> int:
        return int(self.optimizer.iterations.numpy())

    def step_seed(self):
        """(seed, optimizer step) as a (2,) int64 tensor: step k draws the same images and
        dropout masks on resume."""
        step_count = tf.convert_to_tensor(self.optimizer.iterations)  # keras variable -> (), int64
        return tf.stack([tf.constant(self.config.seed, tf.int64), step_count])

    def _train_step(self, X, Y, step_seed):
        """`train_step` on `X (B, n0)`, `Y (B, K)`: (loss summed over the batch, correct answers)."""
        loss, Z = train_step(self.network, self.optimizer, self.config, X, Y, step_seed, self.image_shape)
        batch = tf.cast(tf.shape(X)[0], loss.dtype)
        loss_total = loss if self.config.reduction == "sum" else loss * batch
        correct = tf.reduce_sum(tf.cast(tf.argmax(Z, 1) == tf.argmax(Y, 1), tf.int64))
        return loss_total, correct

    def _train_block(self, Xb, Yb, count):
        """Steps on the first `count` batches of a block `Xb (S, B, n0)`, `Yb (S, B, K)`.

        Returns (loss summed over the examples, correct), as `_train_step` does.
        """
        def step(s, loss_total, correct):  # a while loop, not `tf.range(count)`: XLA would compile once per count
            step_loss, step_correct = self._step(Xb[s], Yb[s], self.step_seed())
            return s + 1, loss_total + step_loss, correct + step_correct

        start = (tf.constant(0, tf.int64), tf.zeros(()), tf.zeros((), tf.int64))
        _, loss_total, correct = tf.while_loop(lambda s, *_: s < count, step, start)
        return loss_total, correct

    def _train_steps(self, X, Y, epoch, start, stop):
        """Run steps `start..stop-1` of `epoch` over the shuffled rows of `X (n, n0)`."""
        n = tf.shape(X, out_type=tf.int64)[0]
        B, S = self.batch_size, tf.constant(self.block_steps, tf.int64)
        order = self.epoch_order(n, epoch)
        whole = tf.minimum(stop, n // B)  # steps before `whole` have a whole batch of B rows

        def block(first):
            count = tf.minimum(S, whole - first)
            rows = order[first * B : (first + count) * B]
            rows = tf.pad(rows, [[0, (S - count) * B]])  # a short block: steps it skips read row 0
            Xb = tf.reshape(tf.gather(X, rows), [S, B, -1])  # (S * B, n0) -> (S, B, n0)
            Yb = tf.reshape(tf.gather(Y, rows), [S, B, -1])
            self._add_to_epoch(*self._block(Xb, Yb, count))
            return first + S

        tf.while_loop(lambda first: first < whole, block, [start])

        def last_batch():  # the epoch's last batch, of n mod B rows
            rows = order[whole * B :]
            self._add_to_epoch(*self._step(tf.gather(X, rows), tf.gather(Y, rows), self.step_seed()))

        tf.cond(stop > whole, last_batch, lambda: None)
        self.step_in_epoch.assign(stop)

    def epoch_order(self, n, epoch):
        """The rows `(n,)` in the order the batches of `epoch` take them: shuffled by (seed, epoch)."""
        if self.steps_per_epoch == 1:
            return tf.range(n)  # the post's full batch, unshuffled
        return tf.random.experimental.stateless_shuffle(
            tf.range(n), seed=tf.stack([tf.constant(self.config.seed, tf.int64), epoch])
        )

    def _add_to_epoch(self, loss_total, correct):
        self.loss_sum.assign_add(tf.cast(loss_total, tf.float64))
        self.correct.assign_add(correct)

    def run_steps(self, train: Split, stop: int) -> None:
        """Advance the current epoch up to step `stop`."""
        self._steps(
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
        return float(np.asarray(self.optimizer.learning_rate))

    def weights_are_finite(self) -> bool:
        return all(bool(tf.reduce_all(tf.math.is_finite(p))) for p in self.network.params)


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


def chunk_steps(config: Config, steps_per_epoch: int, live_progress: bool) -> int:
    """How many steps run per call into the compiled loop.

    One call per epoch is fastest; a live progress bar wants about ten updates an epoch,
    and step checkpoints need a return to Python every `checkpoint_every_steps`.
    """
    chunk = steps_per_epoch
    if live_progress:
        chunk = max(1, math.ceil(steps_per_epoch / 10))
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
) -> list[EpochRecord]:
    """Train from the trainer's current epoch and step to `epochs` (default `config.epochs`).

    `epochs` beyond the config's is how `Classifier.partial_fit` trains one more epoch.
    `on_chunk` runs after each finished chunk of steps (step checkpoints); `on_epoch`
    after each epoch (history, epoch checkpoints). Early stopping, when configured,
    restores the weights of the best validation epoch. Each epoch's figures go to `log`,
    or with `live_progress` onto the terminal's live line, in place of the epoch's bar.
    """
    use_deterministic_kernels()
    config = trainer.config
    chunk = chunk_steps(config, trainer.steps_per_epoch, live_progress)
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
