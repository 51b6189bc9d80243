"""`simplenn evaluate`: a trained run scored again, class by class, as scikit-learn scores.

    evaluation = load_run(RUN_DIR).evaluate()      # the run's own test split
    print(format_evaluation(evaluation))

Beyond the accuracy that training prints: precision, recall, F1 and support per class
with their micro, macro and weighted averages; the confusion matrix and the pairs of
classes most often confused; top-2 and top-3 accuracy; how confident the network is
when right and when wrong; and whether that confidence can be trusted (calibration, with
the expected calibration error). "Confidence" is the score of the predicted class: its
softmax probability, or for the post's sigmoid loss its own sigmoid output.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simplenn.errors import SimplennError
from simplenn.nn.metrics import confusion_matrix, precision_recall_f1, top_k_accuracy

TOP_K = (2, 3)
CALIBRATION_BINS = 15  # equal-width confidence bins, as in Guo et al. (2017)
MOST_CONFUSED = 10  # pairs listed


@dataclass
class CalibrationBin:
    """Predictions whose confidence fell in [lower, upper): how sure, and how often right."""

    lower: float
    upper: float
    count: int
    confidence: float | None  # mean confidence in the bin; None when it is empty
    accuracy: float | None


@dataclass
class Evaluation:
    """Scores of one network on one labelled split; fractions in 0-1, counts as integers.

    `to_dict()` is what evaluation.json holds; `labels`, `scores` and `images` stay in
    memory for the figures.
    """

    dataset: str
    class_names: list[str]
    size: int
    accuracy: float
    top_k_accuracy: dict[int, float]  # {2: ..., 3: ...}: the true class among the k best scores
    per_class: list[dict]  # {"class", "precision", "recall", "f1", "support"}, in class order
    averages: dict[str, dict]  # "micro", "macro", "weighted" -> {"precision", "recall", "f1"}
    confusion_matrix: list[list[int]]  # [true][predicted], rows sum to each class's support
    most_confused: list[dict]  # {"true", "predicted", "count"}, most frequent first
    mean_confidence_right: float | None
    mean_confidence_wrong: float | None
    expected_calibration_error: float
    calibration: list[CalibrationBin]
    seconds: float  # forward pass and scores, without loading
    labels: np.ndarray = field(repr=False, default=None)  # (n,) true classes
    scores: np.ndarray = field(repr=False, default=None)  # (n, K) class scores
    images: np.ndarray = field(repr=False, default=None)  # (n, h, w) uint8, as the dataset gives them

    @property
    def predicted(self) -> np.ndarray:
        return np.argmax(self.scores, axis=1)

    @property
    def confidence(self) -> np.ndarray:
        return np.max(self.scores, axis=1)

    def to_dict(self) -> dict:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("labels", "scores", "images")}
        values["top_k_accuracy"] = {str(k): v for k, v in self.top_k_accuracy.items()}
        values["calibration"] = [dataclasses.asdict(b) for b in self.calibration]
        return values


def evaluate_predictions(labels, scores, class_names: list[str], dataset: str = "", images=None,
                         predicted=None) -> Evaluation:
    """Score class scores `(n, K)` against true classes `labels (n,)`.

    predicted: the classes `(n,)`, when they come from elsewhere than the scores' argmax: a
    run's answer is the argmax of its logits, which sigmoids saturated at 1.0 would tie.
    """
    started = time.perf_counter()
    labels = np.asarray(labels).astype(np.int64)
    scores = np.asarray(scores)
    K = scores.shape[1]
    predicted = np.argmax(scores, axis=1) if predicted is None else np.asarray(predicted)
    confidence = np.max(scores, axis=1)
    right = predicted == labels

    matrix = confusion_matrix(labels, predicted, K)  # (K, K) [true, predicted]
    precision, recall, f1 = precision_recall_f1(matrix)
    per_class = [
        {"class": name, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(class_names, precision, recall, f1, matrix.sum(axis=1))
    ]
    averages = {}
    for average in ("micro", "macro", "weighted"):
        p, r, f = precision_recall_f1(matrix, average)
        averages[average] = {"precision": float(p), "recall": float(r), "f1": float(f)}
    top_k = {k: top_k_accuracy(labels, scores, k) for k in TOP_K if k < K}
    ece, bins = calibration(confidence, right)
    return Evaluation(
        dataset=dataset,
        class_names=list(class_names),
        size=int(len(labels)),
        accuracy=float(np.mean(right)),
        top_k_accuracy=top_k,
        per_class=per_class,
        averages=averages,
        confusion_matrix=matrix.tolist(),
        most_confused=most_confused_pairs(matrix, class_names),
        mean_confidence_right=float(confidence[right].mean()) if right.any() else None,
        mean_confidence_wrong=float(confidence[~right].mean()) if (~right).any() else None,
        expected_calibration_error=ece,
        calibration=bins,
        seconds=time.perf_counter() - started,
        labels=labels,
        scores=scores,
        images=images,
    )


def most_confused_pairs(matrix: np.ndarray, class_names: list[str], n: int = MOST_CONFUSED) -> list[dict]:
    """The `n` largest off-diagonal counts of a confusion matrix: true -> predicted, count."""
    off_diagonal = np.array(matrix, dtype=np.int64)
    np.fill_diagonal(off_diagonal, 0)
    order = np.argsort(-off_diagonal, axis=None, kind="stable")[:n]
    pairs = []
    for true, predicted in zip(*np.unravel_index(order, off_diagonal.shape)):
        if off_diagonal[true, predicted] > 0:
            pairs.append({"true": class_names[true], "predicted": class_names[predicted],
                          "count": int(off_diagonal[true, predicted])})
    return pairs


def calibration(confidence: np.ndarray, right: np.ndarray, n_bins: int = CALIBRATION_BINS):
    """Expected calibration error and its bins.

    ECE = sum over bins of (bin size / n) * |accuracy in bin - mean confidence in bin|:
    0 when a network that says "90 %" is right 90 % of the time.
    """
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # bin b holds confidences in [edges[b], edges[b+1]); a confidence of exactly 1 joins the last
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, n_bins - 1)  # (n,)
    bins, ece = [], 0.0
    for b in range(n_bins):
        members = which == b
        count = int(members.sum())
        if count:
            mean_confidence, accuracy = float(confidence[members].mean()), float(right[members].mean())
            ece += count / len(confidence) * abs(accuracy - mean_confidence)
        else:
            mean_confidence = accuracy = None
        bins.append(CalibrationBin(float(edges[b]), float(edges[b + 1]), count, mean_confidence, accuracy))
    return float(ece), bins


def evaluate_run(run, dataset: str | None = None) -> Evaluation:
    """Score a `LoadedRun` on the test split of `dataset` (default: the run's own, where
    data.json recorded it or where `load_run(..., dataset=)` was told it is now); a path is
    checked against the sha256 the run recorded (`contract.scored_dataset`)."""
    from simplenn.runs.contract import run_dataset, scored_dataset
    from simplenn.datasets import load_dataset

    if dataset is not None:
        dataset = scored_dataset(run.contract, dataset)
    else:
        dataset = run.training_data or run_dataset(run.contract)
    loaded = load_dataset(dataset, test_split=run.config.test_split, image_size=run.config.image_size,
                          test_only=True)
    _, (x_test, y_test) = loaded
    if len(x_test) == 0:
        raise SimplennError(f"the run in {run.run_dir} trained on every example of {dataset} (--test-split 0), "
                            "so it has no test split to score; score it on a catalogue dataset of its image size with "
                            "--dataset NAME")
    n_features, n_classes = int(np.prod(x_test.shape[1:])), run.network.layer_sizes[-1]
    if n_features != run.network.layer_sizes[0]:
        h, w = run.image_shape
        raise SimplennError(
            f"{dataset} has {x_test.shape[1]}x{x_test.shape[2]} images but the run in {run.run_dir} reads "
            f"{h}x{w}; evaluate it on a dataset of its own size, such as {run.config.dataset}"
        )
    if len(loaded.class_names) != n_classes:
        raise SimplennError(
            f"{dataset} has {len(loaded.class_names)} classes but the run in {run.run_dir} predicts {n_classes}; "
            f"evaluate it on a dataset of its own classes, such as {run.config.dataset}"
        )
    started = time.perf_counter()
    logits = run.logits(x_test)  # (n, K)
    scores = run.scores(logits)
    evaluation = evaluate_predictions(y_test, scores, loaded.class_names, dataset, images=x_test,
                                      predicted=np.argmax(logits, axis=1))
    evaluation.seconds = time.perf_counter() - started
    return evaluation


def format_evaluation(evaluation: Evaluation) -> str:
    """The evaluation as `simplenn evaluate` prints it."""
    e = evaluation
    width = max(12, *(len(name) for name in e.class_names))
    top_k = "  ".join(f"top-{k} {100 * v:.2f} %" for k, v in e.top_k_accuracy.items())
    lines = [
        f"{e.dataset} test split, {e.size:,} images: accuracy {100 * e.accuracy:.2f} %  {top_k}",
        "",
        f"{'class':>{width}}  precision  recall      f1  support",
    ]
    for row in e.per_class:
        lines.append(f"{row['class']:>{width}}  {row['precision']:9.4f}  {row['recall']:6.4f}  {row['f1']:6.4f}  {row['support']:7,}")
    lines.append("")
    for average, values in e.averages.items():
        lines.append(f"{average + ' avg':>{width}}  {values['precision']:9.4f}  {values['recall']:6.4f}  "
                     f"{values['f1']:6.4f}  {e.size:7,}")
    lines += ["", "confusion matrix (rows: true class, columns: predicted):"]
    cell = max(4, len(f"{max(max(r) for r in e.confusion_matrix):,}") + 1)
    lines.append(f"{'':>{width}}" + "".join(f"{name[:cell - 1]:>{cell}}" for name in e.class_names))
    for name, row in zip(e.class_names, e.confusion_matrix):
        lines.append(f"{name:>{width}}" + "".join(f"{count:>{cell},}" for count in row))
    lines += ["", "most confused (true -> predicted):"]
    lines += [f"  {p['true']} -> {p['predicted']}: {p['count']:,}" for p in e.most_confused] or ["  none"]
    right = "-" if e.mean_confidence_right is None else f"{100 * e.mean_confidence_right:.1f} %"
    wrong = "-" if e.mean_confidence_wrong is None else f"{100 * e.mean_confidence_wrong:.1f} %"
    lines += ["", f"mean confidence: {right} when right, {wrong} when wrong; "
              f"expected calibration error {100 * e.expected_calibration_error:.2f} %"]
    return "\n".join(lines)


def evaluation_record(evaluation: Evaluation, run=None) -> dict:
    """evaluation.json's content: the scores, and which run and weights produced them."""
    from simplenn.nn.metrics import weights_sha256

    values = evaluation.to_dict()
    if run is not None:
        values["run_dir"] = str(run.run_dir)
        values["checkpoint"] = run.checkpoint.name
        values["weights_sha256"] = weights_sha256(run.network.params)
    return values


def evaluation_json(evaluation: Evaluation, run=None) -> str:
    """`evaluation_record` as the JSON text that `write_evaluation` writes."""
    return json.dumps(evaluation_record(evaluation, run), indent=2, sort_keys=True)


def write_evaluation(evaluation: Evaluation, path: str | Path, run=None) -> Path:
    """evaluation.json: `evaluation_record`."""
    from simplenn.machine.file_safety import write_json

    return write_json(path, evaluation_record(evaluation, run))
