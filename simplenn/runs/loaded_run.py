"""`load_run`: a finished (or stopped) run, back in Python with its weights.

    run = load_run("runs/fixed-digits-20250101-120000")
    run.predict(x_test)            # (n,) classes, for uint8 images (n, 8, 8) or (n, 64)
    run.evaluate().accuracy        # the run's test split, scored again

The weights come from the newest checkpoint whose sha256 digest verifies (see
`checkpoints.py`), or, when early stopping kept them, the best validation epoch's. A
finished run's weights must hash to the `weights_sha256` of its summary.json, so what
is loaded is exactly what was scored. Loading reads the run directory and writes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simplenn.config import Config
from simplenn.training.data import prepare_images
from simplenn.datasets import class_names
from simplenn.errors import SimplennError
from simplenn.nn.network import Network
from simplenn.nn.metrics import logits_in_blocks
from simplenn.runs.run_directory import RunDirectory
from simplenn.training.progress import EpochRecord
from simplenn.training.trainer import Trainer, restore_best


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
    trainer: Trainer = field(repr=False, default=None)  # the restored trainer, for `diagnose`'s measurements

    def __repr__(self) -> str:
        accuracy = f", test accuracy {100 * self.summary['test_accuracy']:.2f} %" if self.summary else ""
        return f"LoadedRun({self.run_dir}: {self.network!r}, {self.config.preset} on {self.config.dataset}{accuracy})"

    def inputs(self, images) -> np.ndarray:
        """The network's input `X (n, h*w)` float32 for images `(n, h, w)` or `(n, h*w)` of 0-255 pixels.

        The run's own preprocessing is applied: /255 when it trained on scaled inputs.
        """
        images = np.asarray(images)
        h, w = self.image_shape
        if images.ndim not in (2, 3) or images.shape[1:] not in ((h, w), (h * w,)):
            raise SimplennError(
                f"images of shape {images.shape} do not fit this run, which reads {h}x{w} images: "
                f"give them as (n, {h}, {w}) or (n, {h * w})"
            )
        return prepare_images(images, scale=self.config.scale_inputs)  # (n, h*w)

    def logits(self, images) -> np.ndarray:
        """Logits `(n, K)` for images `(n, h, w)` or `(n, h*w)` of 0-255 pixels."""
        return logits_in_blocks(self.network.forward, self.inputs(images))

    def predict_proba(self, images) -> np.ndarray:
        """Class scores `(n, K)`: softmax probabilities, or the post's ten independent
        sigmoids for its sigmoid loss (which need not sum to 1)."""
        return scores_from_logits(self.logits(images), self.config.loss)

    def predict(self, images) -> np.ndarray:
        """Classes `(n,)`: the largest logit, as the post's `argmax`."""
        return np.argmax(self.logits(images), axis=1)

    def evaluate(self, dataset: str | None = None):
        """An `Evaluation` of the test split of `dataset` (default: the run's own)."""
        from simplenn.runs.evaluation import evaluate_run

        return evaluate_run(self, dataset)


def scores_from_logits(logits: np.ndarray, loss: str) -> np.ndarray:
    """`(n, K)` logits -> `(n, K)` scores, as `Network.predict_proba` computes them, in NumPy."""
    logits = np.asarray(logits, dtype=np.float64)
    if loss == "sigmoid":
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -500, 500)))
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def image_shape_of(n_features: int) -> tuple[int, int]:
    """The image a row of features is taken to be: (28, 28) for 784, (1, n) when n is not a square.

    For runs recorded before data.json stored the shape, and for `Classifier`'s rows."""
    side = math.isqrt(n_features)
    return (side, side) if side * side == n_features else (1, n_features)


def load_run(run_dir: str | Path) -> LoadedRun:
    """The run in `run_dir` with its trained weights, or `SimplennError` naming what is wrong."""
    from simplenn.training.checkpoints import CheckpointStore
    from simplenn.nn.metrics import weights_sha256

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
    warnings: list[str] = []
    # n_train only sets the batch count of the learning-rate schedule; restoring needs none.
    trainer = Trainer(config, n_train=1, image_shape=image_shape)
    store = CheckpointStore(run.checkpoints, trainer, log=warnings.append, read_only=True)
    try:
        checkpoint = store.restore()
    except SimplennError as error:
        raise SimplennError(f"cannot load run {path}: {error}") from None
    if checkpoint is None:
        raise SimplennError(f"cannot load run {path}: it holds no checkpoint in {run.checkpoints}")
    if config.patience and int(trainer.best_epoch.numpy()) > 0:
        restore_best(trainer)  # what early stopping kept, and what summary.json scored
    if summary is not None:
        expected = summary.get("weights_sha256")
        if weights_sha256(trainer.network.params) != expected:
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
        network=trainer.network,
        history=history,
        summary=summary,
        class_names=names,
        image_shape=image_shape,
        checkpoint=checkpoint,
        trainer=trainer,
    )

