"""simplenn on small data: what a user waits for, against scikit-learn's MLPClassifier.

    python benchmarks/small_data.py [--repeat 3] [--epochs N] [--only estimator-cv,mlp-cv,...]

Every figure is the wall time of one fresh process, from its start to its exit, as a user
waits for it: Python, the imports, reading the data, tracing and compiling, the arithmetic.
The measurements take turns (one of each, then the next round), and each line gives the
median of its `--repeat` rounds, so a busy spell of the machine hits them all alike.

    estimator-cv    cross_val_score(make_pipeline(MinMaxScaler(), Classifier(...)), X, y, cv=3)
    mlp-cv          the same with MLPClassifier(hidden_layer_sizes=(100, 30), ...)
    estimator-grid  GridSearchCV of that pipeline over two learning rates, 3 folds, then the refit
    mlp-grid        the same with MLPClassifier
    ablate          simplenn ablate --dataset digits
    train           simplenn train --preset fixed --dataset digits
    predict         simplenn predict RUN one.png: one 8x8 digit of the test set, as a PNG

An estimator workload's process also times its search twice: the first call (TensorFlow's
import and tracing happen inside it, as they do for a user's first `fit`) and the same call
again (what a notebook's next search waits for). Each is judged against MLPClassifier's
same call, alongside the whole process.

The estimators see scikit-learn's digits (1,797 images of 64 pixels) scaled to 0-1 by the
pipeline's MinMaxScaler, with the same hidden sizes (100, 30), epochs and batch size, and
their own recipes otherwise (simplenn's fixed preset; MLPClassifier's Adam at its own
rate). `predict` reads a run trained once beforehand (not timed), or the one given by
`--run`. XLA's compiled programs are kept on disk between processes (`SIMPLENN_COMPILE_CACHE`),
so after that first run every timed process finds them there, as a user's second run does.
The load average is printed before and after: on a machine busy with other work, every
figure grows, and MLPClassifier's most of all: OpenBLAS's threads wait for each other on
busy cores (3-fold on digits: 1.3 s with one thread, 4-14 s with two, at a load of 6.5 on
two cores). `--threads N` gives every library N threads (OpenBLAS, OpenMP, MKL and
TensorFlow's pools, through their environment variables); by default each uses its own.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HIDDEN = (100, 30)
BATCH = 256  # the fixed preset's batch size, given to both estimators
EPOCHS = 30  # the fixed preset's epochs
FOLDS = 3
LEARNING_RATES = (0.001, 0.005)  # the grid: MLPClassifier's default rate, and the fixed preset's
ESTIMATOR_WORKLOADS = ("estimator-cv", "mlp-cv", "estimator-grid", "mlp-grid")
COMMANDS = ("ablate", "train", "predict")
MEASUREMENTS = ESTIMATOR_WORKLOADS + COMMANDS


# What each figure of an estimator workload times: its whole process, the search's first
# call in it, the same search called again.
SPANS = {"seconds": "whole process", "first_call": "first call", "next_call": "next call"}


@dataclass(frozen=True)
class Target:
    """What a measurement should reach: at most `seconds`, or at most `ratio` times `peer`'s
    time, the time being `span` (one of `SPANS`)."""

    name: str
    text: str
    seconds: float | None = None
    peer: str | None = None
    ratio: float | None = None
    span: str = "seconds"


TARGETS = (
    *(Target("estimator-cv", f"cross-validation within 2x MLPClassifier, at equal or better accuracy ({SPANS[span]})",
             peer="mlp-cv", ratio=2.0, span=span) for span in SPANS),
    *(Target("estimator-grid", f"grid search within 2x MLPClassifier, at equal or better accuracy ({SPANS[span]})",
             peer="mlp-grid", ratio=2.0, span=span) for span in SPANS),
    Target("ablate", "simplenn ablate --dataset digits in at most 8 s", seconds=8.0),
    Target("train", "simplenn train --preset fixed --dataset digits in at most 4 s", seconds=4.0),
    Target("predict", "simplenn predict of one image in at most 3 s", seconds=3.0),
)


def pipeline(kind: str, epochs: int):
    """make_pipeline(MinMaxScaler(), Classifier or MLPClassifier), equal hidden sizes, epochs and batch."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    if kind == "estimator":
        import simplenn

        simplenn.set_up()  # TensorFlow loads quietly, as under the CLI and in the notebook
        from simplenn import Classifier

        params = dict(preset="fixed", layers=(64, *HIDDEN, 10), epochs=epochs, batch_size=BATCH, random_state=0)
        if "scale_inputs" in Classifier().get_params():  # the pipeline's scaler does the scaling
            params["scale_inputs"] = False
        return make_pipeline(MinMaxScaler(), Classifier(**params))
    from sklearn.neural_network import MLPClassifier

    return make_pipeline(MinMaxScaler(), MLPClassifier(hidden_layer_sizes=HIDDEN, max_iter=epochs, batch_size=BATCH,
                                                       random_state=0))


