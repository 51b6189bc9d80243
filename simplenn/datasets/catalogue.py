"""The datasets simplenn knows by name: their files, where to get them, how to check them.

Each `DataFile` pins the hashes its publisher lists, so a file verifies wherever it came
from. Files live where Keras keeps them (`mnist.npz` at the top of the cache,
Fashion-MNIST under `fashion-mnist/`), so one download serves both tools.
"""

from __future__ import annotations

from dataclasses import dataclass

from simplenn.datasets.validation import DatasetError

KERAS_STORAGE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
IDX_FILE_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
DIGIT_NAMES = tuple(str(digit) for digit in range(10))


@dataclass(frozen=True)
class DataFile:
    """One published file: its place in the cache, its URLs, and the hashes it must match.

    `cache_path` is relative to the cache root, e.g. "fashion-mnist/t10k-images-idx3-ubyte.gz".
    `md5`/`sha256` are hashes of the file as published; `content_sha256` is the sha256 of a
    `.gz` file's decompressed bytes, which survives recompression (Debian's copies).
    A file verifies when any one of the pinned hashes matches.
    """

    cache_path: str
    urls: tuple[str, ...]  # primary first, then mirrors
    size: int  # bytes as published; only for showing progress and sizes
    md5: str | None = None
    sha256: str | None = None
    content_sha256: str | None = None

    @property
    def name(self) -> str:
        return self.cache_path.rsplit("/", 1)[-1]

    @property
    def pinned(self) -> str:
        """The hashes this file may match, for messages: "md5 f68b..., content sha256 c59f..."."""
        hashes = [("md5", self.md5), ("sha256", self.sha256), ("content sha256", self.content_sha256)]
        return ", ".join(f"{kind} {value}" for kind, value in hashes if value)


