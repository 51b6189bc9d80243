"""`simplenn.Classifier`: the same network and training as a scikit-learn estimator.

    from simplenn import Classifier
    clf = Classifier(preset="fixed", epochs=10, random_state=0)   # instead of MLPClassifier(...)
    clf.fit(X, y)              # X (n, features) numbers, y (n,) labels of any kind
    clf.predict(X)             # (n,) labels, from clf.classes_
    clf.predict_proba(X)       # (n, K) probabilities, rows summing to 1

Its parameters are `Config`'s fields, so `Classifier(lr=1e-3)` means `--lr 1e-3`; each is
None by default, meaning "the preset's value", and `preset=` picks the preset ("fixed").
`random_state` takes the place of `seed`: an int is the seed itself (so `random_state=0`
trains the weights `simplenn train --seed 0` would), None or a `RandomState` draws one.
`layers` keeps its meaning, input size first, but its first and last sizes follow the
data (`n_features_in_`, `len(classes_)`), as presets do in `simplenn train`. Fields that
concern files (`dataset`, `test_split`, `image_size`, checkpoints) are not parameters.

Like every scikit-learn estimator it reads `X` as given: `scale_inputs` is False by
default, whatever the preset, so it belongs after a scaler,
`make_pipeline(MinMaxScaler(), Classifier())` or `StandardScaler()`. For raw pixels 0-255,
as `simplenn train` reads them, pass `scale_inputs=True`: the network then reads X / 255,
and X must hold values 0-255 (0-1 fractions are refused, not divided again).

Inputs follow the fitted `contract_` (`contract.py`), the rule `load_run`, `predict` and
`serve` follow too: `predict` refuses NaN, a wrong feature count, and values far outside
the scale `fit` saw (a root mean square 20 times larger or smaller: `ValueError`
naming it), e.g. 0-255 pixels given to a network fitted on standardised features.

Training is `simplenn train`'s: `Trainer` and `fit` from `training.py`, on splits from
`data.py`. `partial_fit` runs one more epoch of the same trainer on the rows it is given;
its learning-rate schedule spans `epochs` calls (use `schedule="constant"` to stream).

Pickling (which `clone`, joblib and `cross_val_score(n_jobs=...)` rely on): no TensorFlow
object is ever pickled. `__getstate__` keeps the weights as NumPy arrays (`weights_`: W1,
b1, W2, b2, ...) and drops the trainer; `__setstate__` rebuilds the network from them.
The optimizer's state (Adam's moments) is not kept, so a `partial_fit` after unpickling
starts it afresh.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from simplenn.config import Config, ConfigError, config_fields, fit_to_data, preset
from simplenn.errors import SimplennError

# Config fields that are not estimator parameters: the data comes through fit, not a
# file, the estimator writes no run directory and trains on one device. `seed` becomes `random_state`.
NOT_PARAMETERS = ("preset", "dataset", "test_split", "image_size", "checkpoint_every_steps", "max_to_keep", "seed",
                  "strategy", "cpu_devices")
CONFIG_PARAMETERS = tuple(f.name for f in config_fields() if f.name not in NOT_PARAMETERS)
DEFAULT_PRESET = "fixed"


class Classifier(ClassifierMixin, BaseEstimator):
    """A scikit-learn classifier over simplenn's `Config`; see the module docstring.

    Attributes after `fit`: `classes_` (K,), `n_features_in_`, `config_` (the `Config`
    trained, layers fitted to the data), `contract_` (what an input is and the range
    training saw), `weights_` (W1, b1, ... as arrays), `history_` (one `EpochRecord` per
    epoch) and `n_iter_` (epochs trained).
    """

    # The parameters are Config's fields, so the signature is built from them below
    # (scikit-learn reads parameter names from it) rather than written out a second time.
    def __init__(self, **params):
        unknown = sorted(set(params) - set(PARAMETER_DEFAULTS))
        if unknown:
            raise TypeError(f"Classifier got unknown parameter(s) {', '.join(unknown)}; "
                            f"it takes {', '.join(PARAMETER_DEFAULTS)}")
        for name, default in PARAMETER_DEFAULTS.items():
            setattr(self, name, params.get(name, default))

    # Training

    def fit(self, X, y):
        """Train a new network on `X (n, features)` and labels `y (n,)` for `epochs` epochs."""
        X, y = validate_data(self, X, y, dtype=(np.float32, np.float64))
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        config = self._config(X.shape[1])
        self.contract_ = _contract(X, config)
        self._trainer = None
        self.history_ = []
        self._train(config, X, encoded, epochs=None, carry_on=False)
        return self

    def partial_fit(self, X, y, classes=None):
        """One more epoch on `X`, `y`; the first call needs every label in `classes`."""
        first = not hasattr(self, "classes_")
        X, y = validate_data(self, X, y, dtype=(np.float32, np.float64), reset=first)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError("classes must be given on the first call to partial_fit: every label there will be")
            self.classes_ = np.unique(classes)
            self.history_ = []
            self._trainer = None
            config = self._config(X.shape[1])
            self.contract_ = _contract(X, config)
        else:
            config = self.config_
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(f"y holds label(s) {unknown[:5].tolist()} that are not in classes_ {self.classes_.tolist()}")
        self._train(config, X, np.searchsorted(self.classes_, y), epochs=1 if first else self.n_iter_ + 1,
                    carry_on=not first)
        return self

    def _config(self, n_features: int) -> Config:
        """The preset with this estimator's parameters, its layers fitted to the data."""
        if len(self.classes_) < 2:
            raise ValueError(f"Classifier needs examples of at least 2 classes, got 1 class ({self.classes_[0]!r})")
        changes = {name: getattr(self, name) for name in CONFIG_PARAMETERS if getattr(self, name) is not None}
        changes["seed"] = self._seed()
        try:
            config = preset(self.preset).replace(**changes)
        except ConfigError as error:
            raise ValueError(f"parameter {error}") from None
        except SimplennError as error:
            raise ValueError(str(error)) from None
        return fit_to_data(config, n_features, len(self.classes_), layers_given=False)

    def _seed(self) -> int:
        """`random_state` as Config's seed: an int as it is, else one drawn from it."""
        if isinstance(self.random_state, (int, np.integer)) and not isinstance(self.random_state, bool):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _train(self, config: Config, X: np.ndarray, encoded: np.ndarray, epochs: int | None, carry_on: bool) -> None:
        """Train until `epochs` epochs are done (None: the config's), on from the current
        weights when `carry_on`, else from new ones."""
        from simplenn.training.data import training_splits
        from simplenn.training.trainer import TrainingDiverged, divergence_message, fit

        X = _network_inputs(self.contract_, X)  # (n, n0) float32, checked and scaled as predict will
        Y = np.eye(len(self.classes_), dtype=np.float32)[encoded]  # (n,) -> (n, K) one-hot
        train, validation = training_splits(X, Y, config) if epochs is None else training_splits(
            X, Y, config.replace(validation_split=0.0, patience=0))
        trainer = self._trainer_for(config, train.size, carry_on)
        try:
            self.history_ += fit(trainer, train, validation, log=_warn_only, epochs=epochs)
        except TrainingDiverged as error:  # scikit-learn's type, and the fixes as this estimator's parameters
            raise ValueError(divergence_message(error.config, error.epoch, as_parameters=True)) from None
        self.config_ = config
        self.n_iter_ = int(trainer.epoch.numpy())
        self.weights_ = [p.numpy() for p in trainer.network.params]
        self._network = trainer.network

    def _trainer_for(self, config: Config, n_train: int, carry_on: bool):
        """A `Trainer` for `n_train` rows per epoch; with `carry_on`, the current one or one
        that goes on from it.

        A trainer's batches and schedule are built for one row count, so a `partial_fit`
        on a different number of rows gets a new trainer with the weights, the optimizer's
        state and the epoch count of the old one (after unpickling: the weights and epochs).
        """
        from simplenn.runs.loaded_run import image_shape_of
        from simplenn.training.trainer import Trainer

        old = self._trainer if carry_on else None
        if old is not None and old.n_train == n_train:
            return old
        try:
            trainer = Trainer(config, n_train, image_shape_of(config.layers[0]))
        except SimplennError as error:
            raise ValueError(str(error)) from None
        if old is not None:
            for new, kept in zip(trainer.optimizer.variables, old.optimizer.variables):
                new.assign(kept)
        if carry_on:
            trainer.epoch.assign(self.n_iter_)
            for p, w in zip(trainer.network.params, self.weights_):
                p.assign(w)
        self._trainer = trainer
        return trainer

    # Prediction

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities `(n, K)`, columns in `classes_` order.

        With the post's sigmoid loss the K independent sigmoids are divided by their sum,
        since scikit-learn's probabilities sum to 1 (`LoadedRun.predict_proba` keeps them as they are).
        """
        from simplenn.nn.metrics import logits_in_blocks
        from simplenn.nn.network import class_scores

        check_is_fitted(self)
        X = validate_data(self, X, dtype=(np.float32, np.float64), reset=False)
        X = _network_inputs(self.contract_, X)  # (n, n0) float32
        scores = np.asarray(class_scores(logits_in_blocks(self._network.forward, X), self.config_.loss))  # (n, K)
        return scores / scores.sum(axis=1, keepdims=True) if self.config_.loss == "sigmoid" else scores

    def predict(self, X) -> np.ndarray:
        """Labels `(n,)`: the class of the largest score, as the post's `argmax`."""
        scores = self.predict_proba(X)  # (n, K); first, so an unfitted estimator says so
        return self.classes_[np.argmax(scores, axis=1)]

    # Pickling: arrays only

    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())  # a copy: the estimator itself keeps its network
        state.pop("_trainer", None)
        state.pop("_network", None)
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._trainer = None
        if "weights_" in state:
            from simplenn.nn.network import Network

            c = self.config_
            self._network = Network(c.layers, c.activation, c.init, c.init_stddev, c.dropout, c.seed, c.precision)
            for p, w in zip(self._network.params, self.weights_):
                p.assign(w)


