"""Every figure simplenn draws, and the one way a figure is saved or shown (`save_or_show`).

    run = load_run(RUN_DIR)
    evaluation = run.evaluate()
    learning_curves(run.history)                 # each function returns a matplotlib Figure
    plot_run(run, evaluation)                    # all of them, as PNGs in RUN_DIR/figures/

The post's sample image (`simplenn show`); a trained run's figures: how it learned, what it
gets wrong, what its first layer learned (`simplenn plot RUN` writes them, `simplenn report
RUN` embeds them in one HTML page); the ablation chart (`simplenn ablate --out`) and the
bench sweep's figure. A new figure is a function here that returns a Figure.

A function that draws and saves writes a PNG when given a path and returns the path it
wrote; otherwise it opens a window as the post's `plt.show()` does. Matplotlib chooses its
own backend: a window on macOS, Windows or a Linux desktop, the notebook's inline figures in
Jupyter, and Agg (files only) on a machine without a display, where a figure with no path is
not drawn: a file is written only where the user names one.
Images are drawn as the post draws them (`cmap="gray"`); weights with a diverging colour
map centred at zero, red for positive and blue for negative.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from simplenn.errors import SimplennError
from simplenn.machine.file_safety import check_output, write_bytes
from simplenn.machine.safe_text import drawing_without_mathtext, plain_figure_text

WEIGHT_TILES = 100  # hidden units drawn as images, at most
MISTAKES = 24  # most confident mistakes shown
SAMPLES_PER_CLASS = 10
ACTIVATION_SAMPLE = 1000  # test images whose activations are histogrammed
DPI = 100
TRAIN_COLOUR, VALIDATION_COLOUR, LR_COLOUR = "tab:blue", "tab:orange", "tab:gray"


def draw_into_files_only() -> None:
    """Draw with Agg from now on, for a command that only writes files: no window, no GUI start-up."""
    plt.switch_backend("Agg")


def figure_bytes(figure, format: str = "png") -> bytes:
    """`figure` drawn in memory as a `format` image ("png", "svg", ...); the figure is closed."""
    plain_figure_text(figure)  # class and run names are data: a `$` in one is not mathtext
    image = io.BytesIO()
    try:
        with drawing_without_mathtext():
            figure.savefig(image, format=format, dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(figure)
    return image.getvalue()


def has_display() -> bool:
    """Whether a figure without a path can be shown: matplotlib's backend is not Agg (files only)."""
    return matplotlib.get_backend().lower() != "agg"


def save_or_show(figure, out: str | Path | None, default_name: str) -> Path | None:
    """Save `figure` to `out`, else show it; with neither a path nor a display, nothing (None)."""
    if out is None and not has_display():
        plt.close(figure)
        return None
    if out is None:
        plain_figure_text(figure)
        with drawing_without_mathtext():
            plt.show()
        return None
    out = Path(out)
    if out.is_dir():  # matplotlib would quietly write `out`.png next to it
        plt.close(figure)
        raise SimplennError(f"cannot write {out}: it is a folder; give a file name such as {out / default_name}")
    try:
        image = figure_bytes(figure, out.suffix.lstrip(".").lower() or "png")
    except ValueError as error:  # an image format matplotlib does not know
        raise SimplennError(f"cannot write {out}: {error}") from None
    return write_bytes(out, image)  # drawn in memory, then written atomically: a full disk leaves no half figure


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
    return save_or_show(figure, out, f"sample-{index}.png")


