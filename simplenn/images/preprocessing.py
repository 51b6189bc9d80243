"""Turn any image a user has into the input a dataset's network was trained on.

    style = input_style("mnist", (28, 28))
    x = preprocess("my_seven.jpg", style)      # uint8 (28, 28), white ink on black, 0-255

`predict`, `serve` and the tests all go through `preprocess`, so the network sees a
photo or a drawing the way it saw its training images. The recipe is the one the run
recorded in its input contract (`contract.py`), never guessed from the dataset's name.
Every file is opened by one function (`datasets.image_folder.open_image`), and each
recipe has one reader: a run trained on files given by path ("resize") reads a user's
image with the very function that read its training images (`image_folder.read_image`:
grey, then resized); the photo recipes start from `read_photo` (upright, opaque). Two
recipes for the catalogue's photos of digits and clothes, each from its dataset's own
description:

MNIST (and the 8x8 `digits`, and KMNIST), after LeCun, Cortes and Burges, "The MNIST
database" (http://yann.lecun.com/exdb/mnist/): "The original black and white (bilevel)
images from NIST were size normalized to fit in a 20x20 pixel box while preserving
their aspect ratio. The resulting images contain grey levels as a result of the
anti-aliasing technique used by the normalization algorithm. the images were centered in
a 28x28 image by computing the center of mass of the pixels, and translating the image
so as to position this point at the center of the 28x28 field." Before that, a photo
needs what the scanner and NIST's segmentation gave MNIST: one grey channel, white ink
on black, and no paper texture.

Fashion-MNIST, after Xiao, Rasul and Vollgraf, the "Get the Data" section of
https://github.com/zalandoresearch/fashion-mnist (README): trim the edges close to the
corner colour (5 % of the largest RGB distance), resize the longest edge to 28 by
subsampling, sharpen, extend the shortest edge to 28 with the image centred, negate,
convert to 8-bit grey.

Pixels are float in [0, 1] inside the pipeline (1 = full ink) and uint8 0-255 at the
end, as `load_dataset` gives them; the network's own scaling is `LoadedRun`'s business.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps
from scipy import ndimage

from simplenn.datasets.image_folder import open_image, read_image
from simplenn.errors import SimplennError

# LeCun's MNIST page: the digit fits a 20x20 box inside the 28x28 field.
MNIST_BOX_FRACTION = 20 / 28
# scikit-learn's 8x8 digits come from NIST's normalisation programs (UCI optdigits.names),
# which did otherwise: every one of the 1,347 training digits is 8 pixels tall (it fills
# the frame), and 1,030 have their bounding box exactly at the centre (the rest half a
# pixel off, as their width's parity forces), while their centres of mass scatter.
FULL_FRAME = 1.0
BOX_FRACTIONS = {"digits": FULL_FRAME}  # every other MNIST-style dataset: MNIST_BOX_FRACTION
CENTRED_BY = {"digits": "box"}  # every other MNIST-style dataset: "mass"

# A 50-megapixel phone photo is the largest image read; a PNG of zeros that claims more is
# a decompression bomb, refused from its header before any pixel is decoded.
MAX_PIXELS = 50_000_000
# Larger images are first reduced to this longest side: still 50 source pixels per pixel
# of a 20-pixel box, and it keeps a 12-megapixel photo's preprocessing well under a second.
WORKING_SIDE = 1024
READABLE = "give a PNG, JPEG or other file Pillow reads"  # what to do about a file that is no image
FRAME_FRACTION = 0.02  # the outer 2 % of each side (at least one pixel) is taken as paper
NOISE_SIGMAS = 4.0  # paper brighter than its level plus this many noise deviations counts as ink
MIN_INK_CONTRAST = 0.05  # ... and so does nothing within 5 % of the paper-to-ink range
INK_PERCENTILE = 90  # full ink: the level that 10 % of the stroke pixels reach
MIN_CONTRAST_LEVELS = 24  # ink closer than this to the paper (of 255) is no ink at all
SPECK_FRACTION = 0.02  # an ink blob under 2 % of the largest blob's ink is dust, not stroke
FASHION_TRIM_DISTANCE = 0.05  # Fashion-MNIST: "5% of the maximum possible intensity in RGB space"


@dataclass(frozen=True)
class InputStyle:
    """How one dataset's images were made, so that a user's image can be made the same way.

    recipe: "mnist" (size-normalise, centre), "fashion-mnist" (trim, fit, centre) or
    "resize" (grey and resize, as image files given by path are read for training).
    image_shape: the network's `(height, width)`, e.g. (28, 28) or (8, 8).
    box: for "mnist", the longest side of the ink after size normalisation, e.g. 20.
    centred_by: for "mnist", "mass" (MNIST) or "box" (the bounding box, `digits`).
    """

    recipe: str
    image_shape: tuple[int, int]
    box: int
    centred_by: str = "mass"


def input_style(recipe: str, image_shape: tuple[int, int]) -> InputStyle:
    """The recipe a run recorded ("mnist", "digits", "fashion-mnist", "resize"), at its image size.

    A network of another size gets the 28x28 recipe scaled to it: the box stays 20/28 of
    the side. "none" (a run that reads rows of features) has no image recipe.
    """
    height, width = (int(n) for n in image_shape)
    if recipe in ("fashion-mnist", "resize"):
        return InputStyle(recipe, (height, width), max(height, width))
    if recipe not in ("mnist", "digits"):
        raise SimplennError(f"this run reads rows of {height * width} features, not images; give its rows "
                            "as a CSV or a .npy")
    box = max(1, round(min(height, width) * BOX_FRACTIONS.get(recipe, MNIST_BOX_FRACTION)))
    return InputStyle("mnist", (height, width), box, CENTRED_BY.get(recipe, "mass"))


def preprocess(source, style: InputStyle, invert: bool | None = None) -> np.ndarray:
    """The network's view of an image: uint8 `style.image_shape`, bright ink on black, 0-255.

    source: a path, the file's bytes, or a PIL image. invert: whether the ink is dark on
    light paper and must be negated; None decides it from the image (`ink_is_dark`).
    Raises `SimplennError` for a file that is no image, or an image with no ink.
    """
    if style.recipe == "resize":  # exactly the reader training used on its image files; `invert` only when asked
        seen = read_image(source, style.image_shape, max_pixels=MAX_PIXELS, fix=READABLE)
        return 255 - seen if invert else seen
    image = reduce_to_working_size(read_photo(source))
    if style.recipe == "fashion-mnist":
        return fashion_mnist_conversion(image, style.image_shape, invert)
    gray = to_gray(image)  # (H, W) 0-255
    if invert is None:
        invert = ink_is_dark(gray)
    ink = suppress_paper(255.0 - gray if invert else gray)  # (H, W) 0-1, paper at 0
    ink = remove_specks(ink)
    top, bottom, left, right = ink_bounding_box(ink)
    fitted = fit_in_box(ink[top:bottom, left:right], style.box)  # longest side = box
    if style.centred_by == "box":
        placed = place_at_centre(fitted, style.image_shape)  # (h, w)
    else:
        placed = place_by_centre_of_mass(fitted, style.image_shape)
    return to_uint8(placed)


def read_photo(source, name: str | None = None) -> Image.Image:
    """An RGB image, upright and opaque, from a path, bytes or a PIL image: what the photo
    recipes ("mnist", "digits", "fashion-mnist") start from.

    The file is opened as every image is (`datasets.image_folder.open_image`); then EXIF
    orientation is applied (`ImageOps.exif_transpose`), as a phone's viewer shows the photo,
    and transparency is flattened onto white paper, as the image looks on a page.
    """
    image = open_image(source, name, max_pixels=MAX_PIXELS, fix=READABLE)
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    return image.convert("RGB")


def reduce_to_working_size(image: Image.Image) -> Image.Image:
    """`image` with its longest side at most `WORKING_SIDE`, averaged down (box filter)."""
    if max(image.size) <= WORKING_SIDE:
        return image
    reduced = image.copy()
    reduced.thumbnail((WORKING_SIDE, WORKING_SIDE), Image.Resampling.BOX)
    return reduced


def to_gray(image: Image.Image) -> np.ndarray:
    """float64 `(H, W)` luminance 0-255 (ITU-R 601, Pillow's "L")."""
    return np.asarray(image.convert("L"), dtype=np.float64)


def paper_frame(gray: np.ndarray) -> np.ndarray:
    """The pixels of the outer `FRAME_FRACTION` of each side, where a photo shows paper."""
    height, width = gray.shape
    dy, dx = max(1, round(height * FRAME_FRACTION)), max(1, round(width * FRAME_FRACTION))
    inner = np.ones_like(gray, dtype=bool)
    inner[:dy, :] = inner[-dy:, :] = inner[:, :dx] = inner[:, -dx:] = False
    return gray[~inner]


def ink_is_dark(gray: np.ndarray) -> bool:
    """Whether the ink is darker than the paper (a pen on paper) rather than lighter (MNIST).

    The paper's level is the median of the image's frame; ink pulls the image's mean
    away from it towards the ink's side, while noise and JPEG ringing pull both ways.
    """
    return float(gray.mean()) < float(np.median(paper_frame(gray)))


def suppress_paper(ink: np.ndarray) -> np.ndarray:
    """`(H, W)` ink in [0, 1] from bright-on-dark grey levels 0-255, paper at exactly 0.

    The paper's level and its noise come from the frame (median, and 1.4826 x median
    absolute deviation, the Gaussian deviation's robust estimate). Full ink is the level
    the strokes' cores reach (the `INK_PERCENTILE` of the pixels above the noise), so a
    grey pencil line or one dark speck does not set the scale. Grey levels up to
    `NOISE_SIGMAS` deviations above the paper (or `MIN_INK_CONTRAST` of the range) become
    0, full ink 1, and the rest stays in between: MNIST's grey levels carry its
    anti-aliasing, so they are stretched, not thresholded away.
    """
    frame = paper_frame(ink)
    paper = float(np.median(frame))
    noise = 1.4826 * float(np.median(np.abs(frame - paper)))
    strokes = ink[ink > paper + NOISE_SIGMAS * noise]
    peak = float(np.percentile(strokes, INK_PERCENTILE)) if strokes.size else paper
    if peak - paper < MIN_CONTRAST_LEVELS:
        raise SimplennError(
            "found no ink: the image is blank or its strokes are within "
            f"{MIN_CONTRAST_LEVELS} grey levels of the paper; draw or photograph a darker digit"
        )
    floor = paper + max(NOISE_SIGMAS * noise, MIN_INK_CONTRAST * (peak - paper))
    return np.clip((ink - floor) / (peak - floor), 0.0, 1.0)


def remove_specks(ink: np.ndarray) -> np.ndarray:
    """`ink` without the blobs (8-connected) whose ink is under `SPECK_FRACTION` of the largest's."""
    labels, n_blobs = ndimage.label(ink > 0, structure=np.ones((3, 3)))
    if n_blobs <= 1:
        return ink
    masses = ndimage.sum(ink, labels, index=np.arange(1, n_blobs + 1))  # (n_blobs,)
    keep = np.concatenate([[False], masses >= SPECK_FRACTION * masses.max()])  # label 0 is paper
    return np.where(keep[labels], ink, 0.0)


def ink_bounding_box(ink: np.ndarray) -> tuple[int, int, int, int]:
    """`(top, bottom, left, right)`, bottom and right exclusive, of the pixels with ink."""
    rows, columns = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        raise SimplennError("found no ink: the image is blank; draw or photograph a digit")
    return int(rows[0]), int(rows[-1]) + 1, int(columns[0]), int(columns[-1]) + 1


def fit_in_box(ink: np.ndarray, box: int) -> np.ndarray:
    """`ink (h, w)` resized so that its longest side is `box`, aspect ratio kept.

    Shrinking averages each output pixel's area (the box filter), so a thin stroke becomes
    the grey levels of MNIST's anti-aliasing; enlarging interpolates bilinearly.
    """
    height, width = ink.shape
    scale = box / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))  # PIL's (width, height)
    method = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    resized = Image.fromarray(ink.astype(np.float32), mode="F").resize(size, method)
    return np.clip(np.asarray(resized, dtype=np.float64), 0.0, 1.0)


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    """`(row, column)` of the ink's centre of mass, in pixel indices."""
    row, column = ndimage.center_of_mass(image)
    return float(row), float(column)


