"""`simplenn predict`: a trained run's classes for images it has not seen, as a CSV.

    predict_file("runs/fixed-mnist_train.csv-...", "test.csv", "predictions.csv")

The CSV is Kaggle's submission format, `ImageId,Label`, ImageId counting from 1, so a
run trained on Kaggle's Digit Recognizer `train.csv` answers its `test.csv` directly.
Labels are the run's class names ("7", "T-shirt/top", "A").
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from simplenn.file_safety import write_text


def predict_file(run, images_path: str | Path, out: str | Path) -> Path:
    """Predict every image in `images_path` with `run` (a `LoadedRun`) and write `out`."""
    from simplenn.datasets import load_images

    images = load_images(images_path, image_size=run.config.image_size)  # (n, h, w)
    predicted = run.predict(images)  # (n,) class indices
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["ImageId", "Label"])
    writer.writerows((i, run.class_names[k]) for i, k in enumerate(predicted, start=1))
    return write_text(out, table.getvalue())