def learning_curves(history, title: str | None = None):
    """Loss and accuracy per epoch, training and validation, with the learning rate on a second axis.

    history: `EpochRecord`s (`LoadedRun.history`), accuracies in 0-1.
    """
    epochs = [r.epoch for r in history]
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    loss_axes.plot(epochs, [r.loss for r in history], "o-", color=TRAIN_COLOUR, label="training loss")
    accuracy_axes.plot(epochs, [100 * r.accuracy for r in history], "o-", color=TRAIN_COLOUR, label="training")
    if any(r.val_loss is not None for r in history):
        loss_axes.plot(epochs, [r.val_loss for r in history], "s-", color=VALIDATION_COLOUR, label="validation loss")
        accuracy_axes.plot(epochs, [None if r.val_accuracy is None else 100 * r.val_accuracy for r in history],
                           "s-", color=VALIDATION_COLOUR, label="validation")
    loss_axes.set(xlabel="epoch", ylabel="loss per image", title="Loss")
    accuracy_axes.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    lr_axes = loss_axes.twinx()  # the learning rate on the loss panel's second axis
    lr_axes.plot(epochs, [r.lr for r in history], ":", color=LR_COLOUR, label="learning rate (right axis)")
    lr_axes.set_ylabel("learning rate", color=LR_COLOUR)
    lr_axes.tick_params(axis="y", colors=LR_COLOUR)
    lr_axes.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    handles = loss_axes.get_legend_handles_labels()[0] + lr_axes.get_legend_handles_labels()[0]
    loss_axes.legend(handles=handles, loc="upper right", fontsize="small")
    accuracy_axes.legend(loc="lower right", fontsize="small")
    for axes in (loss_axes, accuracy_axes):
        axes.grid(alpha=0.3)
        axes.xaxis.get_major_locator().set_params(integer=True)
    if title:
        figure.suptitle(title)
    return figure


def confusion_figure(evaluation):
    """The confusion matrix with each row divided by its class's size: the diagonal is each class's recall."""
    matrix = np.array(evaluation.confusion_matrix, dtype=np.float64)  # (K, K) [true, predicted]
    normalised = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    names = evaluation.class_names
    K = len(names)
    figure, axes = plt.subplots(figsize=(1.0 + 0.62 * K, 0.8 + 0.55 * K), layout="constrained")
    image = axes.imshow(100 * normalised, cmap="Blues", vmin=0, vmax=100)
    for true in range(K):
        for predicted in range(K):
            value = 100 * normalised[true, predicted]
            if value >= 0.5:
                axes.text(predicted, true, f"{value:.0f}", ha="center", va="center", fontsize=8,
                          color="white" if value > 60 else "black")
    axes.set_xticks(range(K), names, rotation=45, ha="right")
    axes.set_yticks(range(K), names)
    axes.set(xlabel="predicted class", ylabel="true class",
             title=f"Confusion matrix, % of each true class ({evaluation.size:,} test images)")
    figure.colorbar(image, ax=axes, shrink=0.8, label="% of the true class")
    return figure


def mistakes_figure(evaluation, n: int = MISTAKES):
    """The `n` mistakes the network was surest of: image, true class, predicted class and its score."""
    wrong = np.flatnonzero(evaluation.predicted != evaluation.labels)
    order = wrong[np.argsort(-evaluation.confidence[wrong], kind="stable")][:n]
    columns = 8
    rows = max(1, math.ceil(len(order) / columns))
    figure, grid = plt.subplots(rows, columns, figsize=(1.45 * columns, 1.75 * rows + 0.4), squeeze=False,
                                layout="constrained")
    names = evaluation.class_names
    for axes in grid.flat:
        axes.axis("off")
    for axes, i in zip(grid.flat, order):
        axes.imshow(evaluation.images[i], cmap="gray")
        axes.set_title(f"true {names[evaluation.labels[i]]}\npred {names[evaluation.predicted[i]]}\n"
                       f"{100 * evaluation.confidence[i]:.0f} %", fontsize=7.5)
    if len(order) == 0:
        grid[0, 0].text(0, 0.5, "no mistakes", fontsize=12)
    figure.suptitle(f"The {len(order)} most confident mistakes of {len(wrong):,}")
    return figure