def place_by_centre_of_mass(fitted: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """`fitted (h', w')` pasted into a black `image_shape` with its centre of mass at the centre.

    As for MNIST, the shift is a whole number of pixels, so the centre of mass lands within
    half a pixel of the field's centre. A digit so lopsided that this would push it out of
    the field is stopped at the edge instead, whole.
    """
    height, width = image_shape
    row, column = centre_of_mass(fitted)
    top = round((height - 1) / 2 - row)
    left = round((width - 1) / 2 - column)
    top = min(max(top, 0), height - fitted.shape[0])
    left = min(max(left, 0), width - fitted.shape[1])
    placed = np.zeros(image_shape)
    placed[top:top + fitted.shape[0], left:left + fitted.shape[1]] = fitted
    return placed


def place_at_centre(fitted: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """`fitted (h', w')` pasted into a black `image_shape` with its bounding box at the centre.

    When the margins cannot be equal, the wider one is on the left and the top, as in most
    of the `digits` whose margins differ (193 of 250) and in Fashion-MNIST (653 of 656 in
    its first 2,000 test images).
    """
    height, width = image_shape
    top, left = (height - fitted.shape[0] + 1) // 2, (width - fitted.shape[1] + 1) // 2
    placed = np.zeros(image_shape)
    placed[top:top + fitted.shape[0], left:left + fitted.shape[1]] = fitted
    return placed


def fashion_mnist_conversion(image: Image.Image, image_shape: tuple[int, int],
                             invert: bool | None = None) -> np.ndarray:
    """Fashion-MNIST's documented conversion of a product photo: uint8 `image_shape`.

    Its steps, in the README's order: trim the edges close to the background colour,
    resize the longest edge to 28, (sharpen,) extend the shortest edge with the image
    centred, negate, 8-bit grey. Four changes make it work on a photo as well as on a
    clean product shot: the background colour is the frame's median rather than one corner
    pixel, and paper grain above the README's 5 % also counts as background (`trim_box`);
    the resize averages each output pixel's area rather than skipping pixels, which would
    keep the grain; the grey levels are stretched so that the paper is 0 and the darkest
    part 255, as in 92 % of Fashion-MNIST's test images; and there is no sharpening, which
    on the 1,000 first test images cost 0.6 points on the originals and 0.5 on their
    photos (benchmarks/preprocessing_check.py).
    """
    top, bottom, left, right = trim_box(image)
    trimmed = image.crop((left, top, right, bottom))
    height, width = image_shape
    scale = min(height / trimmed.height, width / trimmed.width)
    size = (max(1, round(trimmed.width * scale)), max(1, round(trimmed.height * scale)))
    resized = trimmed.resize(size, Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR)
    gray = to_gray(image)
    if invert is None:
        invert = ink_is_dark(gray)
    paper = float(np.median(paper_frame(gray)))
    ink = paper - to_gray(resized) if invert else to_gray(resized) - paper  # (h', w'), paper at 0
    ink = ink / max(float(ink.max()), MIN_CONTRAST_LEVELS)
    return to_uint8(place_at_centre(ink, image_shape))


def trim_box(image: Image.Image) -> tuple[int, int, int, int]:
    """`(top, bottom, left, right)` of what differs from the background, as ImageMagick's trim.

    A pixel is background when its RGB distance to the frame's median colour is within
    `FASHION_TRIM_DISTANCE` of the largest possible distance, or within the paper grain
    (`NOISE_SIGMAS` deviations of the frame's own distances); stray specks are dropped.
    """
    rgb = np.asarray(image, dtype=np.float64)  # (H, W, 3)
    background = np.array([np.median(paper_frame(rgb[..., c])) for c in range(3)])  # (3,)
    distance = np.sqrt(((rgb - background) ** 2).sum(axis=2))  # (H, W)
    frame = paper_frame(distance)
    grain = NOISE_SIGMAS * 1.4826 * float(np.median(np.abs(frame - np.median(frame)))) + float(np.median(frame))
    threshold = max(FASHION_TRIM_DISTANCE * np.sqrt(3) * 255, grain)
    return ink_bounding_box(remove_specks(np.where(distance > threshold, distance, 0.0)))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """`image` in [0, 1] as the datasets' uint8 0-255."""
    return np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)


IMAGE_RECIPES = ("mnist", "digits", "fashion-mnist", "resize")


def style_of(run, recipe: str | None = None) -> InputStyle:
    """The preprocessing recipe a `LoadedRun` recorded in its input contract, at its image size.

    recipe: one of `IMAGE_RECIPES` chosen by the user instead (`--recipe`), e.g. "mnist" for
    photos given to a run trained on MNIST written as a CSV; never guessed.
    """
    if recipe is not None and run.contract.kind == "features":
        raise SimplennError(f"--recipe {recipe}: this run reads rows of {run.contract.n_features} features, "
                            "not images; give its rows as a CSV or a .npy")
    if recipe is not None and recipe not in IMAGE_RECIPES:
        raise SimplennError(f"unknown recipe {recipe!r}; choose one of {', '.join(IMAGE_RECIPES)}")
    return input_style(recipe or run.contract.recipe, run.image_shape)