def _contract(X: np.ndarray, config: Config):
    """The fitted estimator's input contract: rows of features, pixels 0-255 with `scale_inputs`."""
    from simplenn.runs.contract import InputContract

    low, high = (float(X.min()), float(X.max())) if X.size else (0.0, 0.0)
    rms = float(np.sqrt(np.mean(np.square(X, dtype=np.float64)))) if X.size else 0.0
    if config.scale_inputs:  # pixels 0-255, checked as `simplenn train`'s are
        return InputContract("features", (X.shape[1],), "divide_by_255", "none", {"name": "the X given to fit"})
    return InputContract("features", (X.shape[1],), "none", "none", {"name": "the X given to fit"}, (low, high), rms)


def _network_inputs(contract, X: np.ndarray) -> np.ndarray:
    """`X (n, n0)` checked against `contract` and scaled as training was; the contract's
    one-line message as scikit-learn's `ValueError`."""
    try:
        return contract.network_inputs(X, "X")
    except SimplennError as error:
        message = str(error)
        if contract.scaled and "0-255" in message:
            message += " (scale_inputs=True divides X by 255; for X already scaled, leave scale_inputs off)"
        raise ValueError(message) from None


def _warn_only(line: str) -> None:
    """`fit`'s log for an estimator: epoch lines unsaid, a warning raised as a Python warning."""
    if line.startswith("warning"):
        warnings.warn(line.removeprefix("warning: "), RuntimeWarning, stacklevel=3)


# scale_inputs is off whatever the preset: scikit-learn estimators never rescale X behind the user's back.
PARAMETER_DEFAULTS = {"preset": DEFAULT_PRESET, **{name: None for name in CONFIG_PARAMETERS}, "random_state": None,
                      "scale_inputs": False}
Classifier.__init__.__signature__ = inspect.Signature(
    [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    + [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default) for name, default in PARAMETER_DEFAULTS.items()]
)
