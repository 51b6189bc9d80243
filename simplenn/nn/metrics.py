"""Scores of a trained network, from scikit-learn as in the post, and a weights digest.

`forward` below is any function from inputs `X (n, n0)` to logits `Z (n, K)`: a
`Network.forward`, or the compiled one a `Trainer` keeps.
"""

from __future__ import annotations

import hashlib

import numpy as np
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

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
    the accuracy; macro averages weigh every class equally.
    """
    scores = {"accuracy": float(accuracy_score(y_true, y_pred))}
    for average in ("micro", "macro"):
        precision, recall, f1, _ = precision_recall_fscore_support(
            y_true, y_pred, average=average, zero_division=0
        )
        scores[f"precision_{average}"] = float(precision)
        scores[f"recall_{average}"] = float(recall)
        scores[f"f1_{average}"] = float(f1)
    return scores


def weights_sha256(params) -> str:
    """sha256 of the parameters' float32 bytes, in `params` order (W1, b1, W2, ...)."""
    digest = hashlib.sha256()
    for p in params:
        digest.update(np.ascontiguousarray(np.asarray(p), dtype=np.float32).tobytes())
    return digest.hexdigest()
