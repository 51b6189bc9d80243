"""`simplenn bench sweep`: how simplenn's speed, and its share of the FLOP bound, grow with the network.

Three axes, each varied from the bench's network (n0-100-30-10, batches of 128) with the
rest kept as it is:

    width       n0-w-30-10: the post's two hidden layers, the first one widened to w
    depth       d hidden layers of 100: n0-100-10 ... n0-100-100-100-100-10
    batch_size  n0-100-30-10 trained on batches of B

At every point simplenn trains `epochs` epochs on the first `SweepPlan.n_train` training
images, and its speed leaves out epoch 1 (compilation), as in the bench. `matmul_gflops`
measures this machine's matrix products at that point's shapes: the FLOP bound, the
speed no system can pass. Keras `fit` trains at the points of `SweepPlan.keras_at`, for
comparison. The sweep writes `sweep.json` and `sweep.png` into its output folder and
nothing anywhere else.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from simplenn.bench.benchmark import bench_config, matmul_gflops, training_flops
from simplenn.bench.systems import bench_keras, bench_simplenn, limit_threads
from simplenn.training.data import prepare_data
from simplenn.errors import SimplennError
from simplenn.machine.file_safety import require_no_links, user_path, write_json
from simplenn.machine.memory import MemoryLimit

AXES = ("width", "depth", "batch_size")
WRITES = ("sweep.json", "sweep.png")  # everything the sweep puts into its folder


@dataclass(frozen=True)
class SweepPlan:
    """The values of each axis, the points where Keras trains too, and how much data each point sees."""

    width: tuple[int, ...] = (100, 256, 512, 1024, 2048)
    depth: tuple[int, ...] = (1, 2, 3, 4)
    batch_size: tuple[int, ...] = (32, 64, 128, 256, 512, 1024)
    keras_at: tuple[tuple[str, int], ...] = (
        ("width", 100), ("width", 512), ("width", 2048), ("depth", 1), ("depth", 4),
        ("batch_size", 32), ("batch_size", 128), ("batch_size", 1024),
    )
    n_train: int = 20_000  # enough steps for a steady speed even at batch 1024 (20 an epoch)
    matmul_repeats: int = 10  # half the bench's 20: the wide points' products take long

    def points(self) -> list[tuple[str, int]]:
        return [(axis, value) for axis in AXES for value in getattr(self, axis)]


PLAN = SweepPlan()  # what `simplenn bench sweep` measures: a few minutes on two cores


def point_shape(axis: str, value: int, n_features: int, n_classes: int) -> tuple[tuple[int, ...], int]:
    """(layers, batch size) of the point `value` on `axis`; the bench's network elsewhere."""
    if axis == "width":
        return (n_features, value, 30, n_classes), 128
    if axis == "depth":
        return (n_features, *[100] * value, n_classes), 128
    if axis == "batch_size":
        return (n_features, 100, 30, n_classes), value
    raise ValueError(f"unknown sweep axis {axis!r}")


def prepare_out_folder(out: str | Path) -> Path:
    """Create the sweep's folder; refuse links where it writes, so nothing lands outside it."""
    folder = user_path(out, "--out")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SimplennError(f"cannot create --out folder {folder}: {error.strerror or error}") from None
    require_no_links(folder, WRITES, what=f"--out folder {folder}")
    return folder


def run_sweep(out: str | Path, dataset: str = "fashion-mnist", epochs: int = 5, seed: int = 0,
              threads: int | None = None, plan: SweepPlan | None = None, log: Callable[[str], None] = print,
              memory_limit: MemoryLimit | None = None) -> tuple[dict, list[Path]]:
    """Measure every point of `plan` on `dataset` and write `out`/sweep.json and `out`/sweep.png.

    plan: the points to measure (default `PLAN`). Returns (the sweep, as written to
    sweep.json; the paths written).
    """
    from simplenn.explain.figures import sweep_chart

    plan = plan or PLAN
    folder = prepare_out_folder(out)
    limit_threads(threads)
    base = bench_config(dataset, epochs, seed)
    data = prepare_data(base, memory_limit)
    data = dataclasses.replace(data, train=data.train.first(min(plan.n_train, data.train.size)))
    load_before = os.getloadavg()[0]
    points = []
    for axis, value in plan.points():
        layers, batch_size = point_shape(axis, value, data.n_features, data.n_classes)
        config = base.replace(layers=layers, batch_size=batch_size)
        flops = training_flops(layers)
        results = [bench_simplenn(config, data)]
        if (axis, value) in plan.keras_at:
            results.append(bench_keras(config, data))
        gflops = matmul_gflops(layers, batch_size, repeats=plan.matmul_repeats)
        systems = {result.name: {**result.figures(),
                                 "fraction_of_flop_bound": result.samples_per_s * flops / (gflops * 1e9)}
                   for result in results}
        points.append({"axis": axis, "value": value, "layers": list(layers), "batch_size": batch_size,
                       "flops_per_sample": flops, "matmul_gflops": gflops,
                       "flop_bound_samples_per_s": gflops * 1e9 / flops, "systems": systems})
        simplenn = systems["simplenn"]
        log(f"{axis} {value}: simplenn {simplenn['samples_per_s']:,.0f} samples/s, "
            f"{100 * simplenn['fraction_of_flop_bound']:.0f} % of the FLOP bound")
    sweep = {
        "dataset": dataset, "n_train": data.train.size, "epochs": epochs, "seed": seed,
        "timing": "samples_per_s leaves out epoch 1 (compilation, warm-up) when there are more",
        "points": points,
        "machine": {"cpus": os.cpu_count(), "threads": threads, "load_average_before": load_before,
                    "load_average_after": os.getloadavg()[0]},
    }
    written = [write_json(folder / "sweep.json", sweep), sweep_chart(sweep, folder / "sweep.png")]
    return sweep, written


def format_sweep(sweep: dict, markdown: bool = False) -> str:
    """The sweep as a table, one row per point: simplenn's and Keras's speed and share of the bound."""
    machine = sweep["machine"]
    title = (f"{sweep['dataset']}: the first {sweep['n_train']:,} training images, {sweep['epochs']} epochs, "
             f"samples/s leave out epoch 1; load average {machine['load_average_before']:.1f} before, "
             f"{machine['load_average_after']:.1f} after")
    header = ["axis", "value", "layers", "batch", "simplenn samples/s", "of bound",
              "keras fit samples/s", "of bound", "FLOP bound samples/s"]
    rows = []
    for point in sweep["points"]:
        row = [point["axis"], str(point["value"]), "-".join(map(str, point["layers"])), str(point["batch_size"])]
        for name in ("simplenn", "keras fit"):
            system = point["systems"].get(name)
            row += ([f"{system['samples_per_s']:,.0f}", f"{100 * system['fraction_of_flop_bound']:.0f} %"]
                    if system else ["", ""])
        rows.append(row + [f"{point['flop_bound_samples_per_s']:,.0f}"])
    if markdown:
        lines = [title, "", "| " + " | ".join(header) + " |", "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]

    def line(cells: list[str]) -> str:  # the first three columns are words, the rest numbers
        return "  ".join(cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(cells, widths)))

    return "\n".join([title, "", line(header)] + [line(row) for row in rows])
