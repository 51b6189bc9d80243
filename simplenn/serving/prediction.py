"""A trained run on the user's own images: the top classes, and the image the network saw.

    run = load_run("runs/fixed-digits")
    for prediction in predict_images(run, ["seven.jpg", "photos/"]):
        print(prediction.source, prediction.top(3))

Every image goes through `preprocessing.preprocess` with the recipe its run recorded
(`run.contract.recipe`), the same function `simplenn serve` uses, so a photo and a
drawing reach the network as its training images did.

A table of images (a CSV such as Kaggle's unlabelled `test.csv`, or a `.npy`) is
predicted row by row (`predict_table`): those rows are already the run's input, so they
skip `preprocess`; `write_submission` writes them in Kaggle's format `ImageId,Label`.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from simplenn.datasets.image_folder import IMAGE_SUFFIXES  # what a folder given to `predict` is searched for
from simplenn.errors import SimplennError
from simplenn.machine.file_safety import check_input, check_output, unique_names, write_bytes, write_text
from simplenn.images.preprocessing import preprocess, read_photo, style_of
from simplenn.machine.safe_text import spreadsheet_cell, terminal_text

VIEW_HEIGHT = 280  # pixels of each half of a --save-input picture: 10x a 28x28 input


@dataclass
class Prediction:
    """One image's scores: `probabilities (K,)` for the run's `class_names`, and `seen (h, w)` uint8."""

    source: str
    seen: np.ndarray
    probabilities: np.ndarray
    class_names: list[str]

    def top(self, k: int) -> list[tuple[str, float]]:
        """The `k` likeliest classes, likeliest first, as `(name, score)`."""
        order = np.argsort(-self.probabilities, kind="stable")[:k]
        return [(self.class_names[i], float(self.probabilities[i])) for i in order]


def image_files(paths: list[str | Path]) -> list[Path]:
    """The images named, with each folder replaced by its image files in name order."""
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not found:
                raise SimplennError(f"{path} holds no images ({', '.join(IMAGE_SUFFIXES)}); give image files or a folder of them")
            files += found
        elif path.exists():
            files.append(check_input(path))  # a FIFO or a device would block the read
        else:
            raise SimplennError(f"{path} does not exist; give image files or folders of them")
    return files


def predict_images(run, paths: list[str | Path], invert: bool | None = None,
                   recipe: str | None = None) -> list[Prediction]:
    """A `Prediction` for each image under `paths` (files or folders), in order, made into
    inputs by the run's recorded recipe, or by `recipe` when the user names one."""
    style = style_of(run, recipe)
    files = image_files(paths)
    seen = np.stack([preprocess(path, style, invert) for path in files])  # (n, h, w); the recipe's own reader
    probabilities = run.predict_proba(seen)  # (n, K)
    return [Prediction(str(path), view, p, run.class_names) for path, view, p in zip(files, seen, probabilities)]


def format_predictions(predictions: list[Prediction], top_k: int) -> str:
    """One line per image: `seven.jpg  7 98.1 %  1 0.9 %  9 0.4 %`; names shown with control characters escaped."""
    sources = [terminal_text(p.source) for p in predictions]
    width = max(map(len, sources))
    lines = []
    for source, prediction in zip(sources, predictions):
        classes = "  ".join(f"{terminal_text(name)} {100 * score:5.1f} %" for name, score in prediction.top(top_k))
        lines.append(f"{source:<{width}}  {classes}")
    return "\n".join(lines)


def predictions_json(predictions: list[Prediction], top_k: int) -> str:
    """The predictions as a JSON list of `{"image", "top": [{"class", "score"}], "probabilities"}`."""
    return json.dumps(
        [
            {
                "image": p.source,
                "top": [{"class": name, "score": round(score, 6)} for name, score in p.top(top_k)],
                "probabilities": [round(float(score), 6) for score in p.probabilities],
            }
            for p in predictions
        ],
        indent=2,
    )


def save_input_paths(sources: list[str | Path], out_dir: str | Path) -> list[Path]:
    """Where `save_inputs` writes each image's picture: `out_dir/<name>.seen.png`, made unique (x.png, x-2.png)."""
    names = unique_names([f"{Path(source).name}.seen.png" for source in sources])
    return [Path(out_dir) / name for name in names]


def check_save_inputs(paths: list[str | Path], out_dir: str | Path, force: bool = False) -> None:
    """Refuse, before any work, a `--save-input` folder whose pictures would replace a link, a special file or,
    without `force`, a file that exists."""
    out_dir = Path(out_dir)
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise SimplennError(f"--save-input {out_dir} is not a folder; give a new or existing folder")
    if out_dir.is_dir():
        for path in save_input_paths(image_files(paths), out_dir):
            check_output(path, force=force)


def save_inputs(predictions: list[Prediction], out_dir: str | Path, force: bool = False) -> list[Path]:
    """For each image, `out_dir/<name>.seen.png`: the original beside the network's view.

    Two images of the same name (a/x.png, b/x.png) get x.png.seen.png and x-2.png.seen.png;
    an existing file is replaced only with `force`, a link or special file never.
    """
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SimplennError(f"cannot create {out_dir}: {error.strerror or error}") from None
    paths = save_input_paths([p.source for p in predictions], out_dir)
    for path in paths:
        check_output(path, force=force)
    for prediction, path in zip(predictions, paths):
        picture = side_by_side(read_photo(prediction.source), prediction.seen)
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        write_bytes(path, buffer.getvalue())
    return paths


def side_by_side(original: Image.Image, seen: np.ndarray) -> Image.Image:
    """`original` and the network's view `seen (h, w)` enlarged with square pixels, on one strip."""
    scale = VIEW_HEIGHT / original.height
    left = original.resize((max(1, round(original.width * scale)), VIEW_HEIGHT), Image.Resampling.LANCZOS)
    h, w = seen.shape
    right = Image.fromarray(seen).resize((round(w * VIEW_HEIGHT / h), VIEW_HEIGHT), Image.Resampling.NEAREST)
    gap = 10
    strip = Image.new("RGB", (left.width + gap + right.width, VIEW_HEIGHT), (128, 128, 128))
    strip.paste(left, (0, 0))
    strip.paste(right.convert("RGB"), (left.width + gap, 0))
    return strip


def is_image_table(path: str | Path) -> bool:
    """Whether `path` is a table of images (a CSV or a .npy) rather than an image or a folder."""
    return Path(path).suffix.lower() in (".csv", ".npy") and Path(path).is_file()


def predict_table(run, images_path: str | Path) -> list[Prediction]:
    """A `Prediction` for each row of a CSV or `.npy` of the run's inputs (source "FILE row i")."""
    from simplenn.datasets import load_images

    images = load_images(images_path, image_size=run.config.image_size, n_pixels=run.contract.n_features)  # (n, h, w)
    probabilities = run.predict_proba(images)  # (n, K); the run's contract checks the rows
    seen = images.reshape(len(images), *run.image_shape)
    return [Prediction(f"{images_path} row {i}", np.asarray(view), p, run.class_names)
            for i, (view, p) in enumerate(zip(seen, probabilities), start=1)]


def write_submission(predictions: list[Prediction], out: str | Path) -> Path:
    """`out` in Kaggle's submission format: `ImageId,Label`, one row per prediction, from 1."""
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["ImageId", "Label"])
    writer.writerows((i, spreadsheet_cell(p.top(1)[0][0])) for i, p in enumerate(predictions, start=1))
    return write_text(out, table.getvalue())
