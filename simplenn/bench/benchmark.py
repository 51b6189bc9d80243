"""`simplenn bench`: how fast simplenn trains the post's network, next to the usual tools.

In one process, on the same data and the same network, it trains every system of
`bench_systems.SYSTEMS` (simplenn, Keras `fit`, scikit-learn, PyTorch eager, JAX, the
post's eager loop) and measures how fast this machine multiplies matrices of the
network's shapes, which bounds every system: a training step cannot beat its own
matrix products.

With `repeat` above 1 the systems run interleaved, A B C A B C ..., so that a busy
second of the machine falls on one run of one system rather than on all of another
system's runs; the report gives each figure's median and its range (min-max) over the
repeats, and every repeat's raw figures.

Speeds leave out the first epoch, which compiles graphs and warms caches
(`samples_per_s_with_first_epoch` keeps it, `first_epoch_extra_s` is what it cost beyond
a steady epoch). scikit-learn compiles nothing and reports no per-epoch times, so its
speed is that of all its epochs. Every run of every system trains in a new Python process
(`run_in_fresh_process`), as a user's run would: nothing that one run compiled or cached
in memory helps the next, and no library's idle threads linger beside another's.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Callable

from simplenn.machine.quiet_tensorflow import retracing_expected, tf

from simplenn.bench.systems import SYSTEMS, System, SystemResult, limit_threads
from simplenn.config import Config, fit_to_data
from simplenn.training.data import prepare_data
from simplenn.errors import SimplennError
from simplenn.machine.memory import MemoryLimit

REFERENCE = "simplenn"  # the system every ratio divides by the others


def bench_config(dataset: str, epochs: int, seed: int) -> Config:
    """What every system trains, every field spelled out so that tuning a preset leaves
    the bench alone: the post's network on scaled inputs, softmax cross-entropy averaged
    over batches of 128, He initialisation, Adam at a constant lr 1e-3 and no
    regularisation, as Keras and scikit-learn do by default."""
    return Config(
        preset="bench", dataset=dataset, layers=(784, 100, 30, 10), activation="relu", init="he",
        dropout=0.0, scale_inputs=True, loss="softmax", reduction="mean", label_smoothing=0.0,
        weight_decay=0.0, optimizer="adam", lr=1e-3, schedule="constant", warmup_epochs=0.0,
        clip_norm=0.0, batch_size=128, validation_split=0.0, patience=0, grad="tape",
        jit_compile=True, epochs=epochs, seed=seed,
    )


def forward_flops(layers) -> int:
    """Multiply-adds of one example's forward pass, counted as 2 FLOPs: 2 sum n_in n_out."""
    return 2 * sum(n_in * n_out for n_in, n_out in zip(layers[:-1], layers[1:]))


def backward_flops(layers) -> int:
    """One example's backward pass: dW_l = A_{l-1}^T dZ_l and dA_{l-1} = dZ_l W_l^T for
    every layer, twice the forward, less dX = dZ_1 W_1^T, which nothing needs."""
    return 2 * forward_flops(layers) - 2 * layers[0] * layers[1]


def training_flops(layers) -> int:
    """FLOPs of the matrix products that train on one example (biases and activations,
    a few hundred FLOPs, are left out)."""
    return forward_flops(layers) + backward_flops(layers)


