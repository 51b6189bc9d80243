"""A run's input contract, from a user's files to a prediction: each reader's data written back
out as the files a user would have, 0-1 fractions and NaN refused, runs found from any folder."""

from __future__ import annotations

import gzip
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from simplenn.cli import main
from simplenn.runs.contract import InputContract, dataset_fingerprint, dataset_sha256
from simplenn.datasets import load_dataset
from simplenn.datasets.catalogue import IDX_FILE_NAMES
from simplenn.errors import SimplennError
from simplenn.runs.loaded_run import load_run
from cli_messages import error_message
from mnist_format import idx_bytes

N_PREDICTED = 12  # training examples written back out as files


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's digits as `simplenn` reads them: uint8 (n, 8, 8) pixels 0-255."""
    (x_train, y_train), (x_test, y_test) = load_dataset("digits")
    return x_train, y_train, x_test, y_test


def write_idx(folder, digits):
    folder.mkdir()
    for stem, array in zip(IDX_FILE_NAMES, digits):
        (folder / f"{stem}.gz").write_bytes(gzip.compress(idx_bytes(array.astype(np.uint8)), mtime=0))
    return folder


def write_npz(path, digits):
    x_train, y_train, x_test, y_test = digits
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def write_csv(path, digits):
    x_train, y_train, *_ = digits
    rows = np.column_stack([y_train, x_train.reshape(len(x_train), -1)])
    header = "label," + ",".join(f"pixel{i}" for i in range(64))
    np.savetxt(path, rows, fmt="%d", delimiter=",", header=header, comments="")
    return path


def write_class_folders(folder, digits):
    x_train, y_train, *_ = digits
    for i, (image, label) in enumerate(zip(x_train, y_train)):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / str(label) / f"{i:04d}.png")
    return folder


def train(dataset, run_dir, *extra) -> None:
    code = main(["train", "--preset", "fixed", "--dataset", str(dataset), "--epochs", "3", "--no-xla",
                 "--image-size", "8", "--run-dir", str(run_dir), "--quiet", *extra])
    assert code == 0


def predicted_classes(run_dir, files, capsys, tmp_path) -> list[str]:
    """The top class `simplenn predict` gives each file."""
    out = tmp_path / "predictions.json"
    assert main(["predict", str(run_dir), *map(str, files), "--top-k", "1", "--json", str(out),
                 "--force"]) == 0  # the same file each call: replaced, as the output rule allows with --force
    capsys.readouterr()
    return [p["top"][0]["class"] for p in json.loads(out.read_text())]


READERS = {"idx": write_idx, "npz": write_npz, "csv": write_csv, "class-folders": write_class_folders}


@pytest.mark.parametrize("reader", READERS)
def test_each_readers_run_gives_its_own_classes_for_its_training_images_saved_as_png(
        reader, digits, tmp_path, capsys):
    name = {"npz": "digits.npz", "csv": "train.csv"}.get(reader, "digits")
    dataset = READERS[reader](tmp_path / name, digits)
    run_dir = tmp_path / "run"
    train(dataset, run_dir)
    run = load_run(run_dir)
    assert run.contract.recipe == "resize" and run.contract.kind == "image"
    assert run.contract.source == {"path": str(dataset.resolve()), **dataset_fingerprint(dataset)}
    if reader == "class-folders":  # the run's training images are the PNG files it read
        images = np.stack([np.asarray(Image.open(p)) for p in sorted((dataset / "3").iterdir())[:N_PREDICTED]])
    else:
        images = digits[0][:N_PREDICTED]
    expected = [run.class_names[k] for k in run.predict(images)]
    files = []
    for i, image in enumerate(images):
        files.append(tmp_path / f"user-{i:02d}.png")
        Image.fromarray(image).save(files[-1])
    assert predicted_classes(run_dir, files, capsys, tmp_path) == expected
    # ... and as the rows of a CSV, the other file such a user has
    rows = tmp_path / "rows.csv"
    np.savetxt(rows, images.reshape(len(images), -1), fmt="%d", delimiter=",",
               header=",".join(f"pixel{i}" for i in range(64)), comments="")
    assert predicted_classes(run_dir, [rows], capsys, tmp_path) == expected


