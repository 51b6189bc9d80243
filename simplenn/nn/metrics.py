"""Scores of a trained network, as scikit-learn defines them (the post's `f1_score`), and a weights digest.

`forward` below is any function from inputs `X (n, n0)` to logits `Z (n, K)`: a
`Network.forward`, or the compiled one a `Trainer` keeps.
"""

from __future__ import annotations

import hashlib

import numpy as np

from simplenn.nn.losses import data_loss

EVALUATION_BATCH = 10_000  # rows per forward pass when scoring, to bound memory


def logits_in_blocks(forward, X) -> np.ndarray:
    """Logits `(n, K)` of `X (n, n0)`, computed `EVALUATION_BATCH` rows at a time."""
    n = int(X.shape[0])
    return np.concatenate([forward(X[i : i + EVALUATION_BATCH]).numpy() for i in range(0, max(n, 1), EVALUATION_BATCH)])


def loss_and_accuracy(forward, split, config) -> tuple[float, float]:
    """(mean loss per example, accuracy) of `forward` on a `data.Split`.

    The loss uses the training targets (label smoothing included), so that it compares
    with the epoch's training loss.
    """
    Z = logits_in_blocks(forward, split.X)
    per_example = data_loss(split.Y, Z, config.loss, "sum", config.label_smoothing) / split.size
    return float(per_example), float(np.mean(np.argmax(Z, 1) == split.labels))


def classification_scores(y_true, y_pred) -> dict[str, float]:
    """Accuracy and precision, recall and F1, micro- and macro-averaged (fractions in 0-1).

    The post prints `f1_score(average='micro')`, which for one label per image equals
    the accuracy; macro averages weigh every class equally. As in scikit-learn, the
    classes are those among the true or predicted labels.
    """
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    present = np.union1d(y_true, y_pred)  # (C,) the classes either side names
    matrix = confusion_matrix(np.searchsorted(present, y_true), np.searchsorted(present, y_pred), len(present))
    scores = {"accuracy": float(np.mean(y_true == y_pred))}
    for average in ("micro", "macro"):
        precision, recall, f1 = precision_recall_f1(matrix, average)
        scores[f"precision_{average}"] = float(precision)
        scores[f"recall_{average}"] = float(recall)
        scores[f"f1_{average}"] = float(f1)
    return scores


# The classification metrics, written out with NumPy. They are scikit-learn's
# (`confusion_matrix`, `precision_recall_fscore_support(..., zero_division=0)`,
# `top_k_accuracy_score`), value for value, which tests check against scikit-learn; only
# its import, most of a second, is left out of every command that scores a run.

def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """(K, K) int64 counts: row t, column p holds the examples of class t predicted as p;
    pairs naming a class outside 0..K-1 are not counted."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    inside = (y_true >= 0) & (y_true < n_classes) & (y_pred >= 0) & (y_pred < n_classes)
    y_true, y_pred = y_true[inside], y_pred[inside]
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def precision_recall_f1(matrix: np.ndarray, average: str | None = None):
    """(precision, recall, F1) from a confusion matrix: `(K,)` arrays per class, or one
    "micro", "macro" or "weighted" average of each. 0 where a ratio has nothing to divide by.

    precision = TP / predicted, recall = TP / support, F1 = 2 TP / (support + predicted);
    micro pools the counts of every class, macro takes the classes' plain mean and
    weighted their mean weighted by support.
    """
    tp = np.diag(matrix).astype(np.float64)  # (K,) right answers per class
    predicted, support = matrix.sum(axis=0), matrix.sum(axis=1)  # (K,) answers given, examples there
    if average == "micro":
        tp, predicted, support = tp.sum(), predicted.sum(), support.sum()
    precision, recall, f1 = _ratio(tp, predicted), _ratio(tp, support), _ratio(2 * tp, support + predicted)
    if average == "micro":
        return float(precision), float(recall), float(f1)
    if average == "macro":
        return float(np.mean(precision)), float(np.mean(recall)), float(np.mean(f1))
    if average == "weighted":
        if support.sum() == 0:
            return 0.0, 0.0, 0.0
        return tuple(float(np.average(values, weights=support)) for values in (precision, recall, f1))
    return precision, recall, f1


def top_k_accuracy(labels, scores: np.ndarray, k: int) -> float:
    """The fraction of rows whose true class is among the `k` highest of `scores (n, K)`;
    of equal scores, the later class ranks higher."""
    best = np.argsort(scores, axis=1, kind="mergesort")[:, ::-1][:, :k]  # (n, k)
    return float(np.mean((best == np.asarray(labels)[:, None]).any(axis=1)))


def _ratio(numerator, denominator):
    """numerator / denominator element-wise, 0 where the denominator is 0."""
    numerator, denominator = np.asarray(numerator, np.float64), np.asarray(denominator, np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator != 0)


def weights_sha256(params) -> str:
    """sha256 of the parameters' float32 bytes, in `params` order (W1, b1, W2, ...)."""
    digest = hashlib.sha256()
    for p in params:
        digest.update(np.ascontiguousarray(np.asarray(p), dtype=np.float32).tobytes())
    return digest.hexdigest()
