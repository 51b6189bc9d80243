"""Where the first second goes: tracing, compiling, and a whole command's wall time.

    python benchmarks/warmup.py [--dataset fashion-mnist] [--epochs 4] [--skip-commands]

For the bench config (784-100-30-10, Adam, batch 128) and the `fixed` preset, each in a
fresh process, it times tracing the compiled loop (`Trainer._steps`), the first epoch (which
also compiles it with XLA) and a steady epoch (the median of the others): the warm-up is
the first epoch less a steady one. Every row runs twice, first with an empty XLA
compilation cache ("cold", a machine's first run), then with the cache the first filled
("warm", every later run). Then the wall time of whole commands, from the shell to the
exit: `simplenn train --preset fixed --dataset fashion-mnist` and `make demo`'s two runs.
Nothing is written outside a temporary folder it removes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WARMUP_CODE = """
import json, statistics, sys, time
import simplenn

simplenn.set_up()  # TensorFlow loads quietly, as under the CLI
from simplenn.bench.benchmark import bench_config
from simplenn.config import fit_to_data, preset
from simplenn.training.data import prepare_data
from simplenn.machine.quiet_tensorflow import tf
from simplenn.training.trainer import Trainer, fit, use_deterministic_kernels

name, dataset, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
if name == "bench":
    config = bench_config(dataset, epochs, seed=0)
else:
    config = preset(name).replace(dataset=dataset, epochs=epochs)
data = prepare_data(config)
config = fit_to_data(config, data.n_features, data.n_classes, layers_given=False)
use_deterministic_kernels()
trainer = Trainer(config, data.train.size, data.image_shape)
started = time.perf_counter()
trainer._steps.get_concrete_function(data.train.X, data.train.Y, trainer.epoch, trainer.step_in_epoch,
                                     tf.constant(trainer.steps_per_epoch, tf.int64))
trace = time.perf_counter() - started
history = fit(trainer, data.train, log=lambda line: None)
seconds = [record.seconds for record in history]
print(json.dumps({"trace": trace, "first": trace + seconds[0], "steady": statistics.median(seconds[1:])}))
"""


def timed(command: list[str], environment: dict, cwd: Path | None = None) -> float:
    """Wall seconds of `command`, which must succeed."""
    started = time.perf_counter()
    subprocess.run(command, env=environment, cwd=cwd, check=True, stdout=subprocess.DEVNULL, timeout=900)
    return time.perf_counter() - started


def warmup_rows(dataset: str, epochs: int, scratch: Path) -> list[dict]:
    rows = []
    for name in ("bench", "fixed"):
        environment = dict(os.environ, SIMPLENN_COMPILE_CACHE=str(scratch / f"xla-{name}"))
        environment.pop("TF_XLA_FLAGS", None)
        for cache in ("cold", "warm"):
            done = subprocess.run([sys.executable, "-c", WARMUP_CODE, name, dataset, str(epochs)], env=environment,
                                  check=True, capture_output=True, text=True, timeout=900)
            times = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append({"config": name, "cache": cache, **times, "warmup": times["first"] - times["steady"]})
    return rows


def command_rows(scratch: Path) -> list[dict]:
    simplenn = [sys.executable, "-m", "simplenn.cli", "train", "--quiet"]
    rows = []
    for label, commands in (
        ("simplenn train --preset fixed --dataset fashion-mnist",
         [["--preset", "fixed", "--dataset", "fashion-mnist"]]),
        ("make demo's two runs (blog and fixed on digits)",
         [["--preset", "blog", "--dataset", "digits"], ["--preset", "fixed", "--dataset", "digits"]]),
    ):
        environment = dict(os.environ, SIMPLENN_COMPILE_CACHE=str(scratch / f"xla-{len(rows)}"))
        environment.pop("TF_XLA_FLAGS", None)
        for cache in ("cold", "warm"):
            seconds = 0.0
            for number, flags in enumerate(commands):
                run_dir = scratch / f"run-{len(rows)}-{cache}-{number}"
                seconds += timed([*simplenn, *flags, "--run-dir", str(run_dir)], environment)
            accuracy = json.loads((run_dir / "summary.json").read_text())["test_accuracy"]
            rows.append({"command": label, "cache": cache, "seconds": seconds, "test_accuracy": accuracy})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per warm-up row (at least 2)")
    parser.add_argument("--skip-commands", action="store_true", help="only the warm-up rows")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="simplenn-warmup-") as scratch:
        scratch = Path(scratch)
        print(f"{args.dataset}, {args.epochs} epochs per row; load average {load_before:.1f} before")
        print(f"{'config':<8}{'XLA cache':>10}{'tracing':>10}{'epoch 1':>10}{'steady':>9}{'warm-up':>10}")
        for row in warmup_rows(args.dataset, args.epochs, scratch):
            print(f"{row['config']:<8}{row['cache']:>10}{row['trace']:>9.3f}s{row['first']:>9.3f}s"
                  f"{row['steady']:>8.3f}s{row['warmup']:>9.3f}s")
        if not args.skip_commands:
            print()
            for row in command_rows(scratch):
                print(f"{row['command']:<55}{row['cache']:>6} cache {row['seconds']:>6.1f} s wall, "
                      f"test accuracy {100 * row['test_accuracy']:.2f} %")
    print(f"load average {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