def test_a_catalogue_run_records_its_recipe_and_an_old_run_gets_the_one_its_config_implies(digits_run, tmp_path):
    facts = json.loads((digits_run / "data.json").read_text())
    assert facts["input"] == {"kind": "image", "shape": [8, 8], "scaling": "divide_by_255", "recipe": "digits",
                              "source": {"name": "digits"}, "value_range": [0.0, 255.0], "rms": None}
    old = tmp_path / "old"
    shutil.copytree(digits_run, old)
    del facts["input"]
    (old / "data.json").write_text(json.dumps(facts))
    assert load_run(old).contract == load_run(digits_run).contract
    (old / "data.json").unlink()
    assert load_run(old).contract.recipe == "digits"


def test_fractions_nan_and_wrong_shapes_get_one_line_not_a_guess(digits_run, digits):
    run = load_run(digits_run)
    images = digits[2][:3]
    with pytest.raises(SimplennError, match=r"hold fractions from 0 to 1, but this run reads pixels 0-255 .*"
                                            r"multiply them by 255"):
        run.predict(images.astype("float32") / 255)
    bad = images.astype("float32")
    bad[0, 0, 0] = np.nan
    with pytest.raises(SimplennError, match="hold NaN or infinity"):
        run.predict(bad)
    with pytest.raises(SimplennError, match=r"shaped \(3, 63\), but this run reads 8x8 images"):
        run.predict(images.reshape(3, 64)[:, :63])
    with pytest.raises(SimplennError, match="from -1 to 255"):
        run.predict(np.where(images == 0, -1, images.astype("float32")))
    np.testing.assert_array_equal(run.predict(images.astype("float32")), run.predict(images))


def test_a_path_run_is_found_from_any_folder_and_checked_when_moved(digits, tmp_path, capsys, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.chdir(home)
    write_csv(home / "train.csv", digits)
    train("train.csv", home / "run")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    accuracy = load_run(home / "run").evaluate().accuracy
    assert main(["evaluate", str(home / "run"), "--json", str(elsewhere / "scores.json")]) == 0
    assert json.loads((elsewhere / "scores.json").read_text())["accuracy"] == accuracy
    moved = tmp_path / "moved.csv"
    (home / "train.csv").rename(moved)
    capsys.readouterr()
    assert main(["evaluate", str(home / "run")]) == 2
    assert error_message(capsys.readouterr().err) == (
        f"the run's dataset is not at {home / 'train.csv'}, where it trained; give its new place with --dataset "
        "(in Python, load_run's dataset=)")
    assert load_run(home / "run", dataset=str(moved)).evaluate().accuracy == accuracy
    changed = tmp_path / "changed.csv"
    changed.write_text(moved.read_text().replace("\n0,", "\n1,", 1))
    with pytest.raises(SimplennError, match=r"changed.csv is not the data the run trained on \(.*train.csv\): its sha256 is "):
        load_run(home / "run", dataset=str(changed))


def test_a_run_on_rows_of_features_refuses_image_files(tmp_path, capsys):
    rng = np.random.default_rng(0)
    rows = np.column_stack([np.arange(200) % 2, rng.integers(0, 256, (200, 5))])
    np.savetxt(tmp_path / "rows.csv", rows, fmt="%d", delimiter=",")
    train(tmp_path / "rows.csv", tmp_path / "run")
    assert load_run(tmp_path / "run").contract.kind == "features"
    Image.new("L", (5, 1)).save(tmp_path / "x.png")
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "run"), str(tmp_path / "x.png")]) == 2
    assert error_message(capsys.readouterr().err) == (
        "this run reads rows of 5 features, not images; give its rows as a CSV or a .npy")


def test_the_contract_round_trips_and_refuses_a_mangled_one():
    contract = InputContract("image", (28, 28), "none", "mnist", {"name": "mnist"})
    assert InputContract.from_dict(json.loads(json.dumps(contract.to_dict())), "data.json") == contract
    with pytest.raises(SimplennError, match='field input.recipe must be one of .*, found "photo"'):
        InputContract.from_dict({**contract.to_dict(), "recipe": "photo"}, "data.json")


