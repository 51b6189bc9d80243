"""Time loading Fashion-MNIST's 60,000 training images from Debian's files into arrays.

    python benchmarks/bench_load.py [--repeat 5]

Reads /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist), with an empty
cache so no other copy is used. Reports the first load, which also verifies the hashes
(once per process), and the best of `--repeat` later loads. Target: <= 1 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import simplenn
from simplenn.datasets import cache, load_dataset
from simplenn.datasets.catalogue import FASHION_MNIST
from simplenn.datasets.idx import read_idx

TARGET_S = 1.0


def seconds(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def main() -> int:
    simplenn.set_up()  # as the CLI does: TensorFlow, if it loads, loads quietly
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed loads after the first (default 5)")
    args = parser.parse_args()
    folder = cache.SYSTEM_DATA_DIR / FASHION_MNIST.name
    if not folder.is_dir():
        print(f"{folder} is absent: install the Debian package {FASHION_MNIST.debian_package}", file=sys.stderr)
        return 2
    os.environ["SIMPLENN_DATA"] = tempfile.mkdtemp()  # empty: only Debian's copy can be found
    train_images, train_labels = (folder / f.name for f in FASHION_MNIST.sources[0].files[:2])

    first = seconds(lambda: load_dataset(FASHION_MNIST.name, progress=None))
    both = min(seconds(lambda: load_dataset(FASHION_MNIST.name, progress=None)) for _ in range(args.repeat))
    train = min(seconds(lambda: (read_idx(train_images, 3), read_idx(train_labels, 1))) for _ in range(args.repeat))

    print(f"Fashion-MNIST from {folder} (Debian's files), {os.cpu_count()} CPUs")
    rows = [
        ("first load_dataset (verifies hashes), train + test", first),
        (f"load_dataset, train + test, best of {args.repeat}", both),
        (f"60,000 training images + labels, best of {args.repeat}", train),
    ]
    for label, value in rows:
        print(f"{label:<55} {value:.3f} s")
    print(f"target: <= {TARGET_S:g} s")
    return 0 if max(first, train) <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
