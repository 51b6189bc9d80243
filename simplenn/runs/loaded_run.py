"""`load_run`: a finished (or stopped) run, back in Python with its weights.

    run = load_run("runs/fixed-digits-20250101-120000")
    run.predict(x_test)            # (n,) classes, for images (n, 8, 8) or (n, 64) of pixels 0-255
    run.evaluate().accuracy        # the run's test split, scored again
    run.contract                   # what one input is, its scaling and recipe (contract.py)

Every input goes through the run's `InputContract`: checked (shape, NaN, 0-1 fractions
given to a run that reads pixels 0-255) and scaled as training scaled it, then one
forward pass, then `class_scores`: the path `predict`, `serve`, `export` and `Classifier` share.

The weights come from the newest checkpoint whose sha256 digest verifies (see
`checkpoints.py`), or, when early stopping kept them, the best validation epoch's. A
finished run's weights must hash to the `weights_sha256` of its summary.json, so what
is loaded is exactly what was scored. Loading reads the run directory and writes nothing.

Only the weights are read: predicting needs no optimizer, so none is built (nor Keras
imported) until something asks for `run.trainer`, the whole training state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from simplenn.config import Config
from simplenn.datasets import class_names
from simplenn.errors import SimplennError
from simplenn.nn.metrics import logits_in_blocks, weights_sha256
from simplenn.nn.network import Network, class_scores
from simplenn.runs.contract import InputContract, implied_contract, run_dataset
from simplenn.runs.run_directory import RunDirectory
from simplenn.training.checkpoints import CheckpointStore, TrainedWeights
from simplenn.training.progress import EpochRecord


@dataclass
class LoadedRun:
    """A trained network with the config, history and summary of the run that trained it."""

    run_dir: Path
    config: Config
    network: Network
    history: list[EpochRecord]
    summary: dict | None  # None for a run that has not finished
    class_names: list[str]  # e.g. "T-shirt/top" for Fashion-MNIST, "0".."9" for digits (data.json)
    image_shape: tuple[int, int]  # (height, width) of the images the network reads
    checkpoint: Path  # the checkpoint the weights were read from
    contract: InputContract = None  # what one input is, how it was scaled, its recipe (data.json)
    training_data: str | None = None  # where its data is now, when `load_run` was told (`dataset=`)

    def __repr__(self) -> str:
        accuracy = f", test accuracy {100 * self.summary['test_accuracy']:.2f} %" if self.summary else ""
        return f"LoadedRun({self.run_dir}: {self.network!r}, {self.config.preset} on {self.config.dataset}{accuracy})"

    def inputs(self, images) -> np.ndarray:
        """The network's input `X (n, h*w)` float32 for images `(n, h, w)` or `(n, h*w)` of 0-255 pixels.

        The run's contract checks them and scales them as training did (/255 when it trained
        on scaled inputs); `SimplennError` says what does not fit.
        """
        return self.contract.network_inputs(images, "the images")  # (n, h*w)

    def logits(self, images) -> np.ndarray:
        """Logits `(n, K)` for images `(n, h, w)` or `(n, h*w)` of 0-255 pixels."""
        return logits_in_blocks(self.network.forward, self.inputs(images))

    def predict_proba(self, images) -> np.ndarray:
        """Class scores `(n, K)`: softmax probabilities, or the post's ten independent
        sigmoids for its sigmoid loss (which need not sum to 1)."""
        return self.scores(self.logits(images))

    def scores(self, logits) -> np.ndarray:
        """`(n, K)` logits -> `(n, K)` class scores, by `class_scores`, the function the exported graph uses."""
        return np.asarray(class_scores(logits, self.config.loss))

    def predict(self, images) -> np.ndarray:
        """Classes `(n,)`: the largest logit, as the post's `argmax`."""
        return np.argmax(self.logits(images), axis=1)

    @cached_property
    def trainer(self):
        """The run's whole `Trainer` from the same checkpoint, optimizer included, for `diagnose`'s measurements."""
        from simplenn.training.trainer import Trainer, restore_best  # Keras loads here, for the optimizer

        # n_train only sets the batch count of the learning-rate schedule; restoring needs none.
        trainer = Trainer(self.config, n_train=1, image_shape=self.image_shape)
        CheckpointStore(self.checkpoint.parent, trainer, read_only=True).load(self.checkpoint)
        if self.config.patience and int(trainer.best_epoch.numpy()) > 0:
            restore_best(trainer)
        return trainer

    def evaluate(self, dataset: str | None = None):
        """An `Evaluation` of the test split of `dataset` (default: the run's own, found where
        data.json recorded it; a path given is checked against its recorded sha256)."""
        from simplenn.runs.evaluation import evaluate_run

        return evaluate_run(self, dataset)


