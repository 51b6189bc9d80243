"""Scores of a trained network, from scikit-learn as in the post, and a weights digest."""

from __future__ import annotations

import hashlib

import numpy as np
from sklearn.metrics import accuracy_score, precision_recall_fscore_support


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
