"""Readers, loading and preparation: every malformed file ends in a DatasetError that says why."""

from __future__ import annotations

import gzip
import io
import os
import re
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnist_format import idx_bytes, idx_files, npz_bytes, tiny_splits, write_files
from shared_runs import FASHION_MNIST_DIR, needs_fashion_mnist
from simplenn.training.data import prepare
from simplenn.datasets import DATASET_NAMES, DatasetError, class_names, load_dataset
from simplenn.datasets import cache
from simplenn.datasets.catalogue import CATALOGUE
from simplenn.datasets.idx import read_idx
from simplenn.datasets.npz import read_npz
from simplenn.errors import SimplennError

REPO = Path(__file__).resolve().parents[2]


def write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def images_file(tmp_path: Path, content: bytes, gz: bool = False) -> Path:
    name = "train-images-idx3-ubyte" + (".gz" if gz else "")
    return write(tmp_path / name, gzip.compress(content) if gz else content)


VALID_IMAGES = idx_bytes(np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4))


# IDX reader


@pytest.mark.parametrize("gz", [False, True])
def test_idx_reads_raw_and_gzipped_files(tmp_path, gz):
    images = read_idx(images_file(tmp_path, VALID_IMAGES, gz), ndim=3)
    assert images.dtype == np.uint8 and images.shape == (2, 3, 4)
    np.testing.assert_array_equal(images.ravel(), np.arange(24))
    images[0, 0, 0] = 7  # callers may normalise in place


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", r"expected an IDX header of at least 4 bytes, found 0 bytes"),
        (b"\x1f\x00\x08\x03" + VALID_IMAGES[4:], r"expected an IDX file starting 00 00, found 1f 00 08 03"),
        (b"\x00\x00\x0d\x03" + VALID_IMAGES[4:], r"expected IDX type code 0x08 \(unsigned byte\), found 0x0d \(float\)"),
        (b"\x00\x00\x08\x01" + VALID_IMAGES[4:], r"expected 3 dimension\(s\) \(images\), found 1"),
        (VALID_IMAGES[:10], r"expected 12 bytes of sizes after the magic number, found 6"),
        (VALID_IMAGES[:-1], r"expected 40 bytes, found 39 \(cut short\)"),
        (VALID_IMAGES + b"\x00", r"expected 40 bytes, found 41 \(trailing bytes\)"),
    ],
    ids=["empty", "bad magic", "type code", "dimension count", "short header", "truncated", "trailing"],
)
def test_idx_refuses_malformed_raw_files(tmp_path, content, message):
    path = images_file(tmp_path, content)
    with pytest.raises(DatasetError, match=message) as error:
        read_idx(path, ndim=3)
    assert str(error.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    "content, message",
    [
        (VALID_IMAGES[:-1], r"expected 24 bytes of items, found 23; the file is cut short"),
        (VALID_IMAGES + b"\x00", r"expected 24 bytes of items, found trailing bytes"),
    ],
    ids=["truncated payload", "trailing bytes"],
)
def test_idx_refuses_malformed_gzipped_files(tmp_path, content, message):
    with pytest.raises(DatasetError, match=message):
        read_idx(images_file(tmp_path, content, gz=True), ndim=3)