def run_workload(name: str, epochs: int, calls: int = 1) -> dict:
    """Run one estimator workload `calls` times in this process: its accuracy (mean over
    folds, or the best candidate's) and each call's seconds."""
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV, cross_val_score

    kind, _, search = name.partition("-")
    X, y = load_digits(return_X_y=True)  # (1797, 64) pixels 0-16, (1797,) digits
    model = pipeline(kind, epochs)
    rate = "classifier__lr" if kind == "estimator" else "mlpclassifier__learning_rate_init"
    seconds = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # MLPClassifier stops at max_iter on purpose
        for _ in range(calls):
            started = time.perf_counter()
            if search == "cv":
                accuracy = float(cross_val_score(model, X, y, cv=FOLDS).mean())
            else:
                accuracy = float(GridSearchCV(model, {rate: list(LEARNING_RATES)}, cv=FOLDS).fit(X, y).best_score_)
            seconds.append(time.perf_counter() - started)
    return {"accuracy": accuracy, "calls": seconds}


def write_digit_png(path: Path) -> Path:
    """scikit-learn's first digit (a 0) as the 8x8 PNG of 0-255 pixels a user would give `predict`."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    image = load_digits().images[0]  # (8, 8) in 0-16
    Image.fromarray(np.round(image * 255 / 16).astype(np.uint8)).save(path)
    return path


def cli(*args: str) -> list[str]:
    """`simplenn ARGS` as a command line running this checkout's package."""
    return [sys.executable, "-m", "simplenn.cli", *args]


def commands(names, epochs: int | None, repeat_index: int, work: Path, run_dir: Path, image: Path) -> dict:
    """Each measurement's command line for round `repeat_index`."""
    with_epochs = ["--epochs", str(epochs)] if epochs is not None else []
    script = [sys.executable, str(Path(__file__).resolve())]
    lines = {
        "ablate": cli("ablate", "--dataset", "digits", *with_epochs),
        "train": cli("train", "--preset", "fixed", "--dataset", "digits", *with_epochs,
                     "--run-dir", str(work / f"train-{repeat_index}"), "--quiet"),
        "predict": cli("predict", str(run_dir), str(image)),
    }
    for name in ESTIMATOR_WORKLOADS:
        lines[name] = [*script, "--workload", name, "--epochs", str(epochs or EPOCHS)]
    return {name: lines[name] for name in names}


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def timed(command: list[str], work: Path, threads: int | None = None) -> tuple[float, dict]:
    """(wall seconds, what the process printed as its last line of JSON, else {}) of a fresh
    process run in the folder `work`, where what it writes unasked (ablate's chart) stays;
    raises if it fails."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                   "MPLBACKEND": "Agg"}
    if threads is not None:
        environment.update({variable: str(threads) for variable in THREAD_VARIABLES})
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=work, env=environment)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}:\n{done.stderr[-2000:]}")
    last = done.stdout.strip().splitlines()[-1:] or [""]
    return seconds, json.loads(last[0]) if last[0].startswith("{") else {}


def measure(names, repeat: int, epochs: int | None, run_dir: Path | None, threads: int | None = None,
            log=print) -> dict:
    """{name: {"seconds": [...], "accuracy": ...}}: `repeat` interleaved rounds of fresh processes;
    an estimator workload's also {"first_call": [...], "next_call": [...]}."""
    results = {name: {"seconds": [], "accuracy": None} for name in names}
    with tempfile.TemporaryDirectory(prefix="small-data-") as folder:
        work = Path(folder)
        image = write_digit_png(work / "one.png")
        if "predict" in names and run_dir is None:
            run_dir = work / "predict-run"
            with_epochs = ["--epochs", str(epochs)] if epochs is not None else []
            log(f"training the run that predict reads, into {run_dir} (not timed)")
            timed(cli("train", "--preset", "fixed", "--dataset", "digits", *with_epochs, "--run-dir", str(run_dir),
                      "--quiet"), work, threads)
        for round_index in range(repeat):
            for name, command in commands(names, epochs, round_index, work, run_dir, image).items():
                seconds, printed = timed(command, work, threads)
                results[name]["seconds"].append(seconds)
                results[name]["accuracy"] = printed.get("accuracy")
                for span, call in zip(("first_call", "next_call"), printed.get("calls", ())):
                    results[name].setdefault(span, []).append(call)
                calls = " ".join(f"{call:.2f}" for call in printed.get("calls", ()))
                log(f"round {round_index + 1}/{repeat}  {name:<15} {seconds:6.2f} s" + (f"  (calls {calls} s)" if calls else ""))
    return results