def test_test_split_0_trains_on_every_example_and_says_no_test_score_follows(digits, tmp_path, capsys):
    csv = write_csv(tmp_path / "train.csv", digits)
    code = main(["train", "--preset", "fixed", "--dataset", str(csv), "--epochs", "2", "--no-xla",
                 "--test-split", "0", "--run-dir", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert code == 0 and "no test split: trained on every example (--test-split 0), so no test score follows" in out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["test_accuracy"] is None and summary["test_scores"] is None
    run = load_run(tmp_path / "run")  # and it loads, and predicts, as any run does
    assert run.predict(digits[0][:3]).shape == (3,)
    assert main(["evaluate", str(tmp_path / "run")]) == 2
    assert "has no test split to score; score it on a catalogue dataset of its image size with --dataset NAME" in error_message(capsys.readouterr().err)
    assert main(["evaluate", str(tmp_path / "run"), "--dataset", "digits", "--json", str(tmp_path / "digits.json")]) == 0
    assert json.loads((tmp_path / "digits.json").read_text())["dataset"] == "digits"


def test_test_split_on_a_catalogue_dataset_is_refused_not_ignored(tmp_path, capsys):
    """digits and the IDX catalogue come split: a --test-split there would change nothing, so it is refused."""
    from simplenn.config import preset
    from simplenn.runs.experiment import train_and_evaluate

    for split in ("0", "0.3"):
        assert main(["train", "--dataset", "digits", "--test-split", split, "--run-dir", str(tmp_path / "run")]) == 2
        assert error_message(capsys.readouterr().err) == (
            "digits comes with its own test split, so --test-split is not used; drop it (it holds out part of data "
            "given by path: one CSV or one folder of class folders)")
    with pytest.raises(SimplennError, match="digits comes with its own test split"):
        train_and_evaluate(preset("fixed").replace(test_split=0.0))
    assert not (tmp_path / "run").exists()


def test_export_takes_its_format_from_the_suffix_and_refuses_a_contradiction(digits_run, tmp_path, capsys):
    assert main(["export", str(digits_run), str(tmp_path / "m.tflite")]) == 0
    assert (tmp_path / "m.tflite").is_file() and "TFLite model written" in capsys.readouterr().out
    assert main(["export", str(digits_run), str(tmp_path / "n.tflite"), "--format", "saved_model"]) == 2
    assert "ends in .tflite but --format saved_model writes a folder" in error_message(capsys.readouterr().err)
    assert not (tmp_path / "n.tflite").exists()


def test_compare_writes_only_where_out_says(digits_run, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(digits_run, other)
    before = sorted(p.relative_to(digits_run) for p in digits_run.rglob("*"))
    assert main(["compare", str(digits_run), str(other)]) == 0
    assert "written" not in capsys.readouterr().out
    assert sorted(p.relative_to(digits_run) for p in digits_run.rglob("*")) == before
    assert main(["compare", str(digits_run), str(other), "--out", str(tmp_path / "curves.png")]) == 0
    assert (tmp_path / "curves.png").is_file()


@pytest.mark.slow  # every figure and the report
def test_plot_and_report_take_dataset_for_a_moved_run(digits, tmp_path, capsys):
    write_npz(tmp_path / "digits.npz", digits)
    train(tmp_path / "digits.npz", tmp_path / "run")
    (tmp_path / "digits.npz").rename(tmp_path / "moved.npz")
    capsys.readouterr()
    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "r.html")]) == 2
    assert "the run's dataset is not at" in error_message(capsys.readouterr().err)
    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "r.html"),
                 "--dataset", str(tmp_path / "moved.npz")]) == 0
    assert main(["plot", str(tmp_path / "run"), "--out", str(tmp_path / "figures"),
                 "--dataset", str(tmp_path / "moved.npz")]) == 0