def test_idx_refuses_a_cut_short_gzip_stream(tmp_path):
    path = write(tmp_path / "x.gz", gzip.compress(VALID_IMAGES)[:-6])
    with pytest.raises(DatasetError, match="expected a complete gzip file, found a damaged or cut-short one"):
        read_idx(path, ndim=3)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_refuses_a_header_declaring_4_billion_items_without_allocating(tmp_path, gz):
    header = b"\x00\x00\x08\x01" + (2**32 - 1).to_bytes(4, "big")
    path = images_file(tmp_path, header + bytes(100), gz)
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match=r"declares shape \(4294967295,\)"):
            read_idx(path, ndim=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20


def test_idx_checks_hold_under_python_O(tmp_path):
    path = images_file(tmp_path, VALID_IMAGES[:-1])
    code = f"from pathlib import Path; from simplenn.datasets.idx import read_idx; read_idx(Path({str(path)!r}), 3)"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode != 0
    assert "DatasetError" in result.stderr and "cut short" in result.stderr


# npz reader


def test_npz_reads_a_keras_style_archive(tmp_path):
    (x_train, y_train), (x_test, y_test) = tiny_splits()
    content = npz_bytes(x_train=x_train, y_train=y_train.astype(np.int64), x_test=x_test, y_test=y_test)
    (a, b), (c, d) = read_npz(write(tmp_path / "d.npz", content))
    np.testing.assert_array_equal(a, x_train)
    np.testing.assert_array_equal(d, y_test)
    assert b.dtype == np.int64 and c.flags.writeable  # labels of every reader are int64 class indices


class Exploit:
    """Unpickling this creates `marker`: the side effect that must never happen."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_npz_refuses_pickled_objects_and_never_runs_them(tmp_path):
    marker = tmp_path / "pickle-ran"
    (x_train, y_train), (x_test, y_test) = tiny_splits()
    evil = np.array([Exploit(marker)] * len(x_train), dtype=object)
    path = write(tmp_path / "d.npz", npz_bytes(x_train=evil, y_train=y_train, x_test=x_test, y_test=y_test))
    with pytest.raises(DatasetError, match=r"\[x_train.npy\]: expected numeric arrays, found Python objects"):
        read_npz(path)
    assert not marker.exists()


def npz_with(tmp_path, **changes) -> Path:
    (x_train, y_train), (x_test, y_test) = tiny_splits()
    arrays = dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    arrays.update(changes)
    return write(tmp_path / "d.npz", npz_bytes(**{k: v for k, v in arrays.items() if v is not None}))


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(y_test=None), r"expected arrays x_train, y_train, x_test, y_test, found x_test, x_train, y_train \(missing y_test\)"),
        (dict(x_train=np.zeros((12, 5, 4), np.complex64)), r"\[x_train.npy\]: expected images of uint8 or float pixels, found complex64"),
        (dict(x_train=np.full((12, 5, 4), 300.0)), r"\[x_train\]: expected pixels in 0-255 \(or 0-1\), found values from 300 to 300"),
        (dict(y_train=np.zeros(12, np.float64)), r"\[y_train.npy\]: expected integer labels \(class indices 0, 1, ...\), found float64"),
        (dict(y_train=np.full(12, 1000, np.int64)), r"d.npz: expected labels 0-998, found 1000 at index 0; labels are class indices"),
        (dict(y_test=np.full(8, -1, np.int64)), r"d.npz: expected labels 0-998, found -1 at index 0"),
        (dict(y_train=np.zeros(11, np.uint8)), r"expected one label per image, found 12 images and 11 labels"),
        (dict(x_test=np.zeros((8, 20), np.uint8)), r"expected training and test images of one size, found 5x4 training images and 1x20 test images"),
        (dict(y_train=np.zeros(12, np.uint8), y_test=np.zeros(8, np.uint8)), r"expected at least 2 classes, found labels of 1 class only"),
    ],
    ids=["missing key", "complex images", "pixels over 255", "float labels", "label 1000", "label -1", "count mismatch", "flat test images", "one class"],
)
def test_npz_refuses_wrong_contents(tmp_path, changes, message):
    with pytest.raises(DatasetError, match=message):
        read_npz(npz_with(tmp_path, **changes))


def test_npz_refuses_a_header_that_disagrees_with_the_stored_size(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for key in ("x_train", "y_train", "x_test", "y_test"):
            array = io.BytesIO()
            np.save(array, np.zeros(4, np.uint8))
            # Claim 2**32 - 1 items while storing 4.
            archive.writestr(key + ".npy", array.getvalue().replace(b"(4,)", b"(4294967295,)"))
    path = write(tmp_path / "d.npz", buffer.getvalue())
    with pytest.raises(DatasetError, match=r"\[x_train.npy\]: the header declares uint8 shaped \(4294967295,\)"):
        read_npz(path)


def npy_bytes(array: np.ndarray, version=None) -> bytes:
    stream = io.BytesIO()
    np.lib.format.write_array(stream, array, version=version)
    return stream.getvalue()


def npz_of(tmp_path, x_train: bytes) -> Path:
    """An archive of valid arrays whose `x_train.npy` member holds `x_train`."""
    (_, y_train), (x_test, y_test) = tiny_splits()
    members = dict(x_train=x_train, y_train=npy_bytes(y_train), x_test=npy_bytes(x_test), y_test=npy_bytes(y_test))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for key, content in members.items():
            archive.writestr(key + ".npy", content)
    return write(tmp_path / "d.npz", buffer.getvalue())


@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
@pytest.mark.parametrize("order", ["C", "F"])
def test_npz_reads_both_header_versions_and_both_orders(tmp_path, version, order):
    (x_train, _), _ = tiny_splits()
    stored = np.asarray(x_train, order=order)
    (images, _), _ = read_npz(npz_of(tmp_path, npy_bytes(stored, version)))
    np.testing.assert_array_equal(images, x_train)


@pytest.mark.parametrize(
    "damage, found",
    [
        (lambda npy: npy[:6] + bytes([3, 0]) + npy[8:], r"unsupported .npy version \(3, 0\)"),
        (lambda npy: npy.replace(b"'descr'", b"'dtype'"), r"Header does not contain the correct keys"),
        (lambda npy: npy.replace(b"'shape': (", b"'shape': [("), r"EOF in multi-line statement"),
        (lambda npy: b"\x93NUMPX" + npy[6:], r"the magic string is not correct"),
    ],
    ids=["version 3.0", "wrong keys", "unbalanced brackets", "wrong magic"],
)
def test_npz_refuses_a_damaged_array_header(tmp_path, damage, found):
    (x_train, _), _ = tiny_splits()
    path = npz_of(tmp_path, damage(npy_bytes(x_train, (1, 0))))
    with pytest.raises(DatasetError, match=r"\[x_train.npy\]: expected a .npy array header, found a damaged one \(.*" + found):
        read_npz(path)


def test_npz_refuses_a_file_that_is_not_an_archive(tmp_path):
    with pytest.raises(DatasetError, match=r"expected a .npz \(zip\) archive, found a damaged or different file"):
        read_npz(write(tmp_path / "d.npz", VALID_IMAGES))


# Fuzzing: any bytes give arrays or a DatasetError, never anything else.


def mutated(valid: bytes):
    """Strategy: `valid` with some bytes replaced and possibly cut short or extended."""
    edits = st.lists(st.tuples(st.integers(0, len(valid) - 1), st.integers(0, 255)), max_size=4)
    return st.tuples(edits, st.integers(0, len(valid) + 4)).map(
        lambda change: bytes(_apply(valid, *change))
    )


def _apply(valid: bytes, edits, length) -> bytearray:
    content = bytearray(valid)
    for position, value in edits:
        content[position] = value
    return (content + b"\x00" * 4)[:length]


(_x, _y), (_xt, _yt) = tiny_splits(3, 2)
VALID_NPZ = npz_bytes(x_train=_x, y_train=_y, x_test=_xt, y_test=_yt)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(content=st.one_of(st.binary(max_size=200), mutated(VALID_IMAGES), mutated(gzip.compress(VALID_IMAGES, mtime=0))))
def test_fuzz_idx_reader(tmp_path, content):
    path = write(tmp_path / "fuzz", content)
    for ndim in (1, 3):
        try:
            array = read_idx(path, ndim)
        except DatasetError:
            continue
        assert array.dtype == np.uint8 and array.ndim == ndim


@FUZZ
@given(content=st.one_of(st.binary(max_size=200), mutated(VALID_NPZ)))
def test_fuzz_npz_reader(tmp_path, content):
    try:
        (x_train, y_train), (x_test, y_test) = read_npz(write(tmp_path / "fuzz.npz", content))
    except DatasetError:
        return
    assert x_train.dtype in (np.uint8, np.float32) and y_train.dtype == np.int64 and len(x_test) == len(y_test)


# Loading by path, by name, and preparing


@pytest.mark.parametrize("gz", [True, False])
def test_load_dataset_reads_a_folder_of_idx_files(tmp_path, gz):
    splits = tiny_splits()
    (x_train, y_train), (x_test, y_test) = load_dataset(str(write_files(tmp_path, idx_files(splits, gz))))
    np.testing.assert_array_equal(x_train, splits[0][0])
    np.testing.assert_array_equal(y_test, splits[1][1])
    assert x_test.shape == (8, 5, 4) and y_train.dtype == np.int64


def test_load_dataset_reads_a_npz_path(tmp_path):
    (x_train, _), _ = load_dataset(str(npz_with(tmp_path)))
    assert x_train.shape == (12, 5, 4)


def test_idx_folder_with_labels_beyond_9_has_as_many_classes(tmp_path):
    (x_train, y_train), test = tiny_splits()
    files = idx_files(((x_train, np.where(y_train == 3, 12, y_train).astype(np.uint8)), test), gz=False)
    dataset = load_dataset(str(write_files(tmp_path, files)))
    assert dataset.class_names == tuple(str(k) for k in range(13))


def test_idx_folder_with_image_and_label_counts_that_differ(tmp_path):
    (x_train, y_train), test = tiny_splits()
    files = idx_files(((x_train, y_train[:-2]), test), gz=False)
    with pytest.raises(DatasetError, match="expected one label per image, found 12 images and 10 labels"):
        load_dataset(str(write_files(tmp_path, files)))


def test_idx_folder_missing_a_file_lists_what_is_there(tmp_path):
    files = idx_files(tiny_splits())
    del files["t10k-labels-idx1-ubyte.gz"]
    with pytest.raises(DatasetError, match=r"found no t10k-labels-idx1-ubyte\[.gz\] among: t10k-images"):
        load_dataset(str(write_files(tmp_path, files)))


def test_load_dataset_rejects_an_unknown_name():
    with pytest.raises(SimplennError, match=r"'minst': expected a dataset name \(mnist, fashion-mnist, kmnist, digits, emnist-letters"):
        load_dataset("minst")


def test_digits_are_rescaled_to_0_255_and_split_the_same_stratified_way_each_time():
    (x_train, y_train), (x_test, y_test) = load_dataset("digits")
    assert x_train.shape == (1347, 8, 8) and x_test.shape == (450, 8, 8)
    assert x_train.dtype == np.uint8 and x_train.max() == 255 and x_train.min() == 0
    per_class = np.bincount(y_train, minlength=10) + np.bincount(y_test, minlength=10)
    assert np.abs(np.bincount(y_test, minlength=10) - per_class / 4).max() < 1  # stratified
    (again, _), _ = load_dataset("digits")
    np.testing.assert_array_equal(again, x_train)


def test_digits_are_scikit_learns_rows_in_its_split_read_without_importing_it():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)
    expected = train_test_split(images, digits.target, test_size=0.25, stratify=digits.target, random_state=0)
    (x_train, y_train), (x_test, y_test) = load_dataset("digits")
    for ours, theirs in zip((x_train, x_test, y_train, y_test), expected):
        np.testing.assert_array_equal(ours, theirs)
    code = "import sys; from simplenn.datasets import load_dataset; load_dataset('digits'); print('sklearn' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout == "False\n", done.stderr


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("counts", [(5, 5, 5), (3, 9, 4, 2), (10, 2, 2, 7, 7)])
def test_the_stratified_split_is_scikit_learns_draw_for_draw(counts, seed):
    from sklearn.model_selection import train_test_split

    from simplenn.datasets.digits import stratified_split

    labels = np.random.default_rng(seed).permutation(np.repeat(np.arange(len(counts)), counts))
    rows = np.arange(len(labels))
    train, test = stratified_split(labels, test_fraction=0.3, seed=seed)
    expected_train, expected_test = train_test_split(rows, test_size=0.3, stratify=labels, random_state=seed)
    np.testing.assert_array_equal(train, expected_train)
    np.testing.assert_array_equal(test, expected_test)


def test_prepare_flattens_and_one_hot_encodes():
    images = np.array([[[0, 255], [51, 102]], [[1, 2], [3, 4]]], np.uint8)  # (2, 2, 2)
    X, Y = prepare(images, np.array([3, 0], np.uint8), 10, scale=False)
    assert X.dtype == Y.dtype == np.float32 and X.shape == (2, 4) and Y.shape == (2, 10)
    np.testing.assert_array_equal(X[0], [0, 255, 51, 102])  # the post's raw pixels
    np.testing.assert_array_equal(Y.argmax(axis=1), [3, 0])
    np.testing.assert_array_equal(Y.sum(axis=1), [1, 1])
    X_scaled, _ = prepare(images, np.array([3, 0], np.uint8), 10, scale=True)
    np.testing.assert_allclose(X_scaled[0], [0, 1, 0.2, 0.4])


def test_class_names():
    assert class_names("fashion-mnist")[0] == "T-shirt/top"
    assert class_names("kmnist")[:3] == ["o", "ki", "su"]
    assert class_names("/some/folder") == [str(d) for d in range(10)]
    assert [len(class_names(name)) for name in DATASET_NAMES] == [10, 10, 10, 10, 26, 47, 10]
    assert class_names("emnist-balanced")[35:38] == ["Z", "a", "b"]


def test_catalogue_pins_well_formed_hashes_for_every_file():
    assert set(DATASET_NAMES) == {"mnist", "fashion-mnist", "kmnist", "digits", "emnist-letters", "emnist-balanced", "emnist-digits"}
    for spec in CATALOGUE.values():
        for data_file in spec.files:
            pins = [data_file.md5, data_file.sha256, data_file.content_sha256]
            assert any(pins), data_file
            for pin, length in zip(pins, (32, 64, 64)):
                assert pin is None or re.fullmatch(f"[0-9a-f]{{{length}}}", pin)
            assert data_file.urls and data_file.size > 0


# Debian's Fashion-MNIST: the reference copy on this machine


@pytest.fixture
def debian_fashion(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMPLENN_DATA", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(cache, "SYSTEM_DATA_DIR", FASHION_MNIST_DIR.parent)


@needs_fashion_mnist
def test_fashion_mnist_loads_from_debian_and_verifies_by_content_hash(debian_fashion):
    (x_train, y_train), (x_test, y_test) = load_dataset("fashion-mnist", progress=None)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(y_test), [1000] * 10)


def _flipped_byte(content: bytes, index: int) -> bytes:
    return content[:index] + bytes([content[index] ^ 0xFF]) + content[index + 1:]


@pytest.mark.parametrize("content, message", [
    (b"not gzip at all", "cannot read scikit-learn's digits file"),
    (_flipped_byte(gzip.compress(b"0," * 100_000, mtime=0), 11), "invalid code lengths set"),  # damaged deflate data
    (gzip.compress(b"1,2,3\n4,5,6\n"), r"expected 1797 rows of 64 pixels and a label, found shape \(2, 3\)"),
    (gzip.compress(b"0," * (3 << 20)), "more than 4,194,304 characters"),
    (b"\0" * ((1 << 20) + 1), "1,048,577 bytes is not scikit-learn's digits file"),
])
def test_a_damaged_digits_file_is_refused_in_one_line(tmp_path, monkeypatch, content, message):
    from simplenn.datasets import digits

    damaged = tmp_path / "digits.csv.gz"
    damaged.write_bytes(content)
    monkeypatch.setattr(digits, "digits_file", lambda: damaged)
    with pytest.raises(DatasetError, match=message):
        load_dataset("digits")
