"""simplenn: the blog post's MNIST network built from TensorFlow's low-level pieces.

    from simplenn import Classifier, load_run, preset, train_and_evaluate
    summary = train_and_evaluate(preset("fixed").replace(dataset="digits"), run_dir="runs/digits")
    run = load_run("runs/digits")          # the trained network, back from its checkpoint
    run.predict(images), run.evaluate()
    Classifier(preset="fixed").fit(X, y)   # the same, as a scikit-learn estimator

Reading order, following the data's way through a run:

    config.py        the one `Config`: every setting with its reason; the presets
    datasets/        find, verify and read the files (`load_dataset`)
    data.py          load -> check -> scale -> split: the tensors a run trains on
    network.py       `Network`: W1..WL, b1..bL and the forward pass, Z = A @ W + b
    losses.py        sigmoid and softmax cross-entropy, summed or averaged
    optimizers.py    Keras optimizers and learning-rate schedules
    training.py      `train_step` (the post's backward), `Trainer`, `fit`
    progress.py      an epoch's live line on a terminal: the bar, then its figures
    backprop.py      the same gradients by hand, checked against the tape
    augmentation.py  moved and mirrored training images
    metrics.py       scores of a trained network
    loaded_run.py    `load_run`: a finished run back from its checkpoint, to predict and evaluate
    prediction.py    `simplenn predict`: a run's classes for new images, as a CSV
    estimator.py     `Classifier`: the same training as a scikit-learn estimator
    evaluation.py, figures.py, run_checks.py, report.py, compare.py
                     look inside a run: scores, figures, a diagnosis, one HTML page, runs side by side
    experiment.py    `train_and_evaluate`: data -> training -> scores -> run directory
    cluster.py, distribution.py
                     TF_CONFIG's workers; training under tf.distribute (`--strategy`)
    run_directory.py, checkpoints.py, file_safety.py, interruption.py
                     what a run writes, atomically, and how it survives kills
    memory.py        what a run needs in memory, checked before it starts
    diagnose.py, ablate.py, bench.py, bench_systems.py, bench_sweep.py, plots.py
                     the glass-box tools, the benchmark (its systems, its sweep) and the figures
    bench_strategies.py
                     `simplenn bench --strategy`: speed against the replica count
    doctor.py        `simplenn doctor`: is this machine ready to train
    quiet_tensorflow.py, compile_cache.py
                     TensorFlow imported without its start-up lines, for every module above,
                     with XLA's programs kept on disk between runs
    cli.py           the `simplenn` command: argparse over all of the above

TensorFlow loads only when `Network`, `train_and_evaluate` or `load_run` is first used, so
`simplenn data ...` and configuration errors answer at once.
"""

from simplenn.config import PRESETS, Config, preset

__all__ = ["Classifier", "Config", "Network", "PRESETS", "load_run", "preset", "train_and_evaluate"]


def __getattr__(name):
    if name == "Classifier":
        from simplenn.estimator import Classifier

        return Classifier
    if name == "Network":
        from simplenn.nn.network import Network

        return Network
    if name == "train_and_evaluate":
        from simplenn.runs.experiment import train_and_evaluate

        return train_and_evaluate
    if name == "load_run":
        from simplenn.runs.loaded_run import load_run

        return load_run
    raise AttributeError(f"module 'simplenn' has no attribute {name!r}")
