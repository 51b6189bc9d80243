"""How much accuracy a trained run keeps when its test images come as photos.

    python benchmarks/preprocessing_check.py RUN [--n 1000] [--seed 0]

Each test image of the run's dataset is printed dark on off-white paper, enlarged 4-12x,
placed off-centre on a sheet 2.5x its size, given paper grain and JPEG-compressed
(`simplenn.images.photos.photograph`), then read back by `preprocess`. Reports the run's accuracy
on the originals, on `preprocess` of the originals, and on the photos; the photos may lose
at most 1 point against the originals. For digit datasets it also reports the accuracy on
pen-drawn digits at random sizes, places and pen widths.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import simplenn

simplenn.set_up()  # TensorFlow loads quietly, as under the CLI
from simplenn.datasets import load_dataset
from simplenn.runs.loaded_run import load_run
from simplenn.images.photos import drawn_digits_accuracy, preprocessing_check

MAX_DROP_POINTS = 1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", metavar="RUN")
    parser.add_argument("--n", type=int, default=1000, help="test images to use, from the first (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()
    run = load_run(args.run_dir)
    _, (x_test, y_test) = load_dataset(run.config.dataset, progress=None)
    started = time.perf_counter()
    result = preprocessing_check(run, x_test[: args.n], y_test[: args.n], args.seed)
    if run.class_names == [str(d) for d in range(10)]:
        result["drawn_digits"] = drawn_digits_accuracy(run, args.seed)
    result["seconds"] = time.perf_counter() - started
    print(f"{run.config.dataset}, first {result['n']} test images, {run.run_dir}")
    print(f"  originals                {100 * result['originals']:6.2f} %")
    print(f"  preprocess(originals)    {100 * result['preprocessed_originals']:6.2f} %")
    print(f"  photos, preprocessed     {100 * result['photos']:6.2f} %   drop {result['photo_drop']:+.2f} points "
          f"(limit {MAX_DROP_POINTS:g})")
    if "drawn_digits" in result:
        print(f"  pen-drawn digits         {100 * result['drawn_digits']:6.2f} %")
    print(f"  {result['seconds']:.1f} s")
    if args.json:
        with open(args.json, "w") as stream:
            json.dump(result, stream, indent=2)
    return 0 if result["photo_drop"] <= MAX_DROP_POINTS else 1


if __name__ == "__main__":
    sys.exit(main())
