"""MNIST-format datasets: a catalogue, a verified cache shared with Keras, safe readers.

    (x_train, y_train), (x_test, y_test) = load_dataset("fashion-mnist")  # uint8 (60000, 28, 28), (60000,)

Modules, one concern each: `catalogue` (what exists and its pinned hashes), `idx` and
`npz` (readers), `integrity` (hash checks), `cache` (where files live), `download`,
`manage` (find or fetch files; the `simplenn data` commands), `loading`.
"""

from simplenn.datasets.cache import cache_root
from simplenn.datasets.catalogue import DATASET_NAMES, dataset_spec
from simplenn.datasets.download import DownloadError, DownloadOptions, show_progress
from simplenn.datasets.loading import check_dataset_name, class_names, load_dataset
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
    "show_progress",
    "verify",
]
