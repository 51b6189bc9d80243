"""Read a folder of class folders of images, the layout of Keras's `image_dataset_from_directory`
and torchvision's `ImageFolder`:

    letters/A/scan-001.png              one folder per class, named after it
    letters/B/scan-002.jpg
    letters/train/A/... letters/test/A/...    or the two splits, each so laid out

Each image is decoded by Pillow, made grayscale (Pillow's "L": 0.299 R + 0.587 G +
0.114 B) and resized to `size` x `size` (bilinear, antialiased), stretched if it is not
square, as Keras does by default. Class names are the folder names in sorted order, so
class k is the k-th folder, as both libraries number them. Images in sub-folders of a
class folder belong to that class, as both libraries read them (links are not followed).
Files whose suffix is not an image's, and hidden files and folders, are skipped, as Keras
skips them; a FIFO or device named like an image is refused, not opened. An image of one
flat colour is kept but named in a warning: it is often a scan gone wrong.

Before any image is decoded, the folder's images at `size` x `size` are checked against
the memory limit, and each image's decoded size, read from its header, too.

Every image file simplenn reads is opened here (`open_image`), and `read_image` is also the
`resize` recipe of `images.preprocessing`: a run trained on files reads a user's image
exactly as it read its training images.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from simplenn.datasets.idx import MAX_PAYLOAD_BYTES
from simplenn.datasets.validation import MAX_CLASSES, DatasetError
from simplenn.errors import SimplennWarning
from simplenn.machine.file_safety import check_input, format_bytes
from simplenn.machine.memory import MemoryLimit

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
BLANK_NAMED = 3  # flat images named in the warning; the rest counted


def class_folders(folder: Path) -> list[Path]:
    """The class folders in `folder`, sorted by name; hidden ones are skipped."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def image_files_under(folder: Path) -> list[Path]:
    """The image files in `folder` and its sub-folders, by path; hidden files and folders skipped, links not followed."""
    found = []
    for inner, folders, files in os.walk(folder):  # os.walk does not follow links into folders
        folders[:] = [name for name in folders if not name.startswith(".")]
        found += [Path(inner) / name for name in files
                  if Path(name).suffix.lower() in IMAGE_SUFFIXES and not name.startswith(".")]
    return sorted(found)


def read_class_folders(folder: Path, size: int, class_names: list[str] | None = None,
                       memory_limit: MemoryLimit | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """`(images, labels, class_names)`: uint8 `(n, size, size)`, int64 `(n,)` class indices.

    `class_names` given (a test split's, from its train split) fixes the numbering; a
    folder outside it is an error. memory_limit: the images at `size` x `size`, and the
    largest decoded image, must fit it (default: half the available memory).
    """
    memory_limit = memory_limit or MemoryLimit.of(None)
    folders = class_folders(folder)
    if not folders:
        raise DatasetError(f"{folder}: expected one folder of images per class, found no folders")
    if len(folders) > MAX_CLASSES:
        raise DatasetError(f"{folder}: found {len(folders):,} class folders, more than the {MAX_CLASSES} classes "
                           "simplenn trains; give one folder per class")
    names = class_names if class_names is not None else [p.name for p in folders]
    unknown = [p.name for p in folders if p.name not in names]
    if unknown:
        raise DatasetError(
            f"{folder}: class folder {unknown[0]!r} is not among the training classes ({', '.join(names)}); "
            "the train and test folders need the same class folders"
        )
    files, labels = [], []
    for p in folders:
        images = image_files_under(p)
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
    held = len(files) * (size * size + 8)  # uint8 pixels and an int64 label each
    memory_limit.require({"images": held}, f"reading {len(files):,} images of {size}x{size} from {folder}")
    pixels = np.empty((len(files), size, size), np.uint8)
    for i, path in enumerate(files):
        pixels[i] = read_image(path, size, memory_limit.bytes - held)
    _warn_of_flat_images(files, pixels)
    return pixels, np.array(labels, np.int64), list(names)


def _warn_of_flat_images(files: list[Path], pixels: np.ndarray) -> None:
    """Name the images that are one flat colour (`pixels (n, size, size)`)."""
    flat = np.flatnonzero(pixels.min(axis=(1, 2)) == pixels.max(axis=(1, 2)))
    if len(flat):
        named = ", ".join(str(files[i]) for i in flat[:BLANK_NAMED])
        more = f" and {len(flat) - BLANK_NAMED:,} more" if len(flat) > BLANK_NAMED else ""
        warnings.warn(SimplennWarning(f"{len(flat):,} image(s) are one flat colour, blank: {named}{more}; they are "
                                      "kept, remove them if they are not examples of their class"), stacklevel=3)


def open_image(source, name: str | None = None, *, max_decoded_bytes: int | None = None,
               max_pixels: int | None = None, fix: str = "replace the file or remove it"):
    """The one way simplenn opens an image file: a decoded Pillow image, its file closed.

    source: a path, the file's bytes, or a Pillow image (returned as it is). A FIFO named
    like an image is refused unopened; an image whose header declares more than `max_pixels`
    pixels, or more than `max_decoded_bytes` decoded, is refused before it is decoded.
    `DatasetError` names the file, what is wrong and, for a file Pillow cannot read, `fix`.
    """
    import io

    from PIL import Image  # Pillow is only needed for images

    if isinstance(source, Image.Image):
        return source
    is_bytes = isinstance(source, (bytes, bytearray))
    name = name or ("the file" if is_bytes else str(source))
    if not is_bytes:
        check_input(source)  # a FIFO named like an image would block the read
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # a huge image is refused, not decoded
            with Image.open(io.BytesIO(source) if is_bytes else source) as image:
                width, height = image.size
                if max_pixels is not None and width * height > max_pixels:
                    raise DatasetError(f"{name} has {width * height:,} pixels ({width}x{height}), more than the "
                                       f"{max_pixels:,} read; shrink it first")
                decoded = width * height * max(len(image.getbands()), 1) * 2  # its own mode, then another
                if max_decoded_bytes is not None and decoded > max_decoded_bytes:
                    raise DatasetError(f"{name}: decoding this {width}x{height} image takes about "
                                       f"{format_bytes(decoded)}, more than the memory limit leaves; shrink it "
                                       "or raise --max-memory")
                image.load()
                return image
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DatasetError(f"{name} has more pixels than Pillow decodes safely (a decompression bomb); "
                           "shrink it first") from None
    except (OSError, ValueError, SyntaxError) as error:
        why = type(error).__name__ if is_bytes else f"{type(error).__name__}: {error}"  # bytes have no name to show
        raise DatasetError(f"cannot read {name} as an image ({why}); {fix}") from None


def read_image(source, size, max_decoded_bytes: int | None = None, *, max_pixels: int | None = None,
               fix: str = "replace the file or remove it") -> np.ndarray:
    """One image as training reads a folder's images: uint8 grayscale `(size, size)` (or
    `size = (height, width)`), Pillow's "L" then a bilinear resize; `DatasetError` naming the file.

    source: a path, the file's bytes or a Pillow image. This is the `resize` recipe of
    `images.preprocessing.preprocess` too, so a run trained on class folders reads a user's
    image exactly as it read its training images.
    max_decoded_bytes, max_pixels, fix: as `open_image` takes them.
    """
    from PIL import Image

    height, width = (size, size) if isinstance(size, int) else size
    image = open_image(source, max_decoded_bytes=max_decoded_bytes, max_pixels=max_pixels, fix=fix).convert("L")
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)
