"""Keras optimizers and learning-rate schedules, built from a `Config`.

The schedules count optimizer steps; `steps_per_epoch` turns the config's epochs into
steps. Every schedule is a `keras.optimizers.schedules.LearningRateSchedule`, so its
value at step k can be read back and checked against its formula.
"""

from __future__ import annotations

import math

from simplenn.config import Config
from simplenn.machine.quiet_tensorflow import keras  # `import keras`, after TensorFlow (quietly after `set_up`)


class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Smith's one-cycle policy: warm up, then anneal with a half cosine.

    For k < warmup: lr(k) = peak * (1/25 + (1 - 1/25) * k / warmup);
    after:          lr(k) = final + (peak - final) * (1 + cos(pi * t)) / 2,
    with t = (k - warmup) / (total - warmup) and final = peak / 1e4.
    Without a configured warm-up the rise takes the first 30 % of the steps.
    """

    def __init__(self, peak_lr: float, total_steps: int, warmup_steps: int):
        self.peak_lr = peak_lr
        self.total_steps = max(1, total_steps)
        self.warmup_steps = warmup_steps or max(1, int(0.3 * self.total_steps))
        self.initial_lr = peak_lr / 25.0
        self.final_lr = peak_lr / 1e4

    def __call__(self, step):
        ops = keras.ops
        step = ops.cast(step, "float32")
        warm = float(max(1, self.warmup_steps))
        rise = self.initial_lr + (self.peak_lr - self.initial_lr) * step / warm
        t = ops.clip((step - warm) / float(max(1, self.total_steps - self.warmup_steps)), 0.0, 1.0)
        fall = self.final_lr + (self.peak_lr - self.final_lr) * 0.5 * (1.0 + ops.cos(math.pi * t))
        return ops.where(step < warm, rise, fall)

    def get_config(self):
        return {
            "peak_lr": self.peak_lr,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
        }


def learning_rate(config: Config, steps_per_epoch: int):
    """The config's learning rate: a float, or a schedule over optimizer steps."""
    total_steps = config.epochs * steps_per_epoch
    warmup_steps = int(round(config.warmup_epochs * steps_per_epoch))
    if config.schedule == "constant":
        return config.lr
    if config.schedule == "step":
        # lr(k) = lr * gamma ** floor(k / (step_every_epochs * steps_per_epoch))
        return keras.optimizers.schedules.ExponentialDecay(
            config.lr,
            decay_steps=config.step_every_epochs * steps_per_epoch,
            decay_rate=config.step_gamma,
            staircase=True,
        )
    if config.schedule == "cosine":
        # With warm-up: linear from 0 to lr over warmup_steps; then
        # lr(k) = lr * (1 + cos(pi * (k - warmup) / (total - warmup))) / 2.
        if warmup_steps:
            return keras.optimizers.schedules.CosineDecay(
                0.0,
                decay_steps=max(1, total_steps - warmup_steps),
                warmup_target=config.lr,
                warmup_steps=warmup_steps,
            )
        return keras.optimizers.schedules.CosineDecay(config.lr, decay_steps=max(1, total_steps))
    if config.schedule == "onecycle":
        return OneCycle(config.lr, total_steps, warmup_steps)
    raise ValueError(f"unknown schedule {config.schedule!r}")


def make_optimizer(config: Config, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The config's Keras optimizer, created once per run (the post made one per step)."""
    lr = learning_rate(config, steps_per_epoch)
    clipping = {"global_clipnorm": config.clip_norm} if config.clip_norm else {}
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(lr, **clipping)
    if config.optimizer in ("momentum", "nesterov"):
        return keras.optimizers.SGD(
            lr, momentum=config.momentum, nesterov=config.optimizer == "nesterov", **clipping
        )
    if config.optimizer == "adam":
        return keras.optimizers.Adam(lr, **clipping)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=config.weight_decay, **clipping)
    raise ValueError(f"unknown optimizer {config.optimizer!r}")


def retunable_fields(config: Config) -> set[str]:
    """The fields `retune` gives an optimizer built for `config` afresh: a constant learning
    rate, which Keras keeps in a variable (and which does not depend on the epochs).

    A schedule's numbers and the weight decay stay constants of the compiled steps: TensorFlow's
    graph optimiser and XLA fold constants into their arithmetic (`c1 * k / c2` becomes
    `k * (c1 * (1 / c2))`), so the same numbers read from variables round differently and a
    run would no longer end with the weights it always had.
    """
    return {"lr", "epochs", "warmup_epochs"} if config.schedule == "constant" else set()


def retune(optimizer: keras.optimizers.Optimizer, config: Config) -> None:
    """Give `optimizer`, built by `make_optimizer`, the `retunable_fields` of `config`."""
    if config.schedule == "constant":
        optimizer.learning_rate = float(config.lr)


def uses_l2_penalty(config: Config) -> bool:
    """AdamW decays weights itself; every other optimizer gets weight decay as an L2 loss."""
    return config.weight_decay > 0 and config.optimizer != "adamw"
