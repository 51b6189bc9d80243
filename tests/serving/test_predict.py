"""`simplenn predict`: top classes for image files and folders, the saved view, one-line errors."""

import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from simplenn.cli import main
from simplenn.datasets import load_dataset
from simplenn.images.photos import draw_digit
from cli_messages import error_message


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Three test digits, enlarged and printed dark on white, with their labels."""
    _, (x_test, y_test) = load_dataset("digits")
    folder = tmp_path_factory.mktemp("photos")
    for i in range(3):
        ink = np.kron(x_test[i], np.ones((20, 20), np.uint8))  # (160, 160)
        Image.fromarray(255 - ink).save(folder / f"{i}-label{y_test[i]}.png")
    return folder, [str(y) for y in y_test[:3]]


def test_predict_lists_top_k_for_a_folder_and_saves_the_view(digits_run, photos, tmp_path, capsys):
    folder, labels = photos
    code, out, err = run(capsys, "predict", digits_run, folder, "--top-k", "2", "--save-input", tmp_path / "seen")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 4 and lines[-1] == f"3 network view(s) written to {tmp_path / 'seen'}"
    for line, label in zip(lines, labels):
        assert line.count("%") == 2 and line.split()[1] == label  # the likeliest class is the label
    view = Image.open(tmp_path / "seen" / "0-label{}.png.seen.png".format(labels[0]))
    assert view.height == 280 and view.width > 2 * 280  # the original beside the enlarged 8x8 view


def test_predict_json_has_scores_that_sum_to_one(digits_run, photos, capsys):
    folder, labels = photos
    code, out, _ = run(capsys, "predict", digits_run, folder / f"0-label{labels[0]}.png", "--json", "-", "--top-k", "3")
    assert code == 0
    (result,) = json.loads(out)
    assert len(result["top"]) == 3 and result["top"][0]["class"] == labels[0]
    assert abs(sum(result["probabilities"]) - 1) < 1e-4  # the fixed preset's softmax


def test_predict_reads_a_drawn_digit(digits_run, tmp_path, capsys):
    draw_digit("3", size=300, thickness=24).save(tmp_path / "three.jpg", quality=85)
    code, out, _ = run(capsys, "predict", digits_run, tmp_path / "three.jpg", "--top-k", "1")
    assert code == 0 and out.split()[1] == "3"


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n broken"), "cannot read .*bad.png as an image"),
    (lambda p: Image.new("L", (40, 40), 255).save(p, format="PNG"), "found no ink"),
    (lambda p: None, "bad.png does not exist"),
])
def test_unreadable_or_empty_image_is_one_line_exit_2(make, message, digits_run, tmp_path, capsys):
    make(tmp_path / "bad.png")
    code, out, err = run(capsys, "predict", digits_run, tmp_path / "bad.png")
    assert code == 2 and out == "" and bool(error_message(err))
    assert err.startswith("simplenn: error: ")
    assert re.search(message, error_message(err)), err


def test_corrupt_run_is_one_line_exit_2(digits_run, photos, tmp_path, capsys):
    broken = tmp_path / "run"
    shutil.copytree(digits_run, broken)
    for data in (broken / "checkpoints").glob("*.data-*"):
        data.write_bytes(b"\0" * 64)
    code, out, err = run(capsys, "predict", broken, photos[0])
    assert code == 2 and out == "" and bool(error_message(err)) and "cannot load run" in error_message(err)
    (broken / "config.json").write_text("{not json")
    code, _, err = run(capsys, "predict", broken, photos[0])
    assert code == 2 and bool(error_message(err)) and "cannot load run" in error_message(err)
