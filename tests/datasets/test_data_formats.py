"""Your data, your way: CSV, class folders of images, NumPy arrays, any number of classes.

The same images written in each format must load to the same arrays; a bad row or file
must be named in one line with exit status 2; any class count from 2 up must train.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from cli_messages import error_message
from mnist_format import idx_files, write_files
from simplenn.cli import main
from simplenn.datasets import DatasetError, load_dataset
from simplenn.errors import SimplennWarning
from simplenn.runs.contract import dataset_sha256

SIDE = 6  # small square images: every format, and class folders at --image-size 6


def made_splits(n_classes: int = 3, n_train: int = 12, n_test: int = 6, side: int = SIDE, seed: int = 0):
    """Random uint8 images, labels cycling through the classes and sorted, as class folders list them."""
    rng = np.random.default_rng(seed)
    splits = []
    for n in (n_train, n_test):
        labels = np.sort(np.arange(n) % n_classes)
        splits.append((rng.integers(0, 256, size=(n, side, side), dtype=np.uint8), labels))
    return splits[0], splits[1]


def write_csv(path, images, labels=None, header=True, pixel_names="pixel{}"):
    """A Kaggle-layout CSV: `label,pixel0,...` (or pixels only when `labels` is None)."""
    flat = images.reshape(len(images), -1)
    columns = [pixel_names.format(i) for i in range(flat.shape[1])]
    rows = flat if labels is None else np.column_stack([labels, flat])
    lines = [",".join((["label"] if labels is not None else []) + columns)] if header else []
    lines += [",".join(map(str, row)) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_class_folders(folder, images, labels, names=None):
    for i, (image, label) in enumerate(zip(images, labels)):
        class_folder = folder / (names[label] if names else str(label))
        class_folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, mode="L").save(class_folder / f"{i:04d}.png")
    return folder


def test_the_same_images_as_idx_npz_csv_npy_and_class_folders_load_to_identical_arrays(tmp_path):
    splits = made_splits()
    (x_train, y_train), (x_test, y_test) = splits
    idx = write_files(tmp_path / "idx", idx_files(splits))
    npz = tmp_path / "data.npz"
    np.savez(npz, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    npy = tmp_path / "npy"
    npy.mkdir()
    for key, array in dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test).items():
        np.save(npy / f"{key}.npy", array)
    csv = tmp_path / "csv"
    csv.mkdir()
    write_csv(csv / "mnist_train.csv", x_train, y_train)
    write_csv(csv / "mnist_test.csv", x_test, y_test, header=False)
    folders = tmp_path / "folders"
    write_class_folders(folders / "train", x_train, y_train)
    write_class_folders(folders / "test", x_test, y_test)

    for path in (idx, npz, npy, csv, folders):
        dataset = load_dataset(str(path), image_size=SIDE)
        (a, b), (c, d) = dataset
        for found, expected in ((a, x_train), (b, y_train), (c, x_test), (d, y_test)):
            np.testing.assert_array_equal(found, expected, err_msg=str(path))
        assert a.dtype == np.uint8 and b.dtype == np.int64
        assert dataset.class_names == ("0", "1", "2") and dataset.image_shape == (SIDE, SIDE)


@pytest.mark.parametrize("header", [True, False], ids=["header", "no header"])
def test_a_kaggle_csv_with_or_without_header_is_split_by_test_split(tmp_path, header):
    (images, labels), _ = made_splits(n_classes=10, n_train=50, side=28)
    path = write_csv(tmp_path / "mnist.csv", images, labels, header=header)
    dataset = load_dataset(str(path), test_split=0.2)
    (x_train, y_train), (x_test, y_test) = dataset
    assert x_train.shape == (40, 28, 28) and x_test.shape == (10, 28, 28)
    assert dataset.class_names == tuple("0123456789")
    # the same held-out rows every time, and together they are the file
    (again, _), _ = load_dataset(str(path), test_split=0.2)
    np.testing.assert_array_equal(again, x_train)
    assert sorted(map(bytes, np.concatenate([x_train, x_test]))) == sorted(map(bytes, images))


def test_kaggle_fashion_mnist_names_its_columns_pixel1_and_puts_label_anywhere(tmp_path):
    (images, labels), _ = made_splits(side=28)
    path = write_csv(tmp_path / "fashion-mnist_train.csv", images, labels, pixel_names="pixel{}")
    (x, y), _ = load_dataset(str(path))
    assert x.shape[1:] == (28, 28)
    moved = tmp_path / "moved.csv"  # label last
    rows = [line.split(",") for line in path.read_text().splitlines()]
    moved.write_text("\n".join(",".join(row[1:] + row[:1]) for row in rows) + "\n")
    (x2, y2), _ = load_dataset(str(moved))
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(y2, y)


def test_a_csv_without_labels_can_be_predicted_on_but_not_trained_on(tmp_path, capsys):
    (x_train, y_train), (x_test, _) = made_splits(n_classes=10, n_train=40, side=28)
    folder = tmp_path / "digit-recognizer"
    folder.mkdir()
    write_csv(folder / "train.csv", x_train, y_train)
    write_csv(folder / "test.csv", x_test)  # Kaggle's competition file: pixels only
    assert main(["train", "--dataset", str(folder)]) == 2
    error = capsys.readouterr().err
    message = error_message(error)
    assert "test.csv: expected a label column" in message and "simplenn predict" in message
    assert main(["train", "--dataset", str(folder / "test.csv")]) == 2
    assert "can be predicted on (`simplenn predict RUN_DIR FILE`) but not trained on" in capsys.readouterr().err

    run_dir = tmp_path / "run"
    assert main(["train", "--dataset", str(folder / "train.csv"), "--epochs", "1", "--no-xla", "--quiet",
                 "--run-dir", str(run_dir)]) == 0
    out = tmp_path / "submission.csv"
    assert main(["predict", str(run_dir), str(folder / "test.csv"), "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "ImageId,Label" and len(lines) == 1 + len(x_test)
    assert lines[1].split(",")[0] == "1" and all(line.split(",")[1] in "0123456789" for line in lines[1:])
    np.save(tmp_path / "small.npy", np.zeros((3, 5, 5), np.uint8))
    assert main(["predict", str(run_dir), str(tmp_path / "small.npy")]) == 2
    assert "are shaped (3, 5, 5), but this run reads 28x28 images" in error_message(capsys.readouterr().err)


def test_float_arrays_of_features_and_npy_images_to_predict_on(tmp_path):
    (x_train, y_train), (x_test, y_test) = made_splits()
    npz = tmp_path / "floats.npz"  # (n, features) floats in 0-1, as a notebook holds them
    np.savez(npz, x_train=x_train.reshape(12, -1) / 255.0, y_train=y_train.astype(np.int32),
             x_test=x_test.reshape(6, -1) / 255.0, y_test=y_test.astype(np.int16),
             class_names=np.array(["cat", "dog", "emu"]))
    with pytest.warns(SimplennWarning, match=r"\]: float pixels all within 0-1 were read as fractions"):
        dataset = load_dataset(str(npz))
    (a, _), _ = dataset
    assert a.dtype == np.float32 and a.shape == (12, SIDE, SIDE)
    np.testing.assert_allclose(a, x_train, atol=1e-4)
    assert dataset.class_names == ("cat", "dog", "emu")
    np.save(tmp_path / "images.npy", x_test)
    with pytest.raises(DatasetError, match="images without labels: it can be predicted on"):
        load_dataset(str(tmp_path / "images.npy"))


@pytest.mark.parametrize("n_classes", [2, 26, 47])
def test_any_class_count_trains_end_to_end_and_the_run_knows_its_classes(tmp_path, n_classes):
    (x_train, y_train), (x_test, y_test) = made_splits(n_classes, n_train=2 * n_classes, n_test=n_classes, side=4)
    names = [f"class {k}" for k in range(n_classes)]
    npz = tmp_path / "made.npz"
    np.savez(npz, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, class_names=np.array(names))
    run_dir = tmp_path / "run"
    # --layers without the class count: the data adds it
    assert main(["train", "--dataset", str(npz), "--layers", "16,8", "--epochs", "2", "--no-xla", "--quiet",
                 "--run-dir", str(run_dir)]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["config"]["layers"] == [16, 8, n_classes]
    assert len(summary["test_scores"]) and 0 <= summary["test_accuracy"] <= 1
    facts = json.loads((run_dir / "data.json").read_text())
    assert facts["class_names"] == names and facts["image_shape"] == [4, 4]
    assert facts["input"]["source"] == {"path": str(npz.resolve()), "sha256": dataset_sha256(npz), "files": 1,
                                        "bytes": npz.stat().st_size}

    from simplenn.runs.loaded_run import load_run

    npz.unlink()  # the run knows its classes without the data
    run = load_run(run_dir)
    assert run.class_names == names and run.predict_proba(x_test).shape == (n_classes, n_classes)


def test_a_folder_of_scanned_letters_trains_with_its_folder_names(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "letters"
    for letter in "ABC":
        (folder / letter).mkdir(parents=True)
        for i in range(5):  # RGB scans of another size: made grayscale, resized to 28x28
            Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8), "RGB").save(folder / letter / f"{i}.png")
    (folder / "A" / "notes.txt").write_text("not an image: skipped")
    dataset = load_dataset(str(folder), test_split=0.2)
    (x_train, y_train), (x_test, _) = dataset
    assert dataset.class_names == ("A", "B", "C") and x_train.shape == (12, 28, 28) and len(x_test) == 3
    run_dir = tmp_path / "run"
    assert main(["train", "--dataset", str(folder), "--epochs", "1", "--no-xla", "--quiet", "--run-dir", str(run_dir)]) == 0
    assert json.loads((run_dir / "data.json").read_text())["class_names"] == ["A", "B", "C"]


def bad_csv(tmp_path, replace_line: int, text: str):
    (images, labels), _ = made_splits(side=28)
    path = write_csv(tmp_path / "bad.csv", images, labels)
    lines = path.read_text().splitlines()
    lines[replace_line - 1] = text(lines[replace_line - 1])
    path.write_text("\n".join(lines) + "\n")
    return path


def damaged_image(tmp_path):
    folder = write_class_folders(tmp_path / "folders", *made_splits()[0])
    (folder / "1" / "0005.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return folder, f"cannot read {folder / '1' / '0005.png'} as an image"


def empty_class(tmp_path):
    folder = write_class_folders(tmp_path / "folders", *made_splits()[0])
    (folder / "3").mkdir()
    return folder, f"{folder / '3'}: the class folder holds no images"


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda p: bad_csv(p, 4, lambda line: line + ",0"), "bad.csv, row 4: expected 785 columns as in the first row, found 786"),
        (lambda p: bad_csv(p, 3, lambda line: line.split(",", 1)[0] + ",x1" + line[line.index(",", 2):]),
         "bad.csv, row 3, column 2: expected a whole number, found 'x1'"),
        (lambda p: bad_csv(p, 5, lambda line: "1000" + line[1:]), "bad.csv, row 5, column 1: expected a label 0-998, found 1000"),
        (lambda p: bad_csv(p, 6, lambda line: "-1" + line[1:]), "bad.csv, row 6, column 1: expected a label 0-998, found -1"),
        (lambda p: bad_csv(p, 2, lambda line: line.rsplit(",", 1)[0] + ",256"), "bad.csv, row 2, column 785: expected a pixel 0-255, found 256"),
        (damaged_image, None),
        (empty_class, None),
    ],
    ids=["column count", "not a number", "label 1000", "label -1", "pixel 256", "undecodable image", "empty class folder"],
)
def test_a_bad_row_or_file_is_named_in_one_line_with_exit_status_2(tmp_path, capsys, make, expected):
    made = make(tmp_path)
    path, expected = made if isinstance(made, tuple) else (made, expected)
    assert main(["train", "--dataset", str(path), "--epochs", "1"]) == 2
    error = capsys.readouterr().err
    assert expected in error_message(error), error
