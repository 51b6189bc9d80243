"""Time `evaluate` and `report` on a trained run, after TensorFlow is imported.

    python benchmarks/bench_inspect.py RUN_DIR [--repeat 3]

evaluate: load the run (config, checkpoint, weights check), load its dataset's test
split and score it (scikit-learn's per-class scores, confusion matrix, top-k,
calibration). report: the same, plus every figure and the HTML page, written to a
temporary folder. Targets, for a Fashion-MNIST run (10,000 test images) on 2 cores:
evaluate <= 1 s, report <= 10 s. Each is timed `--repeat` times; the best and the first
are printed (the first pays for one-off set-up such as reading the dataset files).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from simplenn.machine.quiet_tensorflow import import_tensorflow, set_up

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

EVALUATE_TARGET_S, REPORT_TARGET_S = 1.0, 10.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a finished `simplenn train` run")
    parser.add_argument("--repeat", type=int, default=3, help="timings of each (default 3)")
    args = parser.parse_args()

    set_up()
    started = time.perf_counter()
    import_tensorflow()  # timed apart: it is not simplenn's work

    print(f"import tensorflow: {time.perf_counter() - started:.2f} s (not counted)")
    from simplenn import load_run
    from simplenn.explain.report import write_report

    def evaluate():
        evaluation = load_run(args.run_dir).evaluate()
        return f"{evaluation.size:,} images, accuracy {100 * evaluation.accuracy:.2f} %"

    def report():
        with tempfile.TemporaryDirectory() as folder:
            path = write_report(load_run(args.run_dir), os.path.join(folder, "report.html"))
            return f"{os.path.getsize(path) / 1e6:.2f} MB of HTML"

    for name, work, target in (("evaluate", evaluate, EVALUATE_TARGET_S), ("report", report, REPORT_TARGET_S)):
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            what = work()
            times.append(time.perf_counter() - started)
        verdict = "meets" if min(times) <= target else "MISSES"
        print(f"{name:<9} best {min(times):.2f} s, first {times[0]:.2f} s ({what}); target <= {target:g} s: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