def matmul_gflops(layers, batch_size: int, steps: int = 32, repeats: int = 20) -> float:
    """GFLOP/s of one training step's matrix products on `batch_size` rows, best of runs.

    Each step multiplies `A_{l-1} (B, n_{l-1}) @ W_l (n_{l-1}, n_l)` forward,
    `A_{l-1}^T @ dZ_l` for every weight gradient and `dZ_l @ W_l^T` for every input
    gradient but the first: exactly `training_flops(layers) * B`. The faster of
    TensorFlow's two CPU paths (XLA, and oneDNN without it) counts.
    """
    random = tf.random.Generator.from_seed(0)
    A0 = random.uniform((batch_size, layers[0]))
    Ws = [random.normal((n_in, n_out)) for n_in, n_out in zip(layers[:-1], layers[1:])]
    dZs = [random.normal((batch_size, n_out)) for n_out in layers[1:]]

    def products(A0, Ws, dZs):
        total = tf.zeros(())
        for _ in tf.range(steps):
            A = [A0 + total]  # depends on the last step, so no step can be skipped
            for W in Ws:
                A.append(tf.matmul(A[-1], W))  # (B, n_{l-1}) @ (n_{l-1}, n_l) -> (B, n_l)
            dWs = [tf.matmul(A_in, dZ, transpose_a=True) for A_in, dZ in zip(A[:-1], dZs)]
            dAs = [tf.matmul(dZ, W, transpose_b=True) for dZ, W in zip(dZs[1:], Ws[1:])]
            # Every product is summed whole: XLA would skip any part that nothing reads.
            total += 1e-30 * tf.add_n([tf.reduce_sum(M) for M in A[1:] + dWs + dAs])
        return total

    best = float("inf")
    with retracing_expected():  # one new trace per shape measured is the point
        for jit_compile in (True, False):
            compiled = tf.function(products, jit_compile=jit_compile)
            compiled(A0, Ws, dZs).numpy()  # compile
            for _ in range(repeats):
                started = time.perf_counter()
                compiled(A0, Ws, dZs).numpy()
                best = min(best, time.perf_counter() - started)
    return training_flops(layers) * batch_size * steps / best / 1e9


def run_bench(dataset: str = "fashion-mnist", epochs: int = 5, seed: int = 0, threads: int | None = None,
              repeat: int = 1, log: Callable[[str], None] = print, memory_limit: MemoryLimit | None = None,
              systems: tuple[System, ...] | None = None) -> dict:
    """Train every system of `systems` (default `SYSTEMS`) on `dataset`, `repeat` times interleaved,
    and return the report that `format_table` prints. Systems whose libraries are missing are skipped.

    threads: run every system's arithmetic on this many threads (TensorFlow's and PyTorch's
    pools and the BLAS under scikit-learn); None keeps each library's default. On a machine
    shared with other work, threads that wait for each other can slow a library tenfold.
    memory_limit: as for `train_and_evaluate` (default: half the available memory).
    """
    systems = systems or SYSTEMS
    limit_threads(threads)
    memory_limit = memory_limit or MemoryLimit.of(None)
    config = bench_config(dataset, epochs, seed)
    data = prepare_data(config, memory_limit)  # here only to check the data and size the network
    config = fit_to_data(config, data.n_features, data.n_classes, layers_given=False)
    skipped = {system.name: reason for system in systems if (reason := system.missing())}
    runs: dict[str, list[SystemResult]] = {system.name: [] for system in systems if system.name not in skipped}
    gflops, load_averages = [], [os.getloadavg()[0]]
    for r in range(repeat):
        which = f"repeat {r + 1}/{repeat}: " if repeat > 1 else ""
        for system in systems:
            if system.name not in skipped:
                log(f"{which}training {system.name} ...")
                runs[system.name].append(run_in_fresh_process(system, config, threads, memory_limit))
        log(f"{which}measuring matmul speed ...")  # here, between the systems' processes
        gflops.append(matmul_gflops(config.layers, config.batch_size))
        load_averages.append(os.getloadavg()[0])
    machine = {"cpus": os.cpu_count(), "threads": threads, "load_average_before": load_averages[0],
               "load_average_after": load_averages[-1], "load_averages": load_averages,
               "tensorflow": tf.__version__}
    return bench_report(config, data.train.size, runs, gflops, machine, skipped)


