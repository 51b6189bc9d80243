"""float32 against mixed_bfloat16: speed and test accuracy, with XLA and without.

    python benchmarks/precision.py [--dataset fashion-mnist] [--rounds 3] [--bench-epochs 5]

Each row is a whole `simplenn train` in a fresh process: the bench config (`simplenn bench`'s
`bench_config`: 784-100-30-10, Adam, batch 128, spelled as flags over `--preset fixed`) and
the `fixed` preset, each with `--precision float32` and `mixed_bfloat16`, with XLA (`--xla`)
and without (`--no-xla`). The rows run interleaved, round after round, so that a busy minute
slows every row alike. Each row has an XLA compilation cache of its own: round 1 starts it
empty ("cold", a machine's first run), later rounds find it filled ("warm").

Per row: epoch 1's seconds (tracing and compiling included) cold and warm, steady samples/s
(the median over rounds of each run's median later epoch), samples/s counting epoch 1 (warm),
and the test accuracy, which every round must reproduce exactly. Nothing is written outside a
temporary folder it removes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import simplenn

simplenn.set_up()  # TensorFlow loads quietly, as under the CLI
from simplenn.bench.benchmark import bench_config
from simplenn.config import flags_for, preset

PRECISIONS = ("float32", "mixed_bfloat16")


def config_flags(name: str, dataset: str, bench_epochs: int) -> list[str]:
    """`simplenn train` flags for the bench config or the `fixed` preset on `dataset`."""
    fixed = preset("fixed")
    if name == "bench":
        return ["--preset", "fixed", *flags_for(bench_config(dataset, bench_epochs, seed=0), fixed)]
    return ["--preset", "fixed", "--dataset", dataset]


def run_once(flags: list[str], run_dir: Path, cache: Path) -> dict:
    """One `simplenn train`: its epoch seconds and test accuracy, from the run directory."""
    environment = dict(os.environ, SIMPLENN_COMPILE_CACHE=str(cache))
    environment.pop("TF_XLA_FLAGS", None)
    subprocess.run([sys.executable, "-m", "simplenn.cli", "train", "--quiet", *flags, "--run-dir", str(run_dir)],
                   env=environment, check=True, stdout=subprocess.DEVNULL, timeout=900)
    history = json.loads((run_dir / "history.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    return {"seconds": [record["seconds"] for record in history],
            "samples_per_s": [record["samples_per_s"] for record in history],
            "test_accuracy": summary["test_accuracy"]}


def samples_per_s_with_epoch1(run: dict) -> float:
    """Every epoch trains on the same n images: n * epochs / the seconds of them all."""
    n = run["samples_per_s"][0] * run["seconds"][0]
    return n * len(run["seconds"]) / sum(run["seconds"])


def row_figures(runs: list[dict]) -> dict:
    """One row's figures from its runs, round 1 first (the cold cache)."""
    warm = runs[1:] or runs
    steady = [statistics.median(run["samples_per_s"][1:]) for run in runs]
    with_first = [samples_per_s_with_epoch1(run) for run in warm]
    accuracies = {run["test_accuracy"] for run in runs}
    return {
        "epoch1_cold_s": runs[0]["seconds"][0],
        "epoch1_warm_s": statistics.median(run["seconds"][0] for run in warm),
        "steady_samples_per_s": statistics.median(steady),
        "steady_spread": (min(steady), max(steady)),
        "samples_per_s_with_epoch1": statistics.median(with_first),
        "test_accuracy": runs[0]["test_accuracy"],
        "same_accuracy_every_round": len(accuracies) == 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every row, interleaved (at least 2)")
    parser.add_argument("--bench-epochs", type=int, default=5)
    parser.add_argument("--configs", default="bench,fixed", help="comma-separated: bench, fixed")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    rows = [(name, xla, precision) for name in args.configs.split(",") for xla in ("--xla", "--no-xla")
            for precision in PRECISIONS]
    runs: dict[tuple, list[dict]] = {row: [] for row in rows}
    loads = [os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="simplenn-precision-") as scratch:
        scratch = Path(scratch)
        for round_number in range(args.rounds):
            for number, (name, xla, precision) in enumerate(rows):
                flags = [*config_flags(name, args.dataset, args.bench_epochs), xla, "--precision", precision]
                run_dir = scratch / f"run-{number}-{round_number}"
                runs[(name, xla, precision)].append(run_once(flags, run_dir, scratch / f"xla-{number}"))
            loads.append(os.getloadavg())
    results = [{"config": name, "xla": xla == "--xla", "precision": precision, **row_figures(runs[(name, xla, precision)])}
               for name, xla, precision in rows]
    print(f"{args.dataset}, {args.rounds} rounds; load average (1 min) "
          + ", ".join(f"{load[0]:.1f}" for load in loads) + " before and after each round")
    print(f"{'config':<7}{'XLA':<5}{'precision':<16}{'epoch 1 cold':>13}{'warm':>8}{'steady samples/s':>18}"
          f"{'(spread)':>20}{'with epoch 1':>14}{'test acc':>10}")
    for row in results:
        low, high = row["steady_spread"]
        same = "" if row["same_accuracy_every_round"] else "  (differs between rounds!)"
        print(f"{row['config']:<7}{'on' if row['xla'] else 'off':<5}{row['precision']:<16}"
              f"{row['epoch1_cold_s']:>12.2f}s{row['epoch1_warm_s']:>7.2f}s{row['steady_samples_per_s']:>18,.0f}"
              f"{f'({low:,.0f}-{high:,.0f})':>20}{row['samples_per_s_with_epoch1']:>14,.0f}"
              f"{100 * row['test_accuracy']:>9.2f}%{same}")
    if args.json:
        args.json.write_text(json.dumps({"loadavg": loads, "rows": results}, indent=2))


if __name__ == "__main__":
    main()
