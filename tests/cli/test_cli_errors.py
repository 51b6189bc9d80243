"""Bad input to every `simplenn` command exits 2 with one message on stderr, never a traceback.

The message is one line, or, when long, a first line and indented details
(`errors.error_text`); `cli_messages.error_message` checks that shape and joins it back. Each row is a
command line and a piece of the message it must print. `{file}`, `{folder}`
and the other names in braces are paths made by the `paths` fixture. Rows that would
train or benchmark before failing are left out: they would cost minutes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli_messages import error_message
from simplenn.cli.program import build_parser, main
from simplenn.errors import WRAP_AFTER, error_text

READ_ONLY_FOLDER_FOR_ROOT = Path("/sys")  # root may write anywhere else, permissions or not

ROWS = [
    # the command itself
    (["nope"], "argument COMMAND: invalid choice: 'nope'"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    # train: types and ranges
    (["train", "--epochs", "abc"], "argument --epochs: must be a whole number, got 'abc'"),
    (["train", "--epochs", "0"], "argument --epochs: must be a positive whole number, got 0"),
    (["train", "--lr", "-1"], "argument --lr: must be a positive number, got -1"),
    (["train", "--lr", "inf"], "argument --lr: must be a positive number, got inf"),
    (["train", "--dropout", "1.5"], "argument --dropout: must be in [0, 1), got 1.5"),
    (["train", "--shift-pixels", "-1"], "argument --shift-pixels: must be 0 or more, got -1"),
    (["train", "--shift-pixels", "3"],
     "--shift-pixels 3 moves digits's 8x8 images by more than a quarter of their size; use at most 2"),
    (["train", "--batch-size", "-3"], "argument --batch-size: must be 0 or more, got -3"),
    (["train", "--batch-size", "ten"], "argument --batch-size: must be a whole number, got 'ten'"),
    (["train", "--max-to-keep", "0"], "argument --max-to-keep: must be a positive whole number, got 0"),
    (["train", "--activation", "nope"], "argument --activation: invalid choice: 'nope'"),
    (["train", "--optimizer", "rmsprop"], "argument --optimizer: invalid choice: 'rmsprop'"),
    (["train", "--precision", "float16"], "argument --precision: invalid choice: 'float16'"),
    (["train", "--precision", "mixed_bfloat16", "--grad", "manual"],
     "argument --precision: mixed_bfloat16 needs --grad tape: the hand-written gradients are float32 only"),
    (["train", "--preset", "nope"], "unknown preset 'nope'; choose one of blog, fixed, best"),
    (["train", "--layers", "1,x"], "--layers '1,x' is not a comma-separated list of integers"),
    (["train", "--layers", "64,0,10"], "argument --layers: must be positive integers, got 0 in 64,0,10"),
    (["train", "--seed", str(2**63)], f"argument --seed: must be at most {2**63 - 1:,}, got {2**63}"),
    (["train", "--epochs", "10000000"], "argument --epochs: must be at most 100,000, got 10000000"),
    (["train", "--lr", "nan"], "argument --lr: must be a positive number, got nan"),
    (["train", "--layers", "10,10"], "--layers starts with 10 inputs but digits has 64 features per image"),
    (["train", "--patience", "3"], "argument --patience: needs a validation split for early stopping"),
    (["train", "--bogus"], "unrecognized arguments: --bogus"),
    # train: paths
    (["train", "--dataset", "nope"], "'nope': expected a dataset name (mnist, fashion-mnist, kmnist, digits, emnist-letters"),
    (["train", "--dataset", "{missing}"], "expected a dataset name"),
    (["train", "--dataset", "{folder}"], "expected the four MNIST-format files"),
    (["train", "--dataset", "{file}"], "expected a .npz (zip) archive, found a damaged or different file"),
    (["train", "--dataset", "{unreadable}"], "{unreadable}: cannot read the file (Permission denied)"),
    (["train", "--run-dir", "{file}"], "run directory {file} is a file; choose another --run-dir"),
    (["train", "--run-dir", "{file}/run"], "cannot create run directory {file}/run: {file} is a file, not a folder"),
    (["train", "--run-dir", "{read_only}/run"], "cannot create run directory {read_only}/run: "),
    (["train", "--resume", "{missing}"], "cannot resume {missing}: it does not exist"),
    (["train", "--resume", "{file}"], "cannot resume {file}: it is not a folder"),
    (["train", "--resume", "{folder}"], "cannot resume {folder}: it holds no config.json"),
    (["train", "--resume", "{garbled_run}"], "cannot read {garbled_run}/config.json: Expecting value"),
    (["train", "--resume", "{mistyped_run}"], "{mistyped_run}/config.json: config field epochs must be a whole number, got 'five'"),
    (["train", "--resume", "{folder}", "--lr", "0.1", "--preset", "blog"],
     "--resume goes on with the config stored in {folder}/config.json; drop --preset, --lr"),
    (["train", "--resume", "{folder}", "--no-flip-images"],
     "--resume goes on with the config stored in {folder}/config.json; drop --flip-images/--no-flip-images"),
    # show
    (["show", "--index", "-1"], "argument --index: must be 0 or more, got -1"),
    (["show", "--index", "abc"], "argument --index: must be a whole number, got 'abc'"),
    (["show", "--index", "99999"], "--index 99999 is out of range; digits has 1347 training images"),
    (["show", "--dataset", "{missing}"], "expected a dataset name"),
    (["show", "--out", "{folder}"], "cannot write {folder}: it is a folder"),
    (["show", "--out", "{file}/sample.png"], "cannot write {file}/sample.png"),
    # data
    (["data"], "the following arguments are required: action"),
    (["data", "nope"], "argument action: invalid choice: 'nope'"),
    (["data", "fetch", "nope"], "unknown dataset 'nope'"),
    (["data", "verify", "nope"], "unknown dataset 'nope'"),
    (["data", "fetch", "mnist", "--timeout", "0"], "argument --timeout: must be a positive number, got 0"),
    (["data", "import", "mnist", "{missing}"], "{missing}: expected a file or a folder holding mnist's files"),
    (["data", "import", "mnist", "{file}"], "{file}: expected one of mnist's files"),
    # diagnose
    (["diagnose", "--steps", "0"], "argument --steps: must be a positive whole number, got 0"),
    (["diagnose", "--lr", "x"], "argument --lr: must be a number, got 'x'"),
    (["diagnose", "--run-dir", "{missing}"], "{missing}/config.json does not exist"),
    (["diagnose", "--dataset", "{file}"], "expected a .npz (zip) archive"),
    # ablate
    (["ablate", "--epochs", "0"], "argument --epochs: must be a positive whole number, got 0"),
    (["ablate", "--seed", "x"], "argument --seed: must be a whole number, got 'x'"),
    (["ablate", "--dataset", "{missing}"], "expected a dataset name"),
    # bench
    (["bench", "--epochs", "0"], "argument --epochs: must be a positive whole number, got 0"),
    (["bench", "--seed", "-1"], "argument --seed: must be 0 or more, got -1"),
    (["bench", "--dataset", "{missing}"], "expected a dataset name"),
    # evaluate, plot, report, compare (tests/runs/test_load_run.py damages real runs)
    (["evaluate"], "the following arguments are required: RUN"),
    (["evaluate", "{missing}"], "cannot load run {missing}: it does not exist"),
    (["evaluate", "{folder}"], "cannot load run {folder}: it holds no config.json"),
    (["evaluate", "{garbled_run}"], "cannot load run {garbled_run}: cannot read {garbled_run}/config.json: Expecting value"),
    (["evaluate", "{folder}", "--json", "{folder}"], "cannot write {folder}: it is a folder"),
    (["predict", "{folder}"], "the following arguments are required: IMAGE"),
    (["predict", "{folder}", "{file}", "--out", "{folder}"], "cannot write {folder}: it is a folder"),
    (["plot", "{file}"], "cannot load run {file}: it is not a folder"),
    (["report", "{folder}", "--lang", "fr"], "argument --lang: invalid choice: 'fr'"),
    (["report", "{mistyped_run}"], "cannot load run {mistyped_run}: {mistyped_run}/config.json: config field epochs must be a whole number, got 'five'"),
    (["compare", "{folder}"], "compare needs at least two run folders"),
    (["compare", "{folder}", "{missing}"], "cannot compare {folder}: it holds no config.json"),
    # predict, export, serve
    (["predict", "{missing}", "{file}"], "cannot load run {missing}: it does not exist"),
    (["predict", "{garbled_run}", "{file}"], "cannot load run {garbled_run}: cannot read"),
    (["predict", "{folder}", "{file}", "--top-k", "0"], "argument --top-k: must be a positive whole number, got 0"),
    (["export", "{missing}", "{folder}/model"], "cannot load run {missing}: it does not exist"),
    (["export", "{folder}", "{folder}/model", "--format", "onnx"], "argument --format: invalid choice: 'onnx'"),
    (["serve", "{folder}"], "cannot load run {folder}: it holds no config.json"),
    (["serve", "{folder}", "--port", "0"], "argument --port: must be a positive whole number, got 0"),
    # lab
    (["lab", "--port", "0"], "argument --port: must be a positive whole number, got 0"),
    (["lab", "--port", "70000"], "--port must be 1 to 65535, got 70000"),
    (["lab", "--runs-dir", "{file}"], "argument --runs-dir: cannot write into {file}: it is a file; give a folder"),
    (["lab", "--max-memory", "lots"], "argument --max-memory:"),
    # doctor
    (["doctor", "--bogus"], "unrecognized arguments: --bogus"),
    (["doctor", "--json"], "argument --json: expected one argument"),
]


@pytest.fixture
def paths(tmp_path) -> dict[str, str]:
    file = tmp_path / "notes.txt"
    file.write_text("not a dataset\n")
    folder = tmp_path / "folder"
    folder.mkdir()
    garbled_run, mistyped_run = tmp_path / "garbled", tmp_path / "mistyped"
    for run, text in ((garbled_run, "not json"), (mistyped_run, '{"epochs": "five"}')):
        run.mkdir()
        (run / "config.json").write_text(text)
    read_only = READ_ONLY_FOLDER_FOR_ROOT
    if os.geteuid() != 0:
        read_only = tmp_path / "read-only"
        read_only.mkdir(mode=0o500)
    unreadable = tmp_path / "unreadable.npz"
    unreadable.write_bytes(b"PK")
    unreadable.chmod(0)
    return {"file": str(file), "folder": str(folder), "missing": str(tmp_path / "missing"),
            "garbled_run": str(garbled_run), "mistyped_run": str(mistyped_run), "read_only": str(read_only),
            "unreadable": str(unreadable)}


@pytest.mark.parametrize("argv, message", ROWS, ids=[" ".join(argv) for argv, _ in ROWS])
def test_bad_input_exits_2_with_one_line(argv, message, paths, capsys, monkeypatch, tmp_path):
    if "{unreadable}" in argv and os.geteuid() == 0:
        pytest.skip("root reads every file")
    monkeypatch.chdir(tmp_path)  # where a run or a figure would go by default
    status = main([arg.format(**paths) for arg in argv])
    err = capsys.readouterr().err
    assert status == 2
    assert message.format(**paths) in error_message(err)
    assert Path(paths["file"]).read_text() == "not a dataset\n"  # a refused command writes nothing over it


def test_every_command_has_rows():
    [commands] = [action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction)]
    covered = {argv[0] for argv, _ in ROWS if argv}
    assert set(commands.choices) <= covered, f"add bad-input rows for {set(commands.choices) - covered}"


def test_the_installed_command_exits_2_without_a_traceback():
    done = subprocess.run([sys.executable, "-m", "simplenn.cli", "train", "--epochs", "abc"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == ("simplenn: error: argument --epochs: must be a whole number, got 'abc' "
                           "(see `simplenn train --help`)\n")


def test_a_long_message_is_a_short_first_line_and_indented_details():
    message = ("mnist is not on this machine and could not be downloaded; put mnist.npz (sha256 "
               "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1) in /home/me/.keras/datasets; "
               "tried https://a.example/mnist.npz: cannot connect (timed out; 2 tries)")
    assert len(message) > WRAP_AFTER
    assert error_text(message) == (
        "simplenn: error: mnist is not on this machine and could not be downloaded;\n"
        "  put mnist.npz (sha256 731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1) in "
        "/home/me/.keras/datasets;\n"
        "  tried https://a.example/mnist.npz: cannot connect (timed out; 2 tries)"
    )
    assert error_message(error_text(message) + "\n") == message
    assert error_text("short; and plain") == "simplenn: error: short; and plain"


def test_no_command_prints_the_usage_with_every_command(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    assert out.startswith("usage: simplenn [-h] [--version] COMMAND ...")
    [commands] = [action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction)]
    for name, parser in commands.choices.items():
        assert f"    {name} " in out


def test_version_names_simplenn_and_tensorflow(capsys):
    from importlib import metadata

    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out == (
        f"simplenn {metadata.version('simplenn-tf')} (TensorFlow {metadata.version('tensorflow')})\n"
    )


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return actions[0].choices if actions else {}


def every_command(parser=None, prefix=()):
    """(words, parser) for every command and sub-command, e.g. (("data", "fetch"), its parser)."""
    for name, sub in subparsers(parser or build_parser()).items():
        yield (*prefix, name), sub
        yield from every_command(sub, (*prefix, name))


@pytest.mark.parametrize("words, parser", list(every_command()), ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_every_command_has_two_examples_that_parse(words, parser):
    examples = [line.strip() for line in parser.format_help().split("examples:\n")[1].splitlines()]
    assert len(examples) >= 2, examples
    for example in examples:
        argv = example.split()
        if "=" in argv[0]:  # an environment variable set for the command
            argv = argv[1:]
        if ">" in argv:  # the shell's redirection
            argv = argv[:argv.index(">")]
        assert argv[:1 + len(words)] == ["simplenn", *words], example
        build_parser().parse_args(argv[1:])  # the example is a valid command line


def test_diagnose_lists_only_the_flags_a_few_steps_use():
    diagnose_help = subparsers(build_parser())["diagnose"].format_help()
    train_help = subparsers(build_parser())["train"].format_help()
    for flag in ("--patience", "--checkpoint-every-steps", "--max-to-keep", "--stop-on-nan"):
        assert flag in train_help and flag not in diagnose_help
    for flag in ("--lr", "--layers", "--dataset", "--batch-size", "--epochs", "--seed", "--preset"):
        assert flag in diagnose_help


def test_train_help_groups_the_flags_and_shows_the_presets_values():
    train_help = subparsers(build_parser())["train"].format_help()
    headings = [line[:-1] for line in train_help.splitlines() if line.endswith(":") and not line.startswith(" ")]
    assert headings[:7] == ["options", "data", "network", "optimisation", "regularisation", "run", "where the run goes"]
    assert "(blog 0.01, fixed 0.005, best 0.001)" in " ".join(train_help.split())


def test_a_reader_that_stops_early_gets_no_traceback():
    # `simplenn data list | head -1` where head has already gone: the output pipe has no reader.
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will read what the program writes
    try:
        done = subprocess.run([sys.executable, "-m", "simplenn.cli", "data", "list"], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == 128 + 13  # as if stopped by SIGPIPE, as `cat` would be
