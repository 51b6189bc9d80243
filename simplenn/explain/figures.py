"""Figures of one trained run: how it learned, what it gets wrong, what its first layer learned.

    run = load_run(RUN_DIR)
    evaluation = run.evaluate()
    learning_curves(run.history)                 # each function returns a matplotlib Figure
    plot_run(run, evaluation)                    # all of them, as PNGs in RUN_DIR/figures/

`simplenn plot RUN` writes them; `simplenn report RUN` embeds them in one HTML page.
Images are drawn as the post draws them (`cmap="gray"`); weights with a diverging colour
map centred at zero, red for positive and blue for negative.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from simplenn.errors import SimplennError
from simplenn.machine.file_safety import check_output
from simplenn.explain.plots import _finish, plt, sample_figure

WEIGHT_TILES = 100  # hidden units drawn as images, at most
MISTAKES = 24  # most confident mistakes shown
SAMPLES_PER_CLASS = 10
ACTIVATION_SAMPLE = 1000  # test images whose activations are histogrammed
DPI = 100
TRAIN_COLOUR, VALIDATION_COLOUR, LR_COLOUR = "tab:blue", "tab:orange", "tab:gray"


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


def plot_run(run, evaluation=None, out_dir: str | Path | None = None, force: bool = True) -> dict[str, Path]:
    """Write every figure of `run` as PNG into `out_dir` (default RUN_DIR/figures); {stem: path}.

    force: False refuses (`SimplennError`), before any is written, a figure that would replace a file in `out_dir`.
    """
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
        written[stem] = _finish(figure, out_dir / f"{stem}.png", f"{stem}.png")
    return written