@dataclass(frozen=True)
class Source:
    """One complete form of a dataset: "npz" (Keras's one-file archive), "idx" (four files)
    or "emnist-zip" (NIST's archive of every EMNIST split, read by `emnist.py`).

    For "idx", `files` are in `IDX_FILE_NAMES` order: train images, train labels,
    test images, test labels.
    """

    format: str
    files: tuple[DataFile, ...]


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset: what it is, its sources in order of preference, its terms of use."""

    name: str
    title: str
    sources: tuple[Source, ...]  # empty for datasets bundled with a library
    class_names: tuple[str, ...]
    licence: str
    citation: str
    homepage: str
    debian_package: str | None = None  # installs the IDX files under /usr/share/datasets/<name>

    @property
    def files(self) -> tuple[DataFile, ...]:
        return tuple(data_file for source in self.sources for data_file in source.files)


def _idx_source(folder: str, mirrors: tuple[str, ...], pins: dict[str, dict]) -> Source:
    """The four `.gz` IDX files under `folder/` in the cache, each served by every mirror."""
    files = tuple(
        DataFile(
            cache_path=f"{folder}/{stem}.gz",
            urls=tuple(mirror + stem + ".gz" for mirror in mirrors),
            **pins[stem],
        )
        for stem in IDX_FILE_NAMES
    )
    return Source("idx", files)


MNIST = DatasetSpec(
    name="mnist",
    title="MNIST handwritten digits",
    sources=(
        Source(
            "npz",
            (
                DataFile(
                    cache_path="mnist.npz",
                    urls=(KERAS_STORAGE + "mnist.npz",),
                    size=11_490_434,
                    sha256="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
                ),
            ),
        ),
        # The original four files, for when Keras's bucket is unreachable.
        _idx_source(
            "mnist",
            (
                "https://storage.googleapis.com/cvdf-datasets/mnist/",
                "https://ossci-datasets.s3.amazonaws.com/mnist/",
            ),
            # md5s as published by LeCun's site and listed by torchvision.
            {
                "train-images-idx3-ubyte": dict(size=9_912_422, md5="f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                "train-labels-idx1-ubyte": dict(size=28_881, md5="d53e105ee54ea40749a09fcbcd1e9432"),
                "t10k-images-idx3-ubyte": dict(size=1_648_877, md5="9fb629c4189551a2d022fa330f9573f3"),
                "t10k-labels-idx1-ubyte": dict(size=4_542, md5="ec29112dd5afa0611ce80d1b7f02629c"),
            },
        ),
    ),
    class_names=DIGIT_NAMES,
    licence="CC BY-SA 3.0 (Yann LeCun and Corinna Cortes)",
    citation=(
        "Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, Gradient-based learning applied to "
        "document recognition, Proceedings of the IEEE 86(11), 1998"
    ),
    homepage="http://yann.lecun.com/exdb/mnist/",
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    title="Fashion-MNIST clothing images (Zalando)",
    sources=(
        _idx_source(
            "fashion-mnist",
            (KERAS_STORAGE, "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
            # md5s from Fashion-MNIST's README. Debian recompresses the files, so the md5s
            # do not match its copies; the content sha256s (computed from Debian's
            # dataset-fashion-mnist 0.0~git20200523.55506a9-1) match either copy.
            {
                "train-images-idx3-ubyte": dict(
                    size=26_421_880,
                    md5="8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                    content_sha256="c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                ),
                "train-labels-idx1-ubyte": dict(
                    size=29_515,
                    md5="25c81989df183df01b3e8a0aad5dffbe",
                    content_sha256="bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                ),
                "t10k-images-idx3-ubyte": dict(
                    size=4_422_102,
                    md5="bef4ecab320f06d8554ea6380940ec79",
                    content_sha256="5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                ),
                "t10k-labels-idx1-ubyte": dict(
                    size=5_148,
                    md5="bb300cfdad3c16e7a12a480ee83cd310",
                    content_sha256="0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
                ),
            },
        ),
    ),
    class_names=(
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
    licence="MIT (Zalando SE)",
    citation=(
        "H. Xiao, K. Rasul and R. Vollgraf, Fashion-MNIST: a Novel Image Dataset for "
        "Benchmarking Machine Learning Algorithms, arXiv:1708.07747, 2017"
    ),
    homepage="https://github.com/zalandoresearch/fashion-mnist",
    debian_package="dataset-fashion-mnist",
)

KMNIST = DatasetSpec(
    name="kmnist",
    title="Kuzushiji-MNIST cursive Japanese characters",
    sources=(
        _idx_source(
            "kmnist",
            # The publisher serves plain HTTP only; the pinned md5s are what vouch for the files.
            ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
            # md5s as listed by torchvision's KMNIST.
            {
                "train-images-idx3-ubyte": dict(size=18_165_135, md5="bdb82020997e1d708af4cf47b453dcf7"),
                "train-labels-idx1-ubyte": dict(size=29_497, md5="e144d726b3acfaa3e44228e80efcd344"),
                "t10k-images-idx3-ubyte": dict(size=3_041_136, md5="5c965bf0a639b31b8f53240b1b52f4d7"),
                "t10k-labels-idx1-ubyte": dict(size=5_120, md5="7320c461ea6c1c855c0b718fb2a4b134"),
            },
        ),
    ),
    # Romanised readings rather than the hiragana, which many plotting fonts cannot draw.
    class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
    licence="CC BY-SA 4.0 (\"KMNIST Dataset\" by CODH, adapted from \"Kuzushiji Dataset\" by NIJL and others)",
    citation=(
        "T. Clanuwat, M. Bober-Irizar, A. Kitamoto, A. Lamb, K. Yamamoto and D. Ha, "
        "Deep Learning for Classical Japanese Literature, arXiv:1812.01718, 2018"
    ),
    homepage="https://github.com/rois-codh/kmnist",
)

DIGITS = DatasetSpec(
    name="digits",
    title="UCI handwritten digits, 8x8 (bundled with scikit-learn)",
    sources=(),
    class_names=DIGIT_NAMES,
    licence="CC BY 4.0 (UCI Machine Learning Repository)",
    citation=(
        "E. Alpaydin and C. Kaynak, Optical Recognition of Handwritten Digits, "
        "UCI Machine Learning Repository, 1998"
    ),
    homepage="https://archive.ics.uci.edu/ml/datasets/Optical+Recognition+of+Handwritten+Digits",
)

# NIST's one archive of all six EMNIST splits. Its md5 is the one torchvision's EMNIST
# pins (NIST publishes no hash); the size, for progress only, is as NIST serves it.
EMNIST_ZIP = DataFile(
    cache_path="emnist/gzip.zip",
    urls=(
        "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip",
        "https://www.itl.nist.gov/iaui/vip/cs_links/EMNIST/gzip.zip",  # its older address
    ),
    size=561_753_746,
    md5="58c8d27c78d21e728a6bc7b3cc06412e",
)
LETTERS = tuple(chr(code) for code in range(ord("A"), ord("Z") + 1))


def _emnist(split: str, title: str, class_names: tuple[str, ...]) -> DatasetSpec:
    return DatasetSpec(
        name=f"emnist-{split}",
        title=title,
        sources=(Source("emnist-zip", (EMNIST_ZIP,)),),
        class_names=class_names,
        licence="no licence stated; NIST publishes it for research use (Cohen et al., NIST Special Database 19)",
        citation=(
            "G. Cohen, S. Afshar, J. Tapson and A. van Schaik, EMNIST: an extension of MNIST to "
            "handwritten letters, arXiv:1702.05373, 2017"
        ),
        homepage="https://www.nist.gov/itl/products-and-services/emnist-dataset",
    )


# Letters: upper and lower case merged, 26 classes. Balanced: 47 classes, the lower-case
# letters that look like their capitals (c, i, j, k, l, m, o, p, s, u, v, w, x, y, z) merged.
EMNIST_LETTERS = _emnist("letters", "EMNIST letters, A-Z with upper and lower case merged", LETTERS)
EMNIST_BALANCED = _emnist(
    "balanced", "EMNIST balanced, 47 classes of digits and letters",
    DIGIT_NAMES + LETTERS + tuple("abdefghnqrt"),
)
EMNIST_DIGITS = _emnist("digits", "EMNIST digits, 280,000 handwritten digits", DIGIT_NAMES)

# Tests replace entries here to point downloads at a local server.
CATALOGUE: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (MNIST, FASHION_MNIST, KMNIST, DIGITS, EMNIST_LETTERS, EMNIST_BALANCED, EMNIST_DIGITS)
}
DATASET_NAMES: tuple[str, ...] = tuple(CATALOGUE)


def dataset_spec(name: str) -> DatasetSpec:
    """The catalogue entry for `name`, or a `DatasetError` listing the names there are."""
    if name not in CATALOGUE:
        raise DatasetError(
            f"unknown dataset {name!r}: expected one of {', '.join(CATALOGUE)}; "
            "run `simplenn data list` to see them"
        )
    return CATALOGUE[name]
