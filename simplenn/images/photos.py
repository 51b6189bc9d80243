"""Images as a user would give them, made from known ones: to measure `preprocess`.

    photo = photograph(x_test[0], np.random.default_rng(0))    # a PIL RGB image
    digit = draw_digit("7", size=200, thickness=12)            # a pen stroke on white paper

`photograph` turns a dataset image into a phone photo of it printed on paper: dark ink on
off-white paper, enlarged, placed off-centre on a larger sheet, with paper grain and JPEG
compression. `draw_digit` renders a digit from pen strokes. Both are deterministic for a
given random generator, so a benchmark and a test measure the same images.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from simplenn.images.preprocessing import preprocess, style_of

PAPER_LEVEL = 232  # grey level of white paper under room light
INK_LEVEL = 40  # of a black pen on it
PAPER_GRAIN = 6.0  # standard deviation of the paper's noise, in grey levels
JPEG_QUALITY = 80


def photograph(image: np.ndarray, rng: np.random.Generator, *, enlarge=(4, 12), sheet=2.5,
               grain: float = PAPER_GRAIN, jpeg_quality: int = JPEG_QUALITY) -> Image.Image:
    """A photo of `image` (uint8 `(h, w)`, bright ink on black) printed dark on paper.

    enlarge: the range of the enlargement factor, drawn per photo; sheet: the paper's
    size as a multiple of the enlarged image, which sits at a random place on it.
    """
    height, width = image.shape
    factor = int(rng.integers(enlarge[0], enlarge[1] + 1))
    ink = image.astype(np.float64) / 255.0  # (h, w) 0-1
    printed = PAPER_LEVEL - ink * (PAPER_LEVEL - INK_LEVEL)  # dark ink on light paper
    big = Image.fromarray(printed.astype(np.float32), mode="F").resize(
        (width * factor, height * factor), Image.Resampling.BICUBIC
    )
    sheet_h, sheet_w = round(height * factor * sheet), round(width * factor * sheet)
    paper = np.full((sheet_h, sheet_w), float(PAPER_LEVEL))
    top = int(rng.integers(0, sheet_h - big.height + 1))
    left = int(rng.integers(0, sheet_w - big.width + 1))
    paper[top:top + big.height, left:left + big.width] = np.asarray(big)
    paper += rng.normal(0.0, grain, paper.shape)
    gray = Image.fromarray(np.clip(np.round(paper), 0, 255).astype(np.uint8), mode="L")
    return jpeg_round_trip(gray.convert("RGB"), jpeg_quality)


def jpeg_round_trip(image: Image.Image, quality: int) -> Image.Image:
    """`image` after saving it as a JPEG of `quality` and reading it back."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


# Pen strokes of each digit on a unit square (x right, y down), as a hand draws them.
DIGIT_STROKES = {
    "0": [[(0.5, 0.05), (0.2, 0.2), (0.15, 0.5), (0.2, 0.8), (0.5, 0.95), (0.8, 0.8), (0.85, 0.5),
           (0.8, 0.2), (0.5, 0.05)]],
    "1": [[(0.35, 0.2), (0.55, 0.05), (0.55, 0.95)]],
    "2": [[(0.2, 0.25), (0.4, 0.07), (0.65, 0.07), (0.8, 0.25), (0.75, 0.45), (0.2, 0.95), (0.85, 0.95)]],
    "3": [[(0.2, 0.1), (0.75, 0.1), (0.45, 0.45), (0.75, 0.6), (0.75, 0.85), (0.5, 0.95), (0.2, 0.85)]],
    "4": [[(0.65, 0.95), (0.65, 0.05), (0.15, 0.65), (0.85, 0.65)]],
    "5": [[(0.8, 0.05), (0.25, 0.05), (0.2, 0.45), (0.6, 0.4), (0.8, 0.6), (0.75, 0.85), (0.5, 0.95),
           (0.2, 0.88)]],
    "6": [[(0.7, 0.05), (0.35, 0.35), (0.2, 0.7), (0.35, 0.93), (0.65, 0.93), (0.78, 0.7), (0.6, 0.5),
           (0.3, 0.6)]],
    "7": [[(0.15, 0.05), (0.85, 0.05), (0.4, 0.95)]],
    "8": [[(0.5, 0.5), (0.25, 0.3), (0.5, 0.05), (0.75, 0.3), (0.5, 0.5), (0.2, 0.72), (0.5, 0.95),
           (0.8, 0.72), (0.5, 0.5)]],
    "9": [[(0.75, 0.35), (0.5, 0.5), (0.25, 0.35), (0.5, 0.05), (0.75, 0.3), (0.7, 0.95)]],
}


def draw_digit(digit: str, size: int = 200, thickness: int = 14, *, box=(0.25, 0.15, 0.5, 0.7),
               ink: int = 0, paper: int = 255) -> Image.Image:
    """A grey `size` x `size` image of `digit` drawn with a round pen of `thickness` pixels.

    box: `(left, top, width, height)` of the digit as fractions of the image.
    """
    image = Image.new("L", (size, size), paper)
    pen = ImageDraw.Draw(image)
    left, top, box_w, box_h = (value * size for value in box)
    for stroke in DIGIT_STROKES[digit]:
        points = [(left + x * box_w, top + y * box_h) for x, y in stroke]
        pen.line(points, fill=ink, width=thickness, joint="curve")
        for x, y in (points[0], points[-1]):  # round pen ends
            r = thickness / 2
            pen.ellipse((x - r, y - r, x + r, y + r), fill=ink)
    return image


def preprocessing_check(run, images: np.ndarray, labels: np.ndarray, seed: int = 0) -> dict:
    """A `LoadedRun`'s accuracy on dataset images, on `preprocess` of them, and on photos of them.

    images uint8 `(n, h, w)` from the run's dataset, labels `(n,)`. Returns the three
    accuracies (0-1) and `photo_drop`, originals minus photos, in percentage points.
    """
    style = style_of(run)
    rng = np.random.default_rng(seed)
    again = np.stack([preprocess(Image.fromarray(image), style) for image in images])  # (n, h, w)
    photos = np.stack([preprocess(photograph(image, rng), style) for image in images])  # (n, h, w)
    accuracies = {
        name: float((run.predict(x) == labels).mean())
        for name, x in (("originals", images), ("preprocessed_originals", again), ("photos", photos))
    }
    return {**accuracies, "n": len(images), "photo_drop": 100 * (accuracies["originals"] - accuracies["photos"])}


def drawn_digits_accuracy(run, seed: int = 0, per_digit: int = 10) -> float:
    """A `LoadedRun`'s accuracy on `draw_digit` renders of 0-9 at random sizes, places and pens."""
    style = style_of(run)
    rng = np.random.default_rng(seed)
    digits, seen = [], []
    for digit in DIGIT_STROKES:
        for _ in range(per_digit):
            size = int(rng.integers(120, 600))
            height = rng.uniform(0.3, 0.8)
            width = height * rng.uniform(0.5, 0.8)
            box = (rng.uniform(0, 1 - width), rng.uniform(0, 1 - height), width, height)
            thickness = max(2, round(size * height * rng.uniform(0.06, 0.14)))
            drawn = draw_digit(digit, size, thickness, box=box)
            seen.append(preprocess(jpeg_round_trip(drawn.convert("RGB"), JPEG_QUALITY), style))
            digits.append(int(digit))
    return float((run.predict(np.stack(seen)) == np.array(digits)).mean())
