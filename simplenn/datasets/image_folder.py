"""Read a folder of class folders of images, the layout of Keras's `image_dataset_from_directory`
and torchvision's `ImageFolder`:

    letters/A/scan-001.png              one folder per class, named after it
    letters/B/scan-002.jpg
    letters/train/A/... letters/test/A/...    or the two splits, each so laid out

Each image is decoded by Pillow, made grayscale (Pillow's "L": 0.299 R + 0.587 G +
0.114 B) and resized to `size` x `size` (bilinear, antialiased), stretched if it is not
square, as Keras does by default. Class names are the folder names in sorted order, so
class k is the k-th folder, as both libraries number them. Files whose suffix is not an
image's, and hidden files, are skipped, as Keras skips them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from simplenn.datasets.idx import MAX_PAYLOAD_BYTES
from simplenn.datasets.validation import DatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


def class_folders(folder: Path) -> list[Path]:
    """The class folders in `folder`, sorted by name; hidden ones are skipped."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_class_folders(folder: Path, size: int, class_names: list[str] | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """`(images, labels, class_names)`: uint8 `(n, size, size)`, int64 `(n,)` class indices.

    `class_names` given (a test split's, from its train split) fixes the numbering; a
    folder outside it is an error.
    """
    folders = class_folders(folder)
    if not folders:
        raise DatasetError(f"{folder}: expected one folder of images per class, found no folders")
    names = class_names if class_names is not None else [p.name for p in folders]
    unknown = [p.name for p in folders if p.name not in names]
    if unknown:
        raise DatasetError(
            f"{folder}: class folder {unknown[0]!r} is not among the training classes ({', '.join(names)}); "
            "the train and test folders need the same class folders"
        )
    files, labels = [], []
    for p in folders:
        images = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith("."))
        if not images:
            raise DatasetError(
                f"{p}: the class folder holds no images ({', '.join(IMAGE_SUFFIXES)}); add images or remove the folder"
            )
        files += images
        labels += [names.index(p.name)] * len(images)
    if len(files) * size * size > MAX_PAYLOAD_BYTES:
        raise DatasetError(
            f"{folder}: {len(files):,} images of {size}x{size} would take more than {MAX_PAYLOAD_BYTES:,} bytes; "
            "choose a smaller --image-size"
        )
    pixels = np.empty((len(files), size, size), np.uint8)
    for i, path in enumerate(files):
        pixels[i] = read_image(path, size)
    return pixels, np.array(labels, np.int64), list(names)


def read_image(path, size) -> np.ndarray:
    """One image as uint8 grayscale `(size, size)` (or `size = (height, width)`), or `DatasetError`
    naming the file. path: a file, or its bytes; the `resize` recipe of `preprocess` reads a
    user's image with this same function, so a run trained on class folders sees it as training did."""
    import io

    from PIL import Image  # Pillow is only needed for image folders

    height, width = (size, size) if isinstance(size, int) else size
    name = "the image" if isinstance(path, (bytes, bytearray)) else path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # a huge image is refused, not decoded
            with Image.open(io.BytesIO(path) if isinstance(path, (bytes, bytearray)) else path) as image:
                image = image.convert("L")
                if image.size != (width, height):
                    image = image.resize((width, height), Image.Resampling.BILINEAR)
                return np.asarray(image, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise DatasetError(
            f"{name}: cannot decode this image ({error}); replace the file or remove it"
        ) from None