def mosaic(tiles: np.ndarray, columns: int, gap: float = np.nan) -> np.ndarray:
    """Tiles `(n, h, w)` laid out in rows of `columns`, separated by a 1-pixel `gap`: `(rows*(h+1)-1, ...)`."""
    n, h, w = tiles.shape
    rows = math.ceil(n / columns)
    canvas = np.full((rows * (h + 1) - 1, columns * (w + 1) - 1), gap, dtype=np.float64)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        canvas[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = tile
    return canvas


def samples_figure(images, labels, class_names: list[str], per_class: int = SAMPLES_PER_CLASS):
    """The first `per_class` images of each class, one row per class."""
    labels = np.asarray(labels)
    rows = []
    for k in range(len(class_names)):
        chosen = np.flatnonzero(labels == k)[:per_class]
        row = np.zeros((per_class, *images.shape[1:]))
        row[: len(chosen)] = images[chosen]
        rows.append(row)
    h = images.shape[1]
    canvas = mosaic(np.concatenate(rows), per_class, gap=255.0)
    figure, axes = plt.subplots(figsize=(0.55 * per_class + 1.6, 0.55 * len(class_names) + 0.6), layout="constrained")
    axes.imshow(canvas, cmap="gray", vmin=0, vmax=255)
    axes.set_yticks([k * (h + 1) + (h - 1) / 2 for k in range(len(class_names))], class_names)
    axes.set_xticks([])
    axes.tick_params(length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)
    axes.set_title(f"{per_class} test images per class")
    return figure


def first_layer_figure(W1, image_shape: tuple[int, int], max_units: int = WEIGHT_TILES):
    """The first layer's weights `W1 (h*w, n1)`, one image per hidden unit: what each unit looks for.

    Each tile is scaled by its own largest |w| and centred at zero (red +, blue -, white 0),
    so every unit's pattern shows whatever its size.
    """
    W1 = np.asarray(W1, dtype=np.float64)
    n_units = W1.shape[1]
    shown = min(n_units, max_units)
    tiles = W1[:, :shown].T.reshape(shown, *image_shape)  # (units, h, w)
    tiles = tiles / np.maximum(np.abs(tiles).max(axis=(1, 2), keepdims=True), 1e-12)
    columns = min(shown, 10 if shown <= 100 else 16)
    canvas = mosaic(tiles, columns)
    figure, axes = plt.subplots(figsize=(min(10, 0.9 * columns + 1.2), 0.9 * math.ceil(shown / columns) + 0.8),
                                layout="constrained")
    image = axes.imshow(np.ma.masked_invalid(canvas), cmap="RdBu_r", vmin=-1, vmax=1)
    axes.set_facecolor("white")
    axes.axis("off")
    label = f"all {n_units}" if shown == n_units else f"the first {shown} of {n_units}"
    axes.set_title(f"First-layer weights W1: {label} hidden units, each {image_shape[0]}x{image_shape[1]}")
    figure.colorbar(image, ax=axes, shrink=0.6, label="w / max |w| of the unit")
    return figure


def hidden_activations(network, X) -> list[np.ndarray]:
    """Outputs `A_l (n, n_l)` of every hidden layer for inputs `X (n, n0)`, without dropout."""
    return [A.numpy() for A in network.forward_pass(X).A[1:]]


def dead_fraction(A: np.ndarray) -> float:
    """Units that output 0 for every image, as `diagnose` counts them."""
    return float(np.mean(np.all(A == 0, axis=0)))


def activations_figure(network, X):
    """A histogram of each hidden layer's outputs on images `X (n, n0)`, with its dead units."""
    layers = hidden_activations(network, X)
    figure, grid = plt.subplots(1, max(1, len(layers)), figsize=(4.2 * max(1, len(layers)), 3.2), squeeze=False,
                                layout="constrained")
    for l, (axes, A) in enumerate(zip(grid.flat, layers), start=1):
        axes.hist(A.ravel(), bins=60, color="tab:green", log=True)
        title = f"layer {l}: {A.shape[1]} {network.activation} units"
        if network.activation == "relu":
            title += f"\n{100 * dead_fraction(A):.0f} % dead, {100 * np.mean(A == 0):.0f} % of outputs are 0"
        axes.set(title=title, xlabel="activation", ylabel="count (log)")
        axes.grid(alpha=0.3)
    if not layers:
        grid[0, 0].text(0.5, 0.5, "no hidden layer", ha="center")
        grid[0, 0].axis("off")
    figure.suptitle(f"Hidden activations on {len(X):,} test images")
    return figure


def calibration_figure(evaluation):
    """Reliability diagram: accuracy against confidence per bin; the diagonal is a network that means what it says."""
    bins = [b for b in evaluation.calibration if b.count]
    figure, axes = plt.subplots(figsize=(4.6, 4.2), layout="constrained")
    axes.plot([0, 100], [0, 100], "--", color="gray", linewidth=1, label="perfect calibration")
    width = 100 * (evaluation.calibration[0].upper - evaluation.calibration[0].lower)
    axes.bar([100 * b.lower for b in bins], [100 * b.accuracy for b in bins], width=width, align="edge",
             color="tab:blue", alpha=0.75, edgecolor="white", label="accuracy in bin")
    axes.plot([100 * b.confidence for b in bins], [100 * b.accuracy for b in bins], "o", color="tab:red",
              markersize=3, label="bin's mean confidence")
    axes.set(xlim=(0, 100), ylim=(0, 100), xlabel="confidence (%)", ylabel="accuracy (%)",
             title=f"Calibration: ECE {100 * evaluation.expected_calibration_error:.1f} %")
    axes.legend(loc="upper left", fontsize="small")
    return figure


def compare_figure(histories: list, names: list[str]):
    """Learning curves of several runs in one figure: validation (dashed) where they have it."""
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    for k, (history, name) in enumerate(zip(histories, names)):
        colour = f"C{k % 10}"
        epochs = [r.epoch for r in history]
        loss_axes.plot(epochs, [r.loss for r in history], "-", color=colour, label=name)
        accuracy_axes.plot(epochs, [100 * r.accuracy for r in history], "-", color=colour, label=name)
        if any(r.val_accuracy is not None for r in history):
            loss_axes.plot(epochs, [r.val_loss for r in history], "--", color=colour)
            accuracy_axes.plot(epochs, [None if r.val_accuracy is None else 100 * r.val_accuracy for r in history],
                               "--", color=colour)
    loss_axes.set(xlabel="epoch", ylabel="training loss per image", title="Loss (dashed: validation)")
    accuracy_axes.set(xlabel="epoch", ylabel="training accuracy (%)", title="Accuracy (dashed: validation)")
    for axes in (loss_axes, accuracy_axes):
        axes.grid(alpha=0.3)
        axes.xaxis.get_major_locator().set_params(integer=True)
    accuracy_axes.legend(loc="lower right", fontsize="small")
    return figure


def run_figures(run, evaluation) -> dict:
    """Every figure of a run, by file stem: {"learning_curves": Figure, ...}."""
    sample = slice(0, ACTIVATION_SAMPLE)
    return {
        "learning_curves": learning_curves(run.history),
        "confusion_matrix": confusion_figure(evaluation),
        "mistakes": mistakes_figure(evaluation),
        "calibration": calibration_figure(evaluation),
        "samples": samples_figure(evaluation.images, evaluation.labels, evaluation.class_names),
        "first_layer_weights": first_layer_figure(run.network.weights[0].numpy(), run.image_shape),
        "activations": activations_figure(run.network, run.inputs(evaluation.images[sample])),
        "sample": sample_figure(evaluation.images[0], evaluation.class_names[evaluation.labels[0]]),
    }


def plot_run(run, evaluation=None, out_dir: str | Path | None = None, force: bool = False) -> dict[str, Path]:
    """Write every figure of `run` as PNG into `out_dir` (default RUN_DIR/figures); {stem: path}.

    force: False refuses (`SimplennError`), before any is written, a figure that would replace a file in
    `out_dir`; the run's own figures folder, the default, is always brought up to date.
    """
    force = force or out_dir is None
    evaluation = evaluation or run.evaluate()
    out_dir = Path(out_dir) if out_dir is not None else run.run_dir / "figures"
    figures = run_figures(run, evaluation)
    try:
        for stem in figures:
            check_output(out_dir / f"{stem}.png", force=force)
    except SimplennError:
        for figure in figures.values():
            plt.close(figure)
        raise
    written = {}
    for stem, figure in figures.items():
        written[stem] = save_or_show(figure, out_dir / f"{stem}.png", f"{stem}.png")
    return written


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
    return save_or_show(figure, out, "ablation.png")


SWEEP_AXES = {  # the sweep's axes: their x label, and whether their values double from one to the next
    "width": ("hidden width w  ({n0}-w-30-10, batch 128)", True),
    "depth": ("hidden layers d  ({n0}-100-...-100-10, batch 128)", False),
    "batch_size": ("batch size B  ({n0}-100-30-10)", True),
}
SWEEP_STYLES = {"simplenn": dict(marker="o", linestyle="-", color="tab:blue"),
                "keras fit": dict(marker="s", linestyle="--", color="tab:orange")}


def sweep_chart(sweep: dict, out: str | Path | None = None) -> Path | None:
    """`simplenn bench sweep`'s figure: per axis, samples/s against the FLOP bound (top) and
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
    return save_or_show(figure, out, "sweep.png")
