"""`simplenn.Classifier` as scikit-learn sees it: its own estimator checks, a grid search, pickling."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from simplenn import Classifier, preset

# Small and eager, so the ~50 checks (each fits a few times) take seconds, not minutes.
FAST = dict(layers=(1, 16, 1), epochs=10, batch_size=32, lr=0.02, scale_inputs=False, jit_compile=False, random_state=0)


@pytest.mark.slow  # scikit-learn's ~50 checks, each fitting
@parametrize_with_checks([Classifier(**FAST)])
def test_scikit_learns_estimator_checks(estimator, check):
    check(estimator)


def blobs():
    X, y = make_blobs(n_samples=200, random_state=1)
    return StandardScaler().fit_transform(X), np.array(["ant", "bee", "cat"])[y]


def test_grid_search_over_two_learning_rates_runs():
    X, y = blobs()
    search = GridSearchCV(Classifier(**FAST), {"lr": [0.002, 0.02]}, cv=2).fit(X, y)
    assert search.best_params_["lr"] in (0.002, 0.02) and search.best_score_ > 0.8
    assert set(search.predict(X)) <= {"ant", "bee", "cat"}


def test_the_same_random_state_gives_the_same_weights_and_simplenn_train_gives_them_too():
    from simplenn.datasets import load_dataset
    from simplenn.runs.experiment import train_and_evaluate
    from simplenn.nn.metrics import weights_sha256

    (x_train, y_train), _ = load_dataset("digits")
    X = x_train.reshape(len(x_train), -1)  # (1347, 64) pixels 0-255
    first = Classifier(preset="fixed", epochs=2, scale_inputs=True, random_state=0).fit(X, y_train)
    again = Classifier(preset="fixed", epochs=2, scale_inputs=True, random_state=0).fit(X, y_train)
    assert weights_sha256(first.weights_) == weights_sha256(again.weights_)
    summary = train_and_evaluate(preset("fixed").replace(dataset="digits", epochs=2), log=lambda line: None)
    assert weights_sha256(first.weights_) == summary["weights_sha256"]


def test_pickling_keeps_arrays_only_and_predicts_the_same():
    X, y = blobs()
    clf = Classifier(**FAST).fit(X, y)
    state = clf.__getstate__()
    assert "_trainer" not in state and "_network" not in state
    assert all(isinstance(w, np.ndarray) for w in state["weights_"])
    assert not any(type(v).__module__.startswith(("tensorflow", "keras")) for v in state.values())
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    copy.partial_fit(X, y)  # goes on from the unpickled weights
    assert copy.n_iter_ == clf.n_iter_ + 1


def test_partial_fit_trains_one_epoch_per_call_and_needs_the_classes_first():
    X, y = blobs()
    clf = Classifier(**{**FAST, "schedule": "constant"})
    with pytest.raises(ValueError, match="classes must be given on the first call"):
        clf.partial_fit(X, y)
    for half in (slice(0, 100), slice(100, 200), slice(0, 150)):
        clf.partial_fit(X[half], y[half], classes=["ant", "bee", "cat"])
    assert clf.n_iter_ == 3 and len(clf.history_) == 3 and list(clf.classes_) == ["ant", "bee", "cat"]
    with pytest.raises(ValueError, match=r"label\(s\) \['dog'\] that are not in classes_"):
        clf.partial_fit(X[:2], ["dog", "ant"])


def test_parameters_are_configs_fields_and_mistakes_are_value_errors():
    assert "lr" in Classifier().get_params() and "seed" not in Classifier().get_params()
    with pytest.raises(TypeError, match="unknown parameter"):
        Classifier(hidden_layer_sizes=(100,))
    X, y = blobs()
    with pytest.raises(ValueError, match="parameter lr must be a positive number, got -1"):
        Classifier(lr=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        Classifier(preset="nope").fit(X, y)
