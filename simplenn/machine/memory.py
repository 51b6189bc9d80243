"""How much memory a run needs, checked against a limit before the work starts.

    limit = MemoryLimit.of("8G")            # --max-memory 8G; MemoryLimit.of(None): half the available memory
    limit.require(run_needs(layers, n_train, n_test, batch_size), "training on mnist")

The estimates are deliberately simple sums over what a run holds at once, so that a
learner can check them by hand:

    data         every pixel as the file's uint8, as float32 X, and TensorFlow's copy of X
    network      params x (weights + Adam's two moments + gradients) x 4 bytes
    activations  a training batch's Z and A per layer and their gradients, or a block of
                 `EVALUATION_BATCH` rows scored at once, whichever is larger

A limit protects a machine from work it cannot hold: a 1 MB gzip that honestly expands
to gigabytes, or `--layers 64,2000000,10`, is refused up front instead of swapping the
machine to a halt.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from simplenn.errors import SimplennError
from simplenn.machine.file_safety import format_bytes

FLOAT_BYTES = 4
# Per pixel: the uint8 the file holds, the float32 X made from it, TensorFlow's copy of X.
DATA_BYTES_PER_PIXEL = 1 + FLOAT_BYTES + FLOAT_BYTES
# Per label: the uint8, the float32 one-hot row of 10 and TensorFlow's copy of it.
DATA_BYTES_PER_LABEL = 1 + 2 * 10 * FLOAT_BYTES
# Per parameter: the weight, Adam's first and second moments, its gradient.
COPIES_PER_PARAMETER = 4
EVALUATION_BATCH = 10_000  # rows scored at once (`metrics.EVALUATION_BATCH`)
UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?", re.IGNORECASE)


def parse_size(text: str) -> int:
    """"8G" -> 8 GiB in bytes; also "512M", "1.5GiB", "2000000" (bytes). `SimplennError` otherwise."""
    match = SIZE.fullmatch(text.strip())
    if not match or float(match[1]) <= 0:
        raise SimplennError(f"--max-memory {text!r} is not a size; give one such as 512M, 8G or 1.5G")
    return int(float(match[1]) * UNITS[match[2].upper()])


def available_memory() -> int | None:
    """Bytes of memory this machine can give a new process now, or None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # reported in KiB
    except (OSError, ValueError, IndexError):
        pass
    try:  # macOS and other Unixes: the physical memory, as no "available" figure exists
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


@dataclass(frozen=True)
class MemoryLimit:
    """The most memory a run may need: `bytes`, and where that figure came from."""

    bytes: int
    origin: str  # "--max-memory 8G", or "half of the 22.0 GiB available"

    @classmethod
    def of(cls, text: str | None) -> "MemoryLimit":
        """The limit `--max-memory` gives, or without it half of the memory available now."""
        if text is not None:
            return cls(parse_size(text), f"--max-memory {text}")
        available = available_memory()
        if available is None:
            return cls(2**63, "no limit: this machine does not say how much memory it has")
        return cls(available // 2, f"half of the {format_bytes(available)} available")

    def require(self, needs: dict[str, int], work: str) -> None:
        """`SimplennError` naming the estimate, its parts and the limit when `needs` add up to more."""
        total = sum(needs.values())
        if total <= self.bytes:
            return
        parts = ", ".join(f"{name} {format_bytes(n)}" for name, n in needs.items() if n)
        raise SimplennError(
            f"{work} needs about {format_bytes(total)} of memory ({parts}), more than the limit of "
            f"{format_bytes(self.bytes)} ({self.origin}); use less data or a smaller network, or raise "
            f"the limit with --max-memory {limit_above(total)} if this machine can spare it"
        )


def limit_above(n_bytes: int) -> str:
    """A `--max-memory` value just above `n_bytes`, e.g. "15G"."""
    gib = -(-n_bytes // 2**30)
    return f"{gib}G"


def images_bytes(n_pixels: int) -> int:
    """Memory for `n_pixels` pixels of images, from the file to TensorFlow's float32 tensor."""
    return n_pixels * DATA_BYTES_PER_PIXEL


def network_bytes(layers: tuple[int, ...]) -> int:
    """Memory for the weights and biases of `layers`, Adam's moments and the gradients."""
    n_params = sum(n_in * n_out + n_out for n_in, n_out in zip(layers[:-1], layers[1:]))
    return n_params * COPIES_PER_PARAMETER * FLOAT_BYTES


def activations_bytes(layers: tuple[int, ...], batch_rows: int, scored_rows: int) -> int:
    """Memory for a training step on `batch_rows` or scoring `scored_rows` at once, whichever is more.

    A training step holds Z, A and dZ for every layer after the input; scoring holds Z and A.
    """
    units = sum(layers[1:])
    training = batch_rows * (layers[0] + 3 * units) * FLOAT_BYTES
    scoring = min(scored_rows, EVALUATION_BATCH) * (layers[0] + 2 * units) * FLOAT_BYTES
    return max(training, scoring)


def run_needs(layers: tuple[int, ...], image_shape: tuple[int, int], n_train: int, n_test: int,
              batch_size: int) -> dict[str, int]:
    """The estimate for training `layers` on `n_train` images and scoring `n_test`: {part: bytes}."""
    n_images = n_train + n_test
    height, width = image_shape
    batch_rows = min(batch_size or n_train, n_train)  # 0: the whole training set, as in the post
    return {
        "data": images_bytes(n_images * height * width) + n_images * DATA_BYTES_PER_LABEL,
        "network and optimizer": network_bytes(layers),
        "activations": activations_bytes(layers, batch_rows, max(n_train, n_test)),
    }


def return_freed_memory() -> None:
    """Hand memory that Python and NumPy have freed back to the system (glibc's `malloc_trim`).

    glibc keeps freed blocks of a large image decode in its arenas; without this a server's
    resident size stays at its peak after a burst of uploads. Elsewhere it does nothing.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None)
    if trim is not None:
        trim(0)
