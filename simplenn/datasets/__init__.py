"""Datasets: a catalogue, a verified cache shared with Keras, safe readers for your own files.

    (x_train, y_train), (x_test, y_test) = load_dataset("fashion-mnist")  # uint8 (60000, 28, 28), (60000,)
    load_dataset("fashion-mnist").class_names                              # ("T-shirt/top", ...)

Modules, one concern each: `catalogue` (what exists and its pinned hashes), `dataset`
(what every reader returns), readers `idx`, `npz`, `csv`, `image_folder` and `emnist`,
`validation`, `integrity` (hash checks), `cache` (where files live), `download`,
`manage` (find or fetch files; the `simplenn data` commands), `loading`.
"""

from simplenn.datasets.cache import cache_root
from simplenn.datasets.catalogue import DATASET_NAMES, dataset_spec
from simplenn.datasets.download import DownloadError, DownloadOptions, show_progress
from simplenn.datasets.dataset import Dataset
from simplenn.datasets.loading import check_dataset_name, class_names, load_dataset, load_images
from simplenn.datasets.manage import (
    fetch,
    format_checks,
    format_dataset_list,
    import_files,
    list_datasets,
    require_verified,
    verify,
)
from simplenn.datasets.validation import DatasetError

__all__ = [
    "DATASET_NAMES",
    "Dataset",
    "DatasetError",
    "DownloadError",
    "DownloadOptions",
    "cache_root",
    "check_dataset_name",
    "class_names",
    "dataset_spec",
    "fetch",
    "format_checks",
    "format_dataset_list",
    "import_files",
    "list_datasets",
    "require_verified",
    "load_dataset",
    "load_images",
    "show_progress",
    "verify",
]