def run_in_fresh_process(system: System, config: Config, threads: int | None,
                         memory_limit: MemoryLimit) -> SystemResult:
    """Train `system` on `config` in a new Python process (`python -m simplenn.bench.systems`).

    Starting Python, importing the libraries and loading the data are not timed; the
    first epoch pays whatever the library compiles, as in a user's first run.
    """
    request = {"system": system.name, "config": config.to_dict(), "threads": threads,
               "memory_limit": dataclasses.asdict(memory_limit)}
    done = subprocess.run([sys.executable, "-m", "simplenn.bench.systems"], input=json.dumps(request),
                          capture_output=True, text=True)
    if done.returncode != 0:
        last_line = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise SimplennError(f"{system.name} failed in its process (exit status {done.returncode}): {last_line}")
    return SystemResult(**json.loads(done.stdout.splitlines()[-1]))


def _median_and_range(values: list[float | None]) -> tuple[float | None, list[float] | None]:
    """(median, [min, max]) of `values`; (None, None) when they are None (a figure a system lacks)."""
    if any(value is None for value in values):
        return None, None
    return statistics.median(values), [min(values), max(values)]


def bench_report(config: Config, n_train: int, runs: dict[str, list[SystemResult]], gflops: list[float],
                 machine: dict, skipped: dict[str, str] | None = None) -> dict:
    """The report of `runs` (each system's results, one per repeat; simplenn's among them),
    measured at `gflops` GFLOP/s of matmuls (one figure per repeat).

    Every figure of a system is the median over its repeats, with its range; the ratios
    divide simplenn's median by the other system's median. `runs` in the report keeps
    each repeat's raw figures.
    """
    flops = training_flops(config.layers)
    bound_gflops = statistics.median(gflops)
    systems = {}
    for name, results in runs.items():
        figures = {}
        for figure in ("samples_per_s", "samples_per_s_with_first_epoch", "first_epoch_extra_s", "test_accuracy"):
            figures[figure], figures[f"{figure}_range"] = _median_and_range([getattr(r, figure) for r in results])
        systems[name] = {**figures, "epochs": len(results[0].epoch_seconds), "note": results[0].note,
                         "fraction_of_flop_bound": figures["samples_per_s"] * flops / (bound_gflops * 1e9),
                         "runs": [result.figures() for result in results]}
    reference = systems[REFERENCE]
    for system in systems.values():
        system["simplenn_speedup"] = reference["samples_per_s"] / system["samples_per_s"]
        system["simplenn_speedup_with_first_epoch"] = (
            reference["samples_per_s_with_first_epoch"] / system["samples_per_s_with_first_epoch"])
    return {
        "dataset": config.dataset,
        "n_train": n_train,
        "layers": list(config.layers),
        "batch_size": config.batch_size,
        "optimizer": f"{config.optimizer} lr {config.lr:g}",
        "epochs": config.epochs,
        "repeats": len(gflops),
        "timing": "samples_per_s leaves out epoch 1 (compilation, warm-up) when there are more; "
                  "each figure is the median over the repeats, which ran interleaved",
        "flops_per_sample": {"forward": forward_flops(config.layers),
                             "backward": backward_flops(config.layers), "training": flops},
        "matmul_gflops": bound_gflops,
        "matmul_gflops_runs": gflops,
        "flop_bound_samples_per_s": bound_gflops * 1e9 / flops,
        "systems": systems,
        "skipped": skipped or {},
        "machine": machine,
    }


def _header(report: dict) -> list[str]:
    """The lines above the table: what was trained, how it was timed, on what machine."""
    layers = "-".join(map(str, report["layers"]))
    machine = report["machine"]
    timing = "samples/s leave out epoch 1 (compilation and warm-up)"
    if report["repeats"] > 1:
        timing += f"; medians of {report['repeats']} interleaved repeats, min–max in brackets"
    return [
        f"{report['dataset']}: {report['n_train']:,} training images, {layers}, {report['optimizer']}, "
        f"batch {report['batch_size']}, {report['epochs']} epochs",
        f"{timing}; {machine['cpus']} CPUs, "
        f"threads: {machine['threads'] or 'library defaults'}, load average {machine['load_average_before']:.1f} before, "
        f"{machine['load_average_after']:.1f} after; TensorFlow {machine['tensorflow']}",
    ]


