"""The real `simplenn train` and `show` entry points (bad input: tests/cli/test_cli_errors.py)."""

import json

import pytest

from simplenn.cli.flags import config_from_args
from simplenn.cli.program import build_parser, main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_one_epoch_on_digits_writes_its_summary(tmp_path, capsys):
    code, out, err = run(capsys, "train", "--preset", "fixed", "--dataset", "digits", "--epochs", "1",
                         "--run-dir", str(tmp_path))
    assert code == 0, err
    assert "epoch 1/1  loss " in out and "accuracy score : " in out
    assert "precision" in out and "recall" in out and "f1" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["preset"] == "fixed" and summary["dataset"] == "digits" and summary["epochs"] == 1
    assert summary["config"]["layers"] == [64, 100, 30, 10]  # the preset's 784 inputs fitted to 8x8 digits
    assert 0 < summary["test_accuracy"] <= 1 and summary["train_seconds"] > 0
    assert json.loads((tmp_path / "config.json").read_text())["epochs"] == 1


def test_flags_override_the_preset(tmp_path, capsys):
    code, _, err = run(capsys, "train", "--preset", "blog", "--dataset", "digits", "--layers", "64,20,10",
                       "--epochs", "2", "--lr", "0.001", "--scale-inputs", "--flip-images", "--shift-pixels", "1",
                       "--run-dir", str(tmp_path), "--quiet")
    assert code == 0, err
    config = json.loads((tmp_path / "config.json").read_text())
    assert (config["layers"], config["epochs"], config["lr"], config["scale_inputs"]) == ([64, 20, 10], 2, 0.001, True)
    assert (config["flip_images"], config["shift_pixels"]) == (True, 1)
    assert config["loss"] == "sigmoid"  # the rest stays the post's


@pytest.mark.parametrize(
    "flags, flip, shift",
    [([], False, 0), (["--flip-images", "--shift-pixels", "2"], True, 2), (["--no-flip-images"], False, 0)],
)
def test_augmentation_flags_set_the_config(flags, flip, shift):
    args = build_parser().parse_args(["train", "--preset", "fixed", *flags])
    config = config_from_args(args)
    assert (config.flip_images, config.shift_pixels, config.augments) == (flip, shift, flip or shift > 0)


def test_no_flip_images_turns_off_a_flipping_config():
    flipping = config_from_args(build_parser().parse_args(["train", "--flip-images"]))
    assert flipping.flip_images
    args = build_parser().parse_args(["train", "--no-flip-images"])
    assert not config_from_args(args, base=flipping).flip_images


def test_show_writes_the_posts_figure(tmp_path, capsys):
    out_file = tmp_path / "sample.png"
    code, out, _ = run(capsys, "show", "--dataset", "digits", "--index", "0", "--out", str(out_file))
    assert code == 0 and out_file.stat().st_size > 1000
    assert str(out_file) in out


def test_quiet_prints_only_the_result_and_target_accuracy_checks_it(tmp_path, capsys):
    argv = ["train", "--preset", "fixed", "--dataset", "digits", "--epochs", "2", "--quiet"]
    code, out, err = run(capsys, *argv, "--run-dir", str(tmp_path / "a"), "--target-accuracy", "0.5")
    assert code == 0, err
    assert out.startswith("test accuracy ") and "epoch" not in out and err == ""
    accuracy = json.loads((tmp_path / "a" / "summary.json").read_text())["test_accuracy"]
    code, out, err = run(capsys, *argv, "--run-dir", str(tmp_path / "b"), "--target-accuracy", "0.999")
    assert code == 1  # the run worked and fell short, as a failed test does: not a usage error
    assert err == f"simplenn: error: test accuracy {100 * accuracy:.2f} % is below the target 99.90 %\n"