def test_json_is_a_path_or_a_dash_for_standard_output_in_every_command(digits_run, tmp_path, capsys):
    assert main(["evaluate", str(digits_run), "--json", "-"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["run_dir"] == str(digits_run) and 0 <= scores["accuracy"] <= 1
    before = (digits_run / "evaluation.json").read_text() if (digits_run / "evaluation.json").exists() else None
    assert main(["evaluate", str(digits_run), "--json", str(tmp_path / "scores.json")]) == 0
    assert json.loads((tmp_path / "scores.json").read_text())["accuracy"] == scores["accuracy"]
    after = (digits_run / "evaluation.json").read_text() if (digits_run / "evaluation.json").exists() else None
    assert after == before  # written where --json said, and nowhere else


def test_an_old_runs_implied_contract_follows_its_config_not_a_guess():
    from simplenn.config import preset
    from simplenn.runs.contract import implied_contract

    fixed = preset("fixed")
    assert implied_contract(fixed.replace(dataset="fashion-mnist"), (28, 28)).recipe == "fashion-mnist"
    assert implied_contract(fixed.replace(dataset="kmnist"), (28, 28)).recipe == "mnist"
    by_path = implied_contract(preset("blog").replace(dataset="kaggle/train.csv"), (28, 28))
    assert (by_path.recipe, by_path.scaling, by_path.source) == ("resize", "none", {"path": "kaggle/train.csv", "sha256": None})
    assert implied_contract(fixed.replace(dataset="rows.csv"), (1, 5)).recipe == "none"


def test_recipe_named_by_the_user_replaces_the_recorded_one_for_image_files_only(digits, tmp_path, capsys):
    from simplenn.images.photos import draw_digit

    csv = write_csv(tmp_path / "train.csv", digits)
    train(csv, tmp_path / "run")
    drawn = tmp_path / "seven.png"
    draw_digit("7", size=200, thickness=16).save(drawn)
    assert main(["predict", str(tmp_path / "run"), str(drawn), "--save-input", str(tmp_path / "resized")]) == 0
    assert main(["predict", str(tmp_path / "run"), str(drawn), "--recipe", "digits",
                 "--save-input", str(tmp_path / "digits")]) == 0
    capsys.readouterr()
    run = load_run(tmp_path / "run")
    from simplenn.images.preprocessing import preprocess, style_of

    resized, fitted = preprocess(drawn, style_of(run)), preprocess(drawn, style_of(run, "digits"))
    assert resized.mean() > 128  # grey and resized only: the white paper stays white
    assert fitted.mean() < 128 and (fitted[0].any() or fitted[-1].any())  # inverted, and fills the 8x8 frame
    assert main(["predict", str(tmp_path / "run"), str(csv), "--recipe", "mnist"]) == 2
    assert "a CSV or .npy already holds them, drop --recipe" in error_message(capsys.readouterr().err)


def test_doctor_json_writes_the_file_it_is_given(tmp_path, capsys, monkeypatch):
    from simplenn import doctor

    monkeypatch.setattr(doctor, "CHECKS", (lambda: doctor.Check("python", "ok", "Python 3", ""),))
    assert main(["doctor", "--json", str(tmp_path / "doctor.json")]) == 0
    assert json.loads((tmp_path / "doctor.json").read_text())["checks"][0]["name"] == "python"
    assert f"checks written to {tmp_path / 'doctor.json'}" in capsys.readouterr().out


def test_a_class_folder_run_reads_a_users_files_with_the_reader_that_read_its_training_images(
        digits, tmp_path, capsys):
    """RGBA PNGs of several sizes, paper transparent: training reads them grey (alpha dropped)
    and resized; `predict` and `serve` must see the very same pixels, not a flattened photo."""
    from starlette.testclient import TestClient

    from simplenn.datasets.image_folder import read_class_folders
    from simplenn.serving import server
    from simplenn.serving.prediction import predict_images

    x_train, y_train, *_ = digits
    folder = tmp_path / "folders"
    for i, (image, label) in enumerate(zip(x_train[:300], y_train[:300])):
        rgba = np.stack([image, image, image, np.where(image > 0, 255, 0).astype(np.uint8)], axis=-1)
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgba, mode="RGBA").resize((8 + i % 23, 8 + i % 17)).save(folder / str(label) / f"{i:04d}.png")
    pixels, _, _ = read_class_folders(folder, 8)
    files = sorted(folder.glob("*/*.png"))  # the order read_class_folders reads them in
    for path, seen in zip(files[:5], pixels):  # the reader is Pillow's grey, then a bilinear resize: nothing else
        with Image.open(path) as image:
            expected = np.asarray(image.convert("L").resize((8, 8), Image.Resampling.BILINEAR))
        np.testing.assert_array_equal(seen, expected)
    train(folder, tmp_path / "run")
    run = load_run(tmp_path / "run")
    predicted = predict_images(run, files[:N_PREDICTED])
    np.testing.assert_array_equal(np.stack([p.seen for p in predicted]), pixels[:N_PREDICTED])
    with TestClient(server.create_app(run), base_url="http://localhost") as client:
        for path, expected in zip(files[:3], pixels):
            body = client.post("/api/image", content=path.read_bytes()).json()
            np.testing.assert_array_equal(np.array(body["seen"], dtype=np.uint8), expected)


@pytest.fixture(scope="module")
def moved_run(digits, tmp_path_factory):
    """A run trained on a .npz whose file was then moved, and a changed copy of that file."""
    home = tmp_path_factory.mktemp("moved")
    trained_on = write_npz(home / "digits.npz", digits)
    train(trained_on, home / "run")
    moved = home / "elsewhere" / "digits.npz"
    moved.parent.mkdir()
    trained_on.rename(moved)
    x_train, y_train, x_test, y_test = digits
    changed = write_npz(home / "changed.npz", (x_train, (y_train + 1) % 10, x_test, y_test))
    return home / "run", trained_on, moved, changed


def mismatch(changed, trained_on) -> str:
    found, recorded = dataset_sha256(changed), dataset_sha256(trained_on.parent / "elsewhere" / "digits.npz")
    return (f"{changed} is not the data the run trained on ({trained_on}): its sha256 is {found[:12]}..., "
            f"data.json records {recorded[:12]}...; give that data unchanged, or train a new run on this one")


@pytest.mark.parametrize("command", ["evaluate", "plot", "report"])
def test_dataset_given_to_a_moved_run_is_checked_against_its_recorded_hash(command, moved_run, tmp_path, capsys,
                                                                          monkeypatch):
    run_dir, trained_on, moved, changed = moved_run
    monkeypatch.chdir(tmp_path)  # from another folder than the one it trained in
    out = {"evaluate": ["--json", str(tmp_path / "scores.json")], "plot": ["--out", str(tmp_path / "figures")],
           "report": ["--out", str(tmp_path / "report.html")]}[command]
    written = tmp_path / out[1]
    capsys.readouterr()
    assert main([command, str(run_dir), *out]) == 2
    assert error_message(capsys.readouterr().err) == (
        f"the run's dataset is not at {trained_on}, where it trained; give its new place with --dataset "
        "(in Python, load_run's dataset=)")
    assert main([command, str(run_dir), *out, "--dataset", str(changed)]) == 2
    assert error_message(capsys.readouterr().err) == mismatch(changed, trained_on)
    assert main([command, str(run_dir), *out, "--dataset", str(tmp_path / "nowhere.npz")]) == 2
    assert error_message(capsys.readouterr().err) == (
        f"there is nothing at {tmp_path / 'nowhere.npz'}; give the folder or file the run's data is in now")
    assert not written.exists()  # nothing written by a refusal
    assert main([command, str(run_dir), *out, "--dataset", str(moved)]) == 0
    assert written.exists()


def test_load_run_and_its_evaluate_check_a_dataset_path_and_an_old_run_is_taken_at_its_word(moved_run, tmp_path,
                                                                                         monkeypatch):
    run_dir, trained_on, moved, changed = moved_run
    accuracy = load_run(run_dir, dataset=str(moved)).evaluate().accuracy
    assert load_run(run_dir).evaluate(str(moved)).accuracy == accuracy
    for check in (lambda: load_run(run_dir, dataset=str(changed)), lambda: load_run(run_dir).evaluate(str(changed))):
        with pytest.raises(SimplennError) as refused:
            check()
        assert str(refused.value) == mismatch(changed, trained_on)
    # A catalogue dataset is other data to score on, whatever the run trained on: its test split was never seen.
    assert load_run(run_dir).evaluate("digits").dataset == "digits"
    old = tmp_path / "old"  # a run recorded before data.json held its contract: no hash to check
    shutil.copytree(run_dir, old)
    facts = json.loads((old / "data.json").read_text())
    del facts["input"]
    (old / "data.json").write_text(json.dumps(facts))
    assert load_run(old).contract.source == {"path": str(trained_on), "sha256": None}
    assert load_run(old, dataset=str(changed)).evaluate().dataset == str(changed)
    from simplenn.runs.contract import implied_contract, run_dataset

    monkeypatch.chdir(tmp_path)  # an older run still kept the path as typed, relative to where it trained
    with pytest.raises(SimplennError) as refused:
        run_dataset(implied_contract(load_run(old).config.replace(dataset="digits.npz"), (8, 8)))
    assert str(refused.value) == (
        f"the run recorded its dataset as digits.npz, relative to the folder it was trained in, and it is not at "
        f"{tmp_path / 'digits.npz'}; run from that folder, or give its place with --dataset (in Python, load_run's "
        "dataset=)")
    assert main(["evaluate", str(old), "--dataset", str(changed), "--json", str(tmp_path / "old.json")]) == 0


def test_compare_reads_only_the_runs_records_so_moved_data_does_not_matter(moved_run, tmp_path, capsys, monkeypatch):
    run_dir, *_ = moved_run
    monkeypatch.chdir(tmp_path)
    shutil.copytree(run_dir, tmp_path / "copy")
    assert main(["compare", str(run_dir), "copy", "--out", "curves.png"]) == 0
    assert (tmp_path / "curves.png").is_file()


def test_a_kaggle_users_walk_from_another_folder_writes_only_what_is_named(digits, tmp_path, capsys, monkeypatch):
    """train.csv given as typed (a relative path); predict on test.csv; plot and report from another folder."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.chdir(home)
    write_csv(home / "train.csv", digits)
    np.savetxt(home / "test.csv", digits[2][:20].reshape(20, 64), fmt="%d", delimiter=",",
               header=",".join(f"pixel{i}" for i in range(64)), comments="")
    train("train.csv", "run")
    before = sorted(home.rglob("*"))
    capsys.readouterr()
    assert main(["predict", "run", "test.csv", "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 20 and lines[0].startswith("test.csv row 1 ") and lines[0].count("%") == 2
    assert sorted(home.rglob("*")) == before  # lines on standard output, no predictions file unasked
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["plot", str(home / "run"), "--out", "figures"]) == 0
    assert main(["report", str(home / "run"), "--out", "report.html"]) == 0
    assert sorted(p.name for p in elsewhere.iterdir()) == ["figures", "report.html"]
    assert sorted(home.rglob("*")) == before


def test_a_folder_that_changed_is_refused_with_what_differs(digits, tmp_path):
    """A file added to (or changed in) the data a run trained on: the line says how it differs."""
    from simplenn.runs.contract import run_dataset

    folder = write_idx(tmp_path / "digits", digits)
    contract = InputContract("image", (8, 8), "divide_by_255", "resize",
                             {"path": str(folder), **dataset_fingerprint(folder)})
    assert contract.source["files"] == 4 and run_dataset(contract) == str(folder)
    (folder / "notes.txt").write_text("where these came from\n")
    with pytest.raises(SimplennError) as refused:
        run_dataset(contract)
    found, recorded = dataset_fingerprint(folder), contract.source
    assert str(refused.value) == (  # told from the count and size, without reading the files
        f"{folder} is not the data the run trained on ({folder}): it holds 5 files of "
        f"{found['bytes'] / 1024:.1f} KiB, the run's data held 4 files of {recorded['bytes'] / 1024:.1f} KiB; "
        "give that data unchanged, or train a new run on this one")
    (folder / ".DS_Store").write_bytes(b"\0")  # hidden files are not the data
    (folder / "notes.txt").unlink()
    assert run_dataset(contract) == str(folder)
    for i in range(120):  # a folder far larger than the data: not walked to its end, nor hashed
        (folder / f"more-{i}").mkdir()
        (folder / f"more-{i}" / "x.bin").write_bytes(b"x")
    with pytest.raises(SimplennError, match=r"it holds more than 108 files, the run's data held 4 files of .*; give that"):
        run_dataset(contract)
    for i in range(120):
        (folder / f"more-{i}" / "x.bin").unlink()
        (folder / f"more-{i}").rmdir()
    first = sorted(folder.glob("[!.]*"))[0]
    first.write_bytes(bytes(255 - b for b in first.read_bytes()))  # the same count and size, other bytes: the hash tells
    with pytest.raises(SimplennError, match=r"its sha256 is .*, data.json records "):
        run_dataset(contract)
    first.write_bytes(bytes(255 - b for b in first.read_bytes()))
    assert run_dataset(contract) == str(folder)