def median(results: dict, name: str, span: str = "seconds") -> float:
    return statistics.median(results[name][span])


def target_lines(results: dict) -> list[str]:
    """One line per target whose measurements were taken: met or not, with the figures that decide it."""
    lines = []
    for target in TARGETS:
        if target.name not in results or (target.peer and target.peer not in results):
            continue
        if target.span not in results[target.name] or (target.peer and target.span not in results[target.peer]):
            continue
        ours = median(results, target.name, target.span)
        if target.seconds is not None:
            met, figures = ours <= target.seconds, f"{ours:.2f} s"
        else:
            ratio = ours / median(results, target.peer, target.span)
            accuracy, peer_accuracy = results[target.name]["accuracy"], results[target.peer]["accuracy"]
            met = ratio <= target.ratio and accuracy >= peer_accuracy
            figures = f"{ratio:.1f}x, accuracy {100 * accuracy:.1f} % against {100 * peer_accuracy:.1f} %"
        lines.append(f"  {'met   ' if met else 'missed'}  {target.text}: {figures}")
    return lines


def format_report(results: dict, load_before, load_after, threads: int | None = None) -> str:
    lines = [f"load average before {' '.join(f'{x:.2f}' for x in load_before)}, "
             f"after {' '.join(f'{x:.2f}' for x in load_after)} (1, 5, 15 minutes; {os.cpu_count()} CPUs); "
             f"threads: {threads if threads is not None else 'each library its own'}",
             f"{'measurement':<15} {'median':>8}  {'accuracy':>8}  every round (s)"]
    for name, result in results.items():
        accuracy = f"{100 * result['accuracy']:7.2f}%" if result["accuracy"] is not None else ""
        rounds = " ".join(f"{s:.2f}" for s in result["seconds"])
        lines.append(f"{name:<15} {median(results, name):7.2f}s  {accuracy:>8}  {rounds}")
        for span in ("first_call", "next_call"):
            if span in result:
                rounds = " ".join(f"{s:.2f}" for s in result[span])
                lines.append(f"  {SPANS[span]:<13} {median(results, name, span):7.2f}s  {'':>8}  {rounds}")
    for ours, peer, what in (("estimator-cv", "mlp-cv", "cross-validation"), ("estimator-grid", "mlp-grid", "grid search")):
        if ours in results and peer in results:
            ratios = ", ".join(f"{median(results, ours, span) / median(results, peer, span):.1f}x {SPANS[span]}"
                               for span in SPANS if span in results[ours] and span in results[peer])
            lines.append(f"simplenn.Classifier / MLPClassifier, {what}: {ratios}")
    targets = target_lines(results)
    return "\n".join(lines + (["targets:", *targets] if targets else []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; the median is reported (default 3)")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"epochs for every measurement (default: the estimators {EPOCHS}, each command its own)")
    parser.add_argument("--only", default=",".join(MEASUREMENTS),
                        help=f"comma-separated measurements (default all: {','.join(MEASUREMENTS)})")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for every library's arithmetic (default: each library's own)")
    parser.add_argument("--run", type=Path, default=None, help="the run that predict reads (default: one trained first)")
    parser.add_argument("--workload", choices=ESTIMATOR_WORKLOADS, help=argparse.SUPPRESS)  # one timed child process
    args = parser.parse_args(argv)
    if args.workload:
        print(json.dumps(run_workload(args.workload, args.epochs or EPOCHS, calls=2)))
        return 0
    names = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(names) - set(MEASUREMENTS))
    if unknown:
        parser.error(f"unknown measurement(s) {', '.join(unknown)}; choose from {', '.join(MEASUREMENTS)}")
    if args.repeat < 1 or (args.threads is not None and args.threads < 1):
        parser.error("--repeat and --threads must be at least 1")
    load_before = os.getloadavg()
    results = measure(names, args.repeat, args.epochs, args.run, args.threads,
                      log=lambda line: print(line, file=sys.stderr))
    print(format_report(results, load_before, os.getloadavg(), args.threads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
