"""`train_and_evaluate`: load the data, train, score, and write the run directory.

The one function behind `simplenn train`, the notebook, `ablate` and `bench`.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import tensorflow as tf

from simplenn.config import Config, fit_to_data
from simplenn.datasets import load_dataset, prepare
from simplenn.metrics import classification_scores, weights_sha256
from simplenn.run_directory import RunDirectory
from simplenn.training import Split, Trainer, fit, make_split, split_validation


@dataclass
class PreparedData:
    """A dataset prepared as the config asks: flattened, maybe scaled, one-hot."""

    train: Split
    validation: Split | None
    test: Split

    @property
    def n_features(self) -> int:
        return int(self.train.X.shape[1])

    @property
    def n_classes(self) -> int:
        return int(self.train.Y.shape[1])


def prepare_data(config: Config) -> PreparedData:
    """Load `config.dataset` and prepare it as the post does (scaling if configured)."""
    (x_train, y_train), (x_test, y_test) = load_dataset(config.dataset)
    X_train, Y_train = prepare(x_train, y_train, scale=config.scale_inputs)  # (n, 784), (n, 10)
    X_test, Y_test = prepare(x_test, y_test, scale=config.scale_inputs)
    if config.validation_split:
        train, validation = split_validation(X_train, Y_train, config.validation_split, config.seed)
    else:
        train, validation = make_split(X_train, Y_train), None
    return PreparedData(train, validation, make_split(X_test, Y_test))


def default_run_dir(config: Config) -> Path:
    return Path("runs") / f"{config.preset}-{config.dataset.replace('/', '_')}-{time.strftime('%Y%m%d-%H%M%S')}"


def train_and_evaluate(
    config: Config,
    *,
    run_dir: str | Path | None = None,
    adapt_layers: bool = True,
    data: PreparedData | None = None,
    live_progress: bool | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Train `config` and return its summary (also written to `run_dir`/summary.json).

    adapt_layers: fit the first and last layer sizes to the data (presets are written
    for 28x28 images); when False, a mismatch is an error naming both sizes.
    """
    data = data or prepare_data(config)
    config = fit_to_data(config, data.n_features, data.n_classes, layers_given=not adapt_layers)
    run = RunDirectory(run_dir).create() if run_dir is not None else None
    if run is not None:
        run.write_config(config)
    tf.config.experimental.enable_op_determinism()  # same seed, same weights
    trainer = Trainer(config, data.train.size)
    log(f"{trainer.network!r}; {config.preset} preset on {config.dataset}, "
        f"{data.train.size:,} training images, {trainer.steps_per_epoch} steps per epoch")
    history = []

    def on_epoch(trainer: Trainer, record) -> None:
        history.append(record)
        if run is not None:
            run.write_history(history)
            run.write_scalars(record)

    if live_progress is None:
        live_progress = sys.stdout.isatty()
    started = time.perf_counter()
    fit(trainer, data.train, data.validation, live_progress=live_progress, on_epoch=on_epoch, log=log)
    train_seconds = time.perf_counter() - started
    summary = summarize(config, trainer, data, history, train_seconds)
    if run is not None:
        run.write_summary(summary)
    return summary


def summarize(config: Config, trainer: Trainer, data: PreparedData, history, train_seconds: float) -> dict:
    """Scores of the trained network on the training and test sets, and the run's facts."""
    _, train_accuracy = trainer.evaluate(data.train)
    test_logits = trainer.logits(data.test.X)
    test_scores = classification_scores(data.test.labels, np.argmax(test_logits, axis=1))
    return {
        "preset": config.preset,
        "dataset": config.dataset,
        "config": config.to_dict(),
        "epochs": len(history) and history[-1].epoch,
        "train_seconds": train_seconds,
        "train_accuracy": train_accuracy,
        "test_accuracy": test_scores["accuracy"],
        "test_scores": test_scores,
        "n_params": trainer.network.n_params,
        "weights_sha256": weights_sha256(trainer.network.params),
        "tensorflow": tf.__version__,
    }
