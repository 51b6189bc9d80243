"""simplenn.Classifier against scikit-learn's MLPClassifier, in the same cross_val_score.

    python benchmarks/bench_sklearn.py [--rows 20000] [--epochs 10] [--folds 3]

Both get the first `--rows` Fashion-MNIST training images as rows of 784 pixels scaled
to 0-1, the same hidden sizes (100, 30) and `--epochs` passes over the data in batches
of 256, with their own recipes otherwise: simplenn's fixed preset (AdamW, one-cycle,
softmax with label smoothing), MLPClassifier's defaults (Adam at 1e-3, constant). Each
line reports the folds' mean accuracy and the wall time of the whole cross-validation.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_val_score
from sklearn.neural_network import MLPClassifier

import simplenn

simplenn.set_up()  # TensorFlow loads quietly, as under the CLI
from simplenn import Classifier
from simplenn.datasets import load_dataset

HIDDEN = (100, 30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="training images used (default 20000)")
    parser.add_argument("--epochs", type=int, default=10, help="passes over the data (default 10)")
    parser.add_argument("--folds", type=int, default=3, help="cross-validation folds (default 3)")
    args = parser.parse_args()
    (images, labels), _ = load_dataset("fashion-mnist")
    X = images[: args.rows].reshape(args.rows, -1).astype(np.float32) / 255  # (rows, 784) in 0-1
    y = labels[: args.rows]
    contenders = {
        "simplenn.Classifier": Classifier(preset="fixed", layers=(784, *HIDDEN, 10), epochs=args.epochs,
                                          scale_inputs=False, random_state=0),
        "MLPClassifier": MLPClassifier(hidden_layer_sizes=HIDDEN, max_iter=args.epochs, batch_size=256,
                                       random_state=0),
    }
    print(f"Fashion-MNIST, {args.rows:,} images, {args.folds}-fold cross_val_score, {args.epochs} epochs, "
          f"hidden {HIDDEN}")
    for name, estimator in contenders.items():
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # MLPClassifier stops at max_iter on purpose
            scores = cross_val_score(estimator, X, y, cv=args.folds)
        seconds = time.perf_counter() - started
        print(f"{name:<20} accuracy {100 * scores.mean():.2f} % (+/- {100 * scores.std():.2f})  {seconds:7.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
