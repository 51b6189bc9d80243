"""Figures: the post's sample image, the ablation chart and the benchmark's sweep.

Every function writes a PNG when given a path and returns the path it wrote; otherwise it
opens a window as the post's `plt.show()` does. Matplotlib chooses its own backend: a
window on macOS, Windows or a Linux desktop, the notebook's inline figures in Jupyter, and
Agg (files only) on a machine without a display, where a figure with no path is not drawn:
a file is written only where the user names one.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt

from simplenn.errors import SimplennError
from simplenn.machine.file_safety import write_bytes
from simplenn.machine.safe_text import drawing_without_mathtext, plain_figure_text


def draw_into_files_only() -> None:
    """Draw with Agg from now on, for a command that only writes files: no window, no GUI start-up."""
    plt.switch_backend("Agg")


def has_display() -> bool:
    """Whether a figure without a path can be shown: matplotlib's backend is not Agg (files only)."""
    return matplotlib.get_backend().lower() != "agg"


def _finish(figure, out: str | Path | None, default_name: str) -> Path | None:
    """Save `figure` to `out`, else show it; with neither a path nor a display, nothing (None)."""
    if out is None and not has_display():
        plt.close(figure)
        return None
    plain_figure_text(figure)  # class and run names are data: a `$` in one is not mathtext
    if out is None:
        with drawing_without_mathtext():
            plt.show()
        return None
    out = Path(out)
    image = io.BytesIO()  # drawn in memory, then written atomically: a full disk leaves no half figure
    try:
        if out.is_dir():  # matplotlib would quietly write `out`.png next to it
            raise SimplennError(f"cannot write {out}: it is a folder; give a file name such as {out / default_name}")
        with drawing_without_mathtext():
            figure.savefig(image, format=out.suffix.lstrip(".").lower() or "png", dpi=100, bbox_inches="tight")
    except ValueError as error:  # an image format matplotlib does not know
        raise SimplennError(f"cannot write {out}: {error}") from None
    finally:
        plt.close(figure)
    return write_bytes(out, image.getvalue())


def sample_figure(image, label: str):
    """The post's figure: one image, 4x4 inches, gray, titled `sample of 5` (`sample of Ankle boot`)."""
    figure = plt.figure(figsize=(4, 4))
    plt.title("sample of " + str(label))
    plt.imshow(image, cmap="gray")
    return figure


def show_sample(dataset: str, index: int = 0, out: str | Path | None = None) -> Path | None:
    """Draw training image `index` of `dataset` as the post does; the path written, if any.

    Without `out` it opens a window; without a display either, `SimplennError` asks for a path."""
    from simplenn.datasets import class_names, load_dataset

    (x_train, y_train), _ = load_dataset(dataset)
    if not 0 <= index < len(x_train):
        raise SimplennError(f"--index {index} is out of range; {dataset} has {len(x_train)} training images")
    if out is None and not has_display():
        raise SimplennError(f"there is no display to show the image on; name a file for it, e.g. --out sample-{index}.png")
    figure = sample_figure(x_train[index], class_names(dataset)[int(y_train[index])])
    return _finish(figure, out, f"sample-{index}.png")


def ablation_chart(changes: list[str], accuracies: list[float], out: str | Path | None = None) -> Path | None:
    """One bar per ablation step: test accuracy (fractions in 0-1) after each change, in order."""
    figure, axes = plt.subplots(figsize=(7, 0.45 * len(changes) + 1.2))
    percent = [100 * a for a in accuracies]
    rows = range(len(changes))
    axes.barh(rows, percent, color="tab:blue")
    for row, value in zip(rows, percent):
        axes.text(value + 1, row, f"{value:.1f} %", va="center")
    axes.axvline(10, color="gray", linestyle="--", linewidth=1, label="chance (10 classes)")
    axes.set_yticks(list(rows), changes)
    axes.invert_yaxis()  # the post on top, each change below the one it builds on
    axes.set_xlim(0, 110)
    axes.set_xlabel("test accuracy (%)")
    axes.set_title("From the post to the fixed network, one change at a time")
    axes.legend(loc="upper right")
    return _finish(figure, out, "ablation.png")


SWEEP_AXES = {  # the sweep's axes: their x label, and whether their values double from one to the next
    "width": ("hidden width w  ({n0}-w-30-10, batch 128)", True),
    "depth": ("hidden layers d  ({n0}-100-...-100-10, batch 128)", False),
    "batch_size": ("batch size B  ({n0}-100-30-10)", True),
}
SWEEP_STYLES = {"simplenn": dict(marker="o", linestyle="-", color="tab:blue"),
                "keras fit": dict(marker="s", linestyle="--", color="tab:orange")}


def sweep_chart(sweep: dict, out: str | Path | None = None) -> Path | None:
    """`simplenn bench --sweep`'s figure: per axis, samples/s against the FLOP bound (top) and
    the share of the bound each system reaches (bottom)."""
    figure, grid = plt.subplots(2, len(SWEEP_AXES), figsize=(14, 8), sharey="row", squeeze=False)
    for column, (axis, (label, doubling)) in enumerate(SWEEP_AXES.items()):
        points = [point for point in sweep["points"] if point["axis"] == axis]
        speed, share = grid[0, column], grid[1, column]
        values = [point["value"] for point in points]
        speed.plot(values, [point["flop_bound_samples_per_s"] for point in points], color="black",
                   linestyle=":", label="FLOP bound (matmuls of these shapes)")
        for name, style in SWEEP_STYLES.items():
            measured = [(point["value"], point["systems"][name]) for point in points if name in point["systems"]]
            if measured:
                x = [value for value, _ in measured]
                speed.plot(x, [system["samples_per_s"] for _, system in measured], label=name, **style)
                share.plot(x, [100 * system["fraction_of_flop_bound"] for _, system in measured], label=name, **style)
        speed.set_yscale("log")
        share.set_ylim(0, 100)
        share.set_xlabel(label.format(n0=points[0]["layers"][0]))
        for axes in (speed, share):
            if doubling:
                axes.set_xscale("log", base=2)
                axes.minorticks_off()  # only the measured values are ticked
            axes.set_xticks(values, [str(value) for value in values])
            axes.grid(True, alpha=0.3)
    grid[0, 0].set_ylabel("samples/s (log scale)")
    grid[1, 0].set_ylabel("% of the FLOP bound")
    grid[0, 0].legend(loc="lower left", fontsize=9)
    figure.suptitle(f"Training speed as the network grows: {sweep['dataset']}, {sweep['n_train']:,} images, "
                    f"{sweep['epochs']} epochs, Adam, epoch 1 left out")
    figure.tight_layout()
    return _finish(figure, out, "sweep.png")