def _bound_note(report: dict) -> str:
    return (f"matmuls of these shapes at {report['matmul_gflops']:.0f} GFLOP/s, "
            f"{report['flops_per_sample']['training']:,} FLOPs per sample")


def _speed(s: dict, figure: str, repeats: int) -> str:
    """A speed and, over several repeats, its range: "478,289 (460,112–490,005)"."""
    text = f"{s[figure]:,.0f}"
    if repeats > 1:
        low, high = s[f"{figure}_range"]
        text += f" ({low:,.0f}–{high:,.0f})"
    return text


def _extra(s: dict) -> str:
    return "-" if s["first_epoch_extra_s"] is None else f"{s['first_epoch_extra_s']:.2f} s"


def format_table(report: dict) -> str:
    """The report as the table `simplenn bench` prints: medians, with ranges over several repeats."""
    repeats = report["repeats"]
    lines = _header(report) + [""]
    if repeats == 1:
        lines.append(f"{'system':<14}{'samples/s':>11}{'with ep. 1':>12}{'test acc':>10}{'simplenn is':>13}"
                     f"{'FLOP bound':>12}  note")
        for name, s in report["systems"].items():
            lines.append(
                f"{name:<14}{s['samples_per_s']:>11,.0f}{s['samples_per_s_with_first_epoch']:>12,.0f}"
                f"{100 * s['test_accuracy']:>9.2f}%{s['simplenn_speedup']:>12.2f}x"
                f"{100 * s['fraction_of_flop_bound']:>11.0f}%  {s['note']}"
            )
        bound = f"{report['flop_bound_samples_per_s']:>11,.0f}{'':>35}{100:>11}%"
    else:
        lines.append(f"{'system':<14}{'samples/s':>26}{'with ep. 1':>26}{'ep. 1 extra':>12}{'test acc':>10}"
                     f"{'simplenn is':>13}{'with ep. 1':>11}{'FLOP bound':>12}  note")
        for name, s in report["systems"].items():
            lines.append(
                f"{name:<14}{_speed(s, 'samples_per_s', repeats):>26}"
                f"{_speed(s, 'samples_per_s_with_first_epoch', repeats):>26}{_extra(s):>12}"
                f"{100 * s['test_accuracy']:>9.2f}%{s['simplenn_speedup']:>12.2f}x"
                f"{s['simplenn_speedup_with_first_epoch']:>10.2f}x{100 * s['fraction_of_flop_bound']:>11.0f}%  {s['note']}"
            )
        bound = f"{report['flop_bound_samples_per_s']:>26,.0f}{'':>82}{100:>11}%"
    lines.extend(f"{name:<14}{reason}" for name, reason in report["skipped"].items())
    lines.append(f"{'FLOP bound':<14}{bound}  {_bound_note(report)}")
    return "\n".join(lines)


def format_markdown(report: dict) -> str:
    """The report as a Markdown table, for a README: the lines above it, then one row per system."""
    repeats = report["repeats"]
    lines = ["; ".join(_header(report)), "",
             "| system | samples/s | with epoch 1 | epoch 1's extra time | test accuracy | simplenn is "
             "| counting epoch 1 | of the FLOP bound |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, s in report["systems"].items():
        cells = [name, _speed(s, "samples_per_s", repeats), _speed(s, "samples_per_s_with_first_epoch", repeats),
                 _extra(s), f"{100 * s['test_accuracy']:.2f} %", f"{s['simplenn_speedup']:.2f}×",
                 f"{s['simplenn_speedup_with_first_epoch']:.2f}×", f"{100 * s['fraction_of_flop_bound']:.0f} %"]
        if name == REFERENCE:
            cells = [f"**{cell}**" for cell in cells]
        lines.append("| " + " | ".join(cells) + " |")
    lines.extend(f"| {name} | {reason} | | | | | | |" for name, reason in report["skipped"].items())
    lines.append(f"| FLOP bound | {report['flop_bound_samples_per_s']:,.0f} | | | | | | 100 % |")
    lines += ["", f"FLOP bound: {_bound_note(report)}."]
    return "\n".join(lines)
