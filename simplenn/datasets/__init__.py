"""MNIST-format datasets: a catalogue, a verified cache shared with Keras, safe readers.

    (x_train, y_train), (x_test, y_test) = load_dataset("fashion-mnist")
    X, Y = prepare(x_train, y_train, scale=False)   # (60000, 784), one-hot (60000, 10)

Modules, one concern each: `catalogue` (what exists and its pinned hashes), `idx` and
`npz` (readers), `integrity` (hash checks), `cache` (where files live), `download`,
`manage` (find or fetch files; the `simplenn data` commands), `loading`.
"""

from simplenn.datasets.cache import cache_root
from simplenn.datasets.catalogue import DATASET_NAMES, dataset_spec
from simplenn.datasets.download import DownloadError, DownloadOptions, show_progress
from simplenn.datasets.loading import class_names, load_dataset, prepare, prepare_images
from simplenn.datasets.manage import fetch, import_files, list_datasets, verify
from simplenn.datasets.validation import DatasetError

__all__ = [
    "DATASET_NAMES",
    "DatasetError",
    "DownloadError",
    "DownloadOptions",
    "cache_root",
    "class_names",
    "dataset_spec",
    "fetch",
    "import_files",
    "list_datasets",
    "load_dataset",
    "prepare",
    "prepare_images",
    "show_progress",
    "verify",
]
