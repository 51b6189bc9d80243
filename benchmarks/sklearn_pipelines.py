"""simplenn.Classifier and MLPClassifier behind the same scaler, as scikit-learn's guide builds it.

    python benchmarks/sklearn_pipelines.py [--folds 3] [--seeds 0 1 2]

scikit-learn's digits (1,797 rows of 64 features, 0-16), 3-fold `cross_val_score` of
`make_pipeline(Scaler(), estimator)` for Scaler in MinMaxScaler, StandardScaler, with both
estimators at their defaults (simplenn's: the fixed preset, 30 epochs; MLPClassifier's:
one hidden layer of 100, Adam, up to 200 epochs) and `random_state` = each seed. A last
line gives `Classifier(scale_inputs=True)` on the pixels as `simplenn train` reads them
(0-255, no scaler): the raw-pixel form. Each line: mean accuracy over seeds and folds,
and simplenn minus MLPClassifier in points.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_val_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

import simplenn
from simplenn import Classifier


def mean_score(make, X, y, folds: int, seeds) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return float(np.mean([cross_val_score(make(seed), X, y, cv=folds).mean() for seed in seeds]))


def main() -> int:
    simplenn.set_up()  # as the CLI does: TensorFlow, if it loads, loads quietly
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=3, help="cross-validation folds (default 3)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="random_state values (default 0 1 2)")
    args = parser.parse_args()
    X, y = load_digits(return_X_y=True)  # (1797, 64) values 0-16
    print(f"digits, {args.folds}-fold cross_val_score, mean over random_state {args.seeds}")
    for scaler in (MinMaxScaler, StandardScaler):
        started = time.perf_counter()
        ours = mean_score(lambda seed: make_pipeline(scaler(), Classifier(random_state=seed)), X, y, args.folds, args.seeds)
        theirs = mean_score(lambda seed: make_pipeline(scaler(), MLPClassifier(random_state=seed)), X, y,
                            args.folds, args.seeds)
        print(f"{scaler.__name__:<15} simplenn.Classifier {100 * ours:.2f} %  MLPClassifier {100 * theirs:.2f} %  "
              f"difference {100 * (ours - theirs):+.2f} points  ({time.perf_counter() - started:.0f} s)")
    pixels = np.round(X * (255 / 16))  # 0-255, as simplenn's digits
    raw = mean_score(lambda seed: Classifier(scale_inputs=True, random_state=seed), pixels, y, args.folds, args.seeds)
    print(f"{'pixels 0-255':<15} Classifier(scale_inputs=True) {100 * raw:.2f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
