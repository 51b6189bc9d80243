"""The classification metrics written out with NumPy give scikit-learn's values, value for value."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from simplenn.nn.metrics import classification_scores, confusion_matrix, precision_recall_f1, top_k_accuracy


def cases():
    """(labels, scores (n, K), K): balanced, skewed, a class never predicted, a class absent, ties."""
    rng = np.random.default_rng(0)
    for n, K in ((200, 10), (37, 3), (5, 4), (1000, 47)):
        labels = rng.integers(0, K, n)
        scores = rng.random((n, K)).astype(np.float32)
        scores[np.arange(n), labels] += rng.random(n) > 0.4  # right about half the time and more
        yield labels, scores, K
    labels = np.array([0, 0, 1, 1, 2, 2])  # class 3 absent, class 2 never predicted, sigmoid-like ties at 1.0
    scores = np.array([[1, 1, 0, 0], [1, 0, 0, 1], [0, 1, 0, 1], [1, 1, 0.5, 0], [0, 1, 0, 0], [0, 0, 0, 1]], np.float32)
    yield labels, scores, 4


@pytest.mark.parametrize("labels, scores, K", list(cases()))
def test_per_class_and_averaged_scores_equal_scikit_learns(labels, scores, K):
    predicted = np.argmax(scores, axis=1)
    classes = np.arange(K)
    matrix = confusion_matrix(labels, predicted, K)
    np.testing.assert_array_equal(matrix, sk.confusion_matrix(labels, predicted, labels=classes))
    ours = precision_recall_f1(matrix)
    theirs = sk.precision_recall_fscore_support(labels, predicted, labels=classes, zero_division=0)
    for mine, reference in zip(ours, theirs):
        np.testing.assert_array_equal(mine, reference)
    for average in ("micro", "macro", "weighted"):
        theirs = sk.precision_recall_fscore_support(labels, predicted, labels=classes, average=average, zero_division=0)
        assert precision_recall_f1(matrix, average) == tuple(float(v) for v in theirs[:3])
    for k in (2, 3):
        if k < K:
            assert top_k_accuracy(labels, scores, k) == sk.top_k_accuracy_score(labels, scores, k=k, labels=classes)


@pytest.mark.parametrize("labels, scores, K", list(cases()))
def test_a_runs_summary_scores_equal_scikit_learns(labels, scores, K):
    predicted = np.argmax(scores, axis=1)
    expected = {"accuracy": sk.accuracy_score(labels, predicted)}
    for average in ("micro", "macro"):  # over the classes either side names, as scikit-learn takes them
        p, r, f, _ = sk.precision_recall_fscore_support(labels, predicted, average=average, zero_division=0)
        expected |= {f"precision_{average}": p, f"recall_{average}": r, f"f1_{average}": f}
    assert classification_scores(labels, predicted) == {name: float(v) for name, v in expected.items()}


def test_pairs_outside_the_classes_are_not_counted():
    assert confusion_matrix([0, 1, 5], [0, 2, 1], 3).tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 0]]