def image_shape_of(n_features: int) -> tuple[int, int]:
    """The image a row of features is taken to be: (28, 28) for 784, (1, n) when n is not a square.

    For runs recorded before data.json stored the shape, and for `Classifier`'s rows."""
    side = math.isqrt(n_features)
    return (side, side) if side * side == n_features else (1, n_features)


def load_run(run_dir: str | Path, dataset: str | None = None) -> LoadedRun:
    """The run in `run_dir` with its trained weights, or `SimplennError` naming what is wrong.

    dataset: where the run's training data is now, when it was moved; it must hash to the
    sha256 recorded in data.json. Without it the run finds its data where it was trained.
    """
    run = RunDirectory(run_dir)
    path = run.path
    config, history, summary = run.read_records()
    try:
        facts = run.read_data_facts()
    except SimplennError as error:
        raise SimplennError(f"cannot load run {path}: {error}") from None
    if facts is None:  # a run recorded before data.json: a catalogue dataset of square images
        names, image_shape = class_names(config.dataset), image_shape_of(config.layers[0])
    else:
        names, image_shape = facts["class_names"], tuple(facts["image_shape"])
        h, w = image_shape
        if (h * w, len(names)) != (config.layers[0], config.layers[-1]):
            raise SimplennError(
                f"cannot load run {path}: {path / 'data.json'} says {len(names)} classes of {h}x{w} images, but the "
                f"network in config.json reads {config.layers[0]} inputs into {config.layers[-1]} outputs; "
                "the file was changed after training")
    if facts is not None and "input" in facts:
        try:
            contract = InputContract.from_dict(facts["input"], f"{path / 'data.json'}")
        except SimplennError as error:
            raise SimplennError(f"cannot load run {path}: {error}") from None
        if contract.image_shape != image_shape:
            raise SimplennError(
                f"cannot load run {path}: {path / 'data.json'} says its inputs are {contract.describe()} but its "
                f"image_shape is {image_shape[0]}x{image_shape[1]}; the file was changed after training")
    else:  # recorded before data.json held the contract: the one its config implies
        contract = implied_contract(config, image_shape)
    if dataset is not None:
        dataset = run_dataset(contract, dataset)  # checked now, before any weight is read
    warnings: list[str] = []
    trained = TrainedWeights(config)
    store = CheckpointStore(run.checkpoints, trained, log=warnings.append, read_only=True)
    try:
        checkpoint = store.restore()
    except SimplennError as error:
        raise SimplennError(f"cannot load run {path}: {error}") from None
    if checkpoint is None:
        raise SimplennError(f"cannot load run {path}: it holds no checkpoint in {run.checkpoints}")
    trained.use_best()  # what early stopping kept, and what summary.json scored
    if summary is not None:
        expected = summary.get("weights_sha256")
        if weights_sha256(trained.network.params) != expected:
            not_scored = f"summary.json scored (weights_sha256 {str(expected)[:12]}...)"
            skipped = "; ".join(
                w.removeprefix("warning: ").removesuffix("; trying the one before it") for w in warnings
            )
            if skipped:
                problem = f"{skipped}, and {checkpoint.name} before it does not hold the weights {not_scored}"
            else:
                problem = f"the weights in {checkpoint.name} are not the ones {not_scored}"
            raise SimplennError(f"cannot load run {path}: {problem}; the run directory was changed after training")
    return LoadedRun(
        run_dir=path,
        config=config,
        network=trained.network,
        history=history,
        summary=summary,
        class_names=names,
        image_shape=image_shape,
        checkpoint=checkpoint,
        contract=contract,
        training_data=dataset,
    )

