"""The adversarial suite, round 3: outputs, inputs and text sinks under hostile paths and names.

    outputs     one rule for every path a command writes: a regular file or a new one; links,
                devices, FIFOs and the records a run needs refused in one line; an existing
                file replaced only with --force; `-` for standard output; colliding names unique
    inputs      only regular files are read: a FIFO named like an image, a CSV or a .npy is
                refused before it is opened (a subprocess with a timeout shows there is no hang)
    text        class names holding terminal escapes, spreadsheet formulas and mathtext reach
                the terminal, the submission CSV and the figures harmless
    readers     CSV and image folders bounded by --max-memory before they read; BOM, the row and
                column of an unreadable number, sub-folders, flat images, 999 classes

Every case checks the one-line message, exit status 2, no traceback, and that the files
around it (the run, a bystander folder) are byte for byte as they were.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cli_messages import error_message, snapshot
from shared_runs import SMALL

from simplenn.cli import main
from simplenn.datasets.image_folder import read_class_folders
from simplenn.errors import SimplennWarning
from simplenn.machine.file_safety import check_output, unique_names
from simplenn.machine.safe_text import spreadsheet_cell, terminal_text

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")
HOSTILE_NAMES = ["=HYPERLINK(\"http://evil\",\"0\")", "\x1b]0;pwned\x07\x1b[2J1", "$\\frac{1}{0}$", "+3", "-4", "@5",
                 "\t6", "\u202e7", "8", "9"]


def refused(argv, capsys) -> str:
    """Run the CLI, assert exit 2 and one clean error, and return the message."""
    status = main([str(arg) for arg in argv])
    message = error_message(capsys.readouterr().err)
    assert status == 2, message
    return message


@pytest.fixture
def run(small_run, tmp_path) -> Path:
    shutil.copytree(small_run, tmp_path / "run", symlinks=True)
    return tmp_path / "run"


@pytest.fixture
def mine(tmp_path) -> Path:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes\n")
    return folder


def digit_png(path: Path, stroke: int = 3) -> Path:
    image = Image.new("L", (40, 40), 255)
    ImageDraw.Draw(image).line([(20, 6), (20, 34)], fill=0, width=stroke)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def digits_csv(path: Path, rows: int = 5) -> Path:
    pixels = np.random.default_rng(0).integers(0, 17, (rows, 64))
    path.write_text(",".join(f"pixel{i}" for i in range(64)) + "\n"
                    + "".join(",".join(map(str, row)) + "\n" for row in pixels))
    return path


# --- outputs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, record", [
    (["evaluate", "{run}", "--json", "{run}/summary.json"], "summary.json"),
    (["report", "{run}", "--out", "{run}/history.json"], "history.json"),
    (["evaluate", "{run}", "--json", "{run}/config.json", "--force"], "config.json"),
    (["report", "{run}", "--out", "{run}/data.json", "--force"], "data.json"),
])
def test_an_output_that_would_destroy_its_own_run_is_refused(argv, record, run, capsys):
    before = snapshot(run)
    message = refused([a.format(run=run) for a in argv], capsys)
    flag = "--json" if "--json" in argv else "--out"
    assert message == (f"argument {flag}: cannot write {run}/{record}: the run in {run} needs it to load; give another "
                       f"file name (see `simplenn {argv[0]} --help`)")
    assert snapshot(run) == before


def test_predict_into_a_record_of_the_run_is_refused_before_it_predicts(run, tmp_path, capsys):
    before = snapshot(run)
    message = refused(["predict", run, digits_csv(tmp_path / "t.csv"), "--out", run / "config.json"], capsys)
    assert message == (f"argument --out: cannot write {run}/config.json: the run in {run} needs it to load; give another "
                       "file name (see `simplenn predict --help`)")
    message = refused(["predict", run, digits_csv(tmp_path / "t.csv"), "--out", run / "checkpoints" / "x.csv"], capsys)
    assert f"the run in {run} needs it to load; give another file name" in message
    assert snapshot(run) == before


@pytest.mark.parametrize("target", ["link", "fifo", "device"])
def test_a_link_a_fifo_or_a_device_is_never_replaced(target, run, mine, tmp_path, capsys):
    if target == "link":
        out = tmp_path / "scores.json"
        out.symlink_to(mine / "notes.txt")
        kind = f"a link to {mine / 'notes.txt'}"
    elif target == "fifo":
        out = tmp_path / "scores.json"
        os.mkfifo(out)
        kind = "a FIFO"
    else:
        out = Path("/dev/null")
        kind = "a device"
    before = snapshot(mine)
    for argv in (["evaluate", run, "--json", out, "--force"], ["report", run, "--out", out, "--force"]):
        message = refused(argv, capsys)
        assert message.startswith(f"argument {argv[2]}: cannot write {out}: it is {kind}, not a regular file")
    assert snapshot(mine) == before
    assert out.is_symlink() or stat.S_ISFIFO(out.lstat().st_mode) or stat.S_ISCHR(out.stat().st_mode)


def test_dev_stdout_is_refused_and_dash_is_standard_output(run, tmp_path, capsys):
    message = refused(["evaluate", run, "--json", "/dev/stdout"], capsys)
    assert message.startswith("argument --json: cannot write /dev/stdout: it is a link")
    assert message.endswith("write to - for standard output (see `simplenn evaluate --help`)")
    assert main(["evaluate", str(run), "--json", "-"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert 0 <= scores["accuracy"] <= 1 and scores["run_dir"] == str(run)
    assert not (tmp_path / "-").exists()


def test_an_existing_file_is_replaced_only_with_force(run, mine, capsys):
    out = mine / "notes.txt"
    message = refused(["evaluate", run, "--json", out], capsys)
    assert message == f"argument --json: {out} already exists; add --force to replace it, or give a new file name"
    assert out.read_text() == "my notes\n"
    assert main(["evaluate", str(run), "--json", str(out), "--force"]) == 0
    assert json.loads(out.read_text())["run_dir"] == str(run)


def test_the_help_names_the_overwrite_convention(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "--force" in capsys.readouterr().out


def test_save_input_never_writes_through_a_planted_link_and_keeps_colliding_names(run, mine, tmp_path, capsys):
    first, second = digit_png(tmp_path / "a" / "x.png"), digit_png(tmp_path / "b" / "x.png", stroke=5)
    seen = tmp_path / "seen"
    seen.mkdir()
    (seen / "x.png.seen.png").symlink_to(mine / "notes.txt")
    before = snapshot(mine)
    message = refused(["predict", run, first, second, "--save-input", seen], capsys)
    assert message == (f"cannot write {seen}/x.png.seen.png: it is a link to {mine}/notes.txt, not a regular file; "
                       "simplenn replaces only regular files, so give a new file name")
    assert snapshot(mine) == before
    (seen / "x.png.seen.png").unlink()
    assert main(["predict", str(run), str(first), str(second), "--save-input", str(seen)]) == 0
    assert "2 network view(s) written" in capsys.readouterr().out
    assert sorted(p.name for p in seen.iterdir()) == ["x-2.png.seen.png", "x.png.seen.png"]
    assert Image.open(seen / "x.png.seen.png").tobytes() != Image.open(seen / "x-2.png.seen.png").tobytes()
    message = refused(["predict", run, first, second, "--save-input", seen], capsys)
    assert message == f"{seen}/x.png.seen.png already exists; add --force to replace it, or give a new file name"
    assert main(["predict", str(run), str(first), str(second), "--save-input", str(seen), "--force"]) == 0


def test_predictions_csv_is_not_overwritten_without_force(run, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("predictions.csv").write_text("my submission\n")
    # predict writes Kaggle's ImageId,Label file only where --out says (the contract), and never over a file
    message = refused(["predict", run, digits_csv(tmp_path / "t.csv"), "--out", "predictions.csv"], capsys)
    assert message == ("argument --out: predictions.csv already exists; add --force to replace it, or give a new "
                       "file name")
    assert Path("predictions.csv").read_text() == "my submission\n"
    assert main(["predict", str(run), str(tmp_path / "t.csv"), "--out", "predictions.csv", "--force"]) == 0
    assert Path("predictions.csv").read_text().startswith("ImageId,Label\n")


def test_compare_refuses_a_linked_figures_folder(run, mine, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(run, other, symlinks=True)
    shutil.rmtree(run / "figures", ignore_errors=True)
    (run / "figures").symlink_to(mine)
    before = snapshot(mine)
    message = refused(["compare", run, other], capsys)
    assert message.startswith(f"run directory {run} holds a link {run}/figures -> {mine}")
    assert snapshot(mine) == before


def test_unique_names_and_the_output_rule_as_functions(tmp_path):
    assert unique_names(["x.png", "x.png", "x.png", "x-2.png"]) == ["x.png", "x-2.png", "x-3.png", "x-2-2.png"]
    assert check_output("-", allow_stdout=True) is None
    assert check_output(tmp_path / "new.json") == tmp_path / "new.json"


# --- inputs ------------------------------------------------------------------------------------


@pytest.mark.slow  # a fresh process each
@pytest.mark.parametrize("name, argv, message", [
    ("seven.png", ["predict", "{run}", "{fifo}"], "cannot read {fifo}: it is a FIFO; simplenn reads only regular files"),
    ("images.npy", ["predict", "{run}", "{fifo}"], "cannot read {fifo}: it is a FIFO; simplenn reads only regular files"),
    ("x_train.npy", ["train", "--dataset", "{folder}", "--run-dir", "{tmp}/r"],
     "cannot read {fifo}: it is a FIFO; simplenn reads only regular files"),
    ("A/a.png", ["train", "--dataset", "{folder}", "--run-dir", "{tmp}/r"],
     "cannot read {fifo}: it is a FIFO; simplenn reads only regular files"),
])
def test_a_fifo_named_like_an_input_is_refused_without_a_hang(name, argv, message, small_run, tmp_path):
    folder = tmp_path / "data"
    fifo = folder / name
    fifo.parent.mkdir(parents=True)
    if name == "A/a.png":
        digit_png(folder / "B" / "b.png")
    if name == "x_train.npy":
        for key in ("y_train", "x_test", "y_test"):
            np.save(folder / f"{key}.npy", np.zeros((4, 8, 8) if key.startswith("x") else 4, np.uint8))
    os.mkfifo(fifo)
    values = dict(run=small_run, fifo=fifo, folder=folder, tmp=tmp_path)
    done = subprocess.run([sys.executable, "-m", "simplenn.cli", *(a.format(**values) for a in argv)],
                          capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=120)
    assert done.returncode == 2, done.stderr
    assert error_message(done.stderr) == message.format(**values)


# --- text at its sinks ---------------------------------------------------------------------------


@pytest.fixture
def hostile_run(run) -> Path:
    facts = json.loads((run / "data.json").read_text())
    facts["class_names"] = HOSTILE_NAMES
    (run / "data.json").write_text(json.dumps(facts))
    return run


def test_class_names_reach_the_terminal_without_control_characters(hostile_run, tmp_path, capsys):
    images = [digit_png(tmp_path / f"\x1b[31m{k}.png", stroke=k + 1) for k in range(3)]
    assert main(["predict", str(hostile_run), *map(str, images), "--top-k", "10"]) == 0
    out = capsys.readouterr().out
    assert not any(char in out for char in "\x1b\x07\t\u202e")
    assert "\\x1b]0;pwned\\x07" in out and "\\x1b[31m0.png" in out and "\\u202e7" in out


def test_class_names_reach_the_submission_csv_as_text_not_formulas(hostile_run, tmp_path, capsys):
    out = tmp_path / "submission.csv"
    assert main(["predict", str(hostile_run), str(digits_csv(tmp_path / "t.csv", rows=200)), "--out", str(out)]) == 0
    labels = [line.split(",", 1)[1] for line in out.read_text().splitlines()[1:]]
    formulas = [label for label in labels if label.lstrip('"').startswith(("=", "+", "-", "@", "\t", "\r"))
                and not label.lstrip("+-").isdigit()]  # +3 and -4 are numbers to a spreadsheet, not formulas
    assert labels and formulas == []


def test_the_sinks_as_functions():
    assert terminal_text("a\x1b[2Jb\u202ec\nd", keep="\n") == "a\\x1b[2Jb\\u202ec\nd"
    assert terminal_text("한국어 ✓") == "한국어 ✓"
    assert [spreadsheet_cell(v) for v in ("=1+1", "+1", "-1", "-x", "@SUM(A1)", "\tx", "\rx", "cat", 7)] == \
        ["'=1+1", "+1", "-1", "'-x", "'@SUM(A1)", "'\tx", "'\rx", "cat", "7"]


@pytest.mark.slow  # every figure and the report
@pytest.mark.parametrize("command", ["report", "plot", "compare"])
def test_mathtext_in_class_or_run_names_is_drawn_as_text(command, hostile_run, tmp_path, capsys):
    if command == "compare":
        other = tmp_path / "$\\undefinedmacro{x}$"
        shutil.copytree(hostile_run, other, symlinks=True)
        argv = ["compare", str(hostile_run), str(other), "--out", str(tmp_path / "c.png")]
    else:
        argv = [command, str(hostile_run), "--out", str(tmp_path / ("r.html" if command == "report" else "figures"))]
    assert main(argv) == 0
    assert capsys.readouterr().err == ""


# --- readers against --max-memory and their words ----------------------------------------------------


def test_a_wide_csv_is_refused_before_its_first_row_is_split(tmp_path, capsys):
    wide = tmp_path / "wide.csv"
    wide.write_text("label," + ",".join(["10"] * 3_000_000) + "\n1," + ",".join(["10"] * 3_000_000) + "\n")
    message = refused(["train", "--dataset", wide, "--max-memory", "50M", "--run-dir", tmp_path / "r"], capsys)
    assert message.startswith(f"reading {wide} (3,000,001 columns) needs about ")
    assert "more than the limit of 50.0 MiB (--max-memory 50M)" in message
    assert not (tmp_path / "r").exists()


def test_a_long_csv_is_refused_from_its_size(tmp_path, capsys):
    long = tmp_path / "long.csv"
    with open(long, "w") as stream:
        stream.write("label,a,b\n")
        stream.write("1,2,3\n" * 3_000_000)
    message = refused(["train", "--dataset", long, "--max-memory", "20M", "--run-dir", tmp_path / "r"], capsys)
    assert message.startswith(f"reading {long} (3 columns) needs about ")


def test_an_image_folder_is_refused_from_its_count_and_size(tmp_path, capsys):
    for k in range(2):
        for i in range(30):
            digit_png(tmp_path / "d" / f"class{k}" / f"{i}.png", stroke=1 + i % 4)
    message = refused(["train", "--dataset", tmp_path / "d", "--image-size", "320", "--max-memory", "4M",
                       "--run-dir", tmp_path / "r"], capsys)
    assert message.startswith(f"reading 60 images of 320x320 from {tmp_path / 'd'} needs about 5.9 MiB of memory")


def test_csv_words_bom_and_the_row_and_column_of_a_bad_number(tmp_path, capsys):
    rows = "".join(f"{i % 2}," + ",".join(str((i * j) % 16) for j in range(64)) + "\n" for i in range(40))
    header = "label," + ",".join(f"pixel{j}" for j in range(64)) + "\n"
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + (header + rows).encode())
    assert main(["train", "--dataset", str(bom), "--layers", "64,8,2", "--epochs", "1", "--no-xla", "--quiet",
                 "--run-dir", str(tmp_path / "r")]) == 0
    capsys.readouterr()
    bad = tmp_path / "bad.csv"
    lines = (header + rows).splitlines(keepends=True)
    lines[7] = "1,1_000," + ",".join(["0"] * 63) + "\n"  # int() reads 1_000; np.loadtxt does not
    bad.write_text("".join(lines))
    message = refused(["train", "--dataset", bad, "--run-dir", tmp_path / "r2"], capsys)
    assert message == f"{bad}, row 8, column 2: expected a whole number, found '1_000'"


def test_image_folder_words_sub_folders_flat_images_and_too_many_classes(tmp_path, capsys):
    data = tmp_path / "letters"
    for k in range(2):
        for i in range(6):
            digit_png(data / f"class{k}" / ("nested" if i % 2 else "") / f"{i}.png", stroke=1 + i)
    Image.new("L", (40, 40), 255).save(data / "class0" / "blank.png")
    assert main(["train", "--dataset", str(data), "--image-size", "8", "--layers", "64,8,2", "--epochs", "1",
                 "--no-xla", "--quiet", "--run-dir", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert f"1 image(s) are one flat colour, blank: {data}/class0/blank.png" in err
    with pytest.warns(SimplennWarning, match="1 image.s. are one flat colour, blank"):
        images, labels, names = read_class_folders(data, 8)
    assert len(images) == 13 and names == ["class0", "class1"]  # the nested images are read, as Keras reads them
    many = tmp_path / "many"
    for k in range(1000):
        (many / f"c{k:04d}").mkdir(parents=True)
    message = refused(["train", "--dataset", many, "--run-dir", tmp_path / "r3"], capsys)
    assert message == f"{many}: found 1,000 class folders, more than the 999 classes simplenn trains; give one folder per class"


# --- run files by schema -------------------------------------------------------------------------------


SCHEMA_END = "; the file was changed after training"


@pytest.mark.parametrize("facts, problem", [
    ([1, 2], "expected a JSON object with class_names and image_shape, found a JSON list" + SCHEMA_END),
    ({"class_names": ["a"], "image_shape": [8, 8]},
     "field class_names must be a list of 2 to 999 strings, found 1 names" + SCHEMA_END),
    ({"class_names": [str(k) for k in range(100_000)], "image_shape": [8, 8]},
     "field class_names must be a list of 2 to 999 strings, found 100,000 names" + SCHEMA_END),
    ({"class_names": [0, 1], "image_shape": [8, 8]},
     "field class_names must be a list of 2 to 999 strings, found 2 names" + SCHEMA_END),
    ({"class_names": "0123456789", "image_shape": [8, 8]},
     'field class_names must be a list of 2 to 999 strings, found "0123456789"' + SCHEMA_END),
    ({"class_names": list("0123456789"), "image_shape": [0, 0]},
     "field image_shape must be [height, width], whole numbers from 1 to 4,096, found [0, 0]" + SCHEMA_END),
    ({"class_names": list("0123456789"), "image_shape": ["8", "8"]},
     'field image_shape must be [height, width], whole numbers from 1 to 4,096, found ["8", "8"]' + SCHEMA_END),
    ({"class_names": list("0123456789"), "image_shape": [100000, 100000]},
     "field image_shape must be [height, width], whole numbers from 1 to 4,096, found [100000, 100000]" + SCHEMA_END),
    ({"class_names": list("0123456789"), "image_shape": [True, 8]},
     "field image_shape must be [height, width], whole numbers from 1 to 4,096, found [true, 8]" + SCHEMA_END),
])
def test_a_data_json_of_the_wrong_shape_is_one_line_naming_the_field(facts, problem, run, capsys):
    (run / "data.json").write_text(json.dumps(facts))
    for command in (["evaluate", run], ["predict", run, run / "data.json"], ["serve", run, "--port", "1"]):
        message = refused(command, capsys)
        assert message == f"cannot load run {run}: cannot read {run}/data.json: {problem}"


def test_a_data_json_that_disagrees_with_the_network_is_refused(run, capsys):
    (run / "data.json").write_text(json.dumps({"class_names": ["a", "b", "c"], "image_shape": [4, 4]}))
    message = refused(["evaluate", run], capsys)
    assert message == (f"cannot load run {run}: {run}/data.json says 3 classes of 4x4 images, but the network in "
                       "config.json reads 64 inputs into 10 outputs; the file was changed after training")


# --- words ---------------------------------------------------------------------------------------------


def test_the_estimator_diverges_with_scikit_learns_error_type_in_python_terms():
    from sklearn.datasets import load_digits

    from simplenn import Classifier

    X, y = load_digits(return_X_y=True)
    with pytest.raises(ValueError, match=r"^loss became NaN or infinite in epoch 1; .*\(try lr=1e\+32\)$") as caught:
        Classifier(preset="fixed", lr=1e33, epochs=1, random_state=0).fit(X[:300], y[:300])
    assert "--" not in str(caught.value)


def test_a_library_warning_is_one_line_on_stderr(capsys):
    import warnings

    from simplenn.cli.program import show_warning

    with warnings.catch_warnings():
        warnings.showwarning = show_warning
        warnings.warn_explicit("Mean of empty slice.\nsecond line", RuntimeWarning, "/x/numpy/_core/fromnumeric.py", 3)
    assert capsys.readouterr().err == \
        "simplenn: warning: Mean of empty slice. second line (RuntimeWarning from _core/fromnumeric.py)\n"


@pytest.mark.parametrize("format, name", [("saved_model", "model"), ("tflite", "model.tflite")])
def test_export_on_a_full_disk_is_one_line(format, name, run, tmp_path, capsys):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {mounted.stderr.strip()}")
    try:
        (disk / "filler").write_bytes(bytes(shutil.disk_usage(disk).free - 8 * 1024))  # 8 KiB left
        message = refused(["export", run, disk / name, "--format", format], capsys)
        assert message.startswith(f"cannot write {disk / name}: the disk is full"), message
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]  # the staging folder is removed
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_evaluate_and_predict_print_hostile_class_folder_names_escaped(tmp_path, capsys):
    names = ["\x1b]0;pwned\x07", "=cmd|' -C calc'!A0"]
    for k, name in enumerate(names):
        for i in range(8):
            digit_png(tmp_path / "data" / name / f"{i}.png", stroke=1 + k * 4 + i % 3)
    run_dir = tmp_path / "run"
    assert main(["train", "--dataset", str(tmp_path / "data"), "--image-size", "8", "--layers", "64,8,2", "--epochs",
                 "1", "--no-xla", "--quiet", "--run-dir", str(run_dir)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["class_names"] == names  # JSON keeps the names as they are
    assert main(["evaluate", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "\\x1b]0;pwned\\x07" in out and not any(char in out for char in "\x1b\x07")


# --- multi-worker ---------------------------------------------------------------------------------


def multiworker(tmp_path: Path, workers: list[str]) -> subprocess.Popen:
    config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": 0}})
    return subprocess.Popen([sys.executable, "-m", "simplenn.cli", "train", *SMALL, "--strategy", "multiworker",
                             "--run-dir", str(tmp_path / "run")], env=dict(ENV, TF_CONFIG=config), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until_listening(port: int, process: subprocess.Popen) -> None:
    """Until 127.0.0.1:`port` accepts a connection; the process must live meanwhile (120 s at most)."""
    deadline = time.monotonic() + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=10).close()
            return
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
            time.sleep(0.05)


@pytest.mark.slow  # a worker process
@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_a_worker_waiting_for_an_absent_peer_stops_on_a_signal_naming_it(number, tmp_path):
    from simplenn.training.cluster import free_loopback_ports

    ports = free_loopback_ports(2)
    worker = multiworker(tmp_path, [f"127.0.0.1:{port}" for port in ports])
    try:
        lines = [worker.stderr.readline()]
        while "waiting for" not in lines[-1]:
            lines.append(worker.stderr.readline())
            assert lines[-1], worker.stdout.read()
        line = lines[-1]
        assert any("TensorFlow's gRPC server for this worker listens on port" in earlier for earlier in lines)
        assert line == f"simplenn: waiting for worker 1 (127.0.0.1:{ports[1]}) to start (Ctrl-C or SIGTERM stops)\n"
        wait_until_listening(ports[0], worker)  # its stand-in on its own port: the wait, and its handlers, have begun
        worker.send_signal(number)
        assert worker.wait(120) == 128 + number  # it would wait for worker 1 for ever
        assert worker.stderr.read() == (f"simplenn: error: stopped by {signal.Signals(number).name} while waiting for "
                                        f"worker 1 (127.0.0.1:{ports[1]}) to start; nothing was trained\n")
    finally:
        worker.kill()
        worker.wait()


def test_a_multiworker_start_says_the_grpc_server_listens_everywhere_and_ports_are_ascii(tmp_path, capsys, monkeypatch):
    from simplenn.training.cluster import Cluster, grpc_exposure

    exposure = grpc_exposure(Cluster(("10.0.0.1:12345", "10.0.0.2:12345"), 0))
    assert exposure.startswith("TensorFlow's gRPC server for this worker listens on port 12345 of every interface, not "
                               "only on 10.0.0.1, and answers anyone who reaches it")
    assert "only from the other workers (10.0.0.2)" in exposure
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:１２３４５", "127.0.0.1:2"]},
                                                "task": {"type": "worker", "index": 0}}))
    message = refused(["train", *SMALL, "--strategy", "multiworker", "--run-dir", tmp_path / "run"], capsys)
    assert message == "TF_CONFIG worker address '127.0.0.1:１２３４５' is not host:port, e.g. \"10.0.0.1:12345\""


@pytest.mark.slow  # every figure, three times
def test_plot_into_a_folder_of_the_users_figures_needs_force(run, tmp_path, capsys):
    folder = tmp_path / "figures"
    folder.mkdir()
    (folder / "confusion_matrix.png").write_bytes(b"my own figure")
    message = refused(["plot", run, "--out", folder], capsys)
    assert message == f"{folder}/confusion_matrix.png already exists; add --force to replace it, or give a new file name"
    assert sorted(p.name for p in folder.iterdir()) == ["confusion_matrix.png"]
    assert (folder / "confusion_matrix.png").read_bytes() == b"my own figure"
    assert main(["plot", str(run), "--out", str(folder), "--force"]) == 0
    assert (folder / "confusion_matrix.png").read_bytes().startswith(b"\x89PNG")
    assert main(["plot", str(run)]) == 0 and main(["plot", str(run)]) == 0  # the run's own figures: replaced freely


def test_export_refuses_a_dangling_link_and_the_runs_checkpoints(run, mine, tmp_path, capsys):
    link = tmp_path / "model"
    link.symlink_to(mine / "not-yet")
    message = refused(["export", run, link], capsys)
    assert message.startswith(f"cannot write {link}: it is a link to {mine / 'not-yet'}, not a regular file")
    assert link.is_symlink() and not (mine / "not-yet").exists()
    message = refused(["export", run, run / "checkpoints" / "model", "--format", "saved_model"], capsys)
    assert message == (f"cannot write {run}/checkpoints/model: the run in {run} needs its checkpoints as they are; "
                       "give another path")


# --- the input contract in data.json, and outputs that collide -------------------------------------------

HEX = "ab" * 32


def with_input(run: Path, **fields) -> Path:
    """`run` with data.json's `input` changed by `fields`."""
    facts = json.loads((run / "data.json").read_text())
    facts["input"].update(fields)
    (run / "data.json").write_text(json.dumps(facts))
    return run


@pytest.mark.parametrize("fields, problem", [
    ({"value_range": [0, 255, 3]}, 'field input.value_range must be [low, high], finite numbers, low <= high, found [0, 255, 3]'),
    ({"value_range": ["nan", "inf"]},
     'field input.value_range must be [low, high], finite numbers, low <= high, found ["nan", "inf"]'),
    ({"value_range": [255, 0]}, "field input.value_range must be [low, high], finite numbers, low <= high, found [255, 0]"),
    ({"rms": -1}, "field input.rms must be null or a finite number >= 0, found -1"),
    ({"shape": [0]}, "field input.shape must be [height, width] for kind image, whole numbers from 1 to 16,777,216, found [0]"),
    ({"shape": [8, 8, 1]},
     "field input.shape must be [height, width] for kind image, whole numbers from 1 to 16,777,216, found [8, 8, 1]"),
    ({"shape": ["8", "8"]},
     'field input.shape must be [height, width] for kind image, whole numbers from 1 to 16,777,216, found ["8", "8"]'),
    ({"source": {}}, 'field input.source must be {"name": DATASET} or {"path": PATH, "sha256": 64 hex digits or null}, '
                     "found {}"),
    ({"source": "digits"}, 'field input.source must be {"name": DATASET} or {"path": PATH, "sha256": 64 hex digits or '
                           'null}, found "digits"'),
    ({"source": {"path": 5, "sha256": None}}, 'field input.source must be {"name": DATASET} or {"path": PATH, '
                                              '"sha256": 64 hex digits or null}, found {"path": 5, "sha256": null}'),
    ({"source": {"path": "/x.csv", "sha256": 12345}}, 'field input.source must be {"name": DATASET} or {"path": PATH, '
                                                      '"sha256": 64 hex digits or null}, found {"path": "/x.csv", '
                                                      '"sha256": 12345}'),
    ({"source": {"name": ["digits"]}}, 'field input.source must be {"name": DATASET} or {"path": PATH, "sha256": 64 hex '
                                       'digits or null}, found {"name": ["digits"]}'),
    ({"kind": "features", "shape": [64]}, 'field input.recipe must be none for rows of features, an image recipe for '
                                          'images, found "digits"'),
    ({"recipe": "none"}, 'field input.recipe must be none for rows of features, an image recipe for images, found "none"'),
    ({"scaling": None}, "field input.scaling must be one of divide_by_255, none, found null"),
])
def test_a_data_json_input_contract_of_the_wrong_shape_is_one_line_naming_the_field(fields, problem, run, tmp_path,
                                                                                    capsys):
    with_input(run, **fields)
    np.save(tmp_path / "x.npy", np.zeros((2, 8, 8), np.uint8))
    for command in (["evaluate", run], ["predict", run, tmp_path / "x.npy"], ["export", run, tmp_path / "m.tflite"]):
        message = refused(command, capsys)
        assert message == f"cannot load run {run}: cannot read {run}/data.json: {problem}" + SCHEMA_END


def test_an_input_contract_that_disagrees_with_image_shape_is_refused(run, tmp_path, capsys):
    with_input(run, shape=[28, 28])
    assert refused(["evaluate", run], capsys) == (
        f"cannot load run {run}: {run}/data.json says its inputs are 28x28 images of pixels 0-255 but its image_shape "
        "is 8x8; the file was changed after training")


def test_the_recorded_source_is_checked_before_a_byte_is_hashed(run, tmp_path, capsys):
    with_input(run, source={"name": "no-such-data"})
    assert refused(["evaluate", run], capsys) == (
        "the run's data.json names the dataset 'no-such-data', which is not one simplenn knows (mnist, fashion-mnist, "
        "kmnist, digits, emnist-letters, emnist-balanced, emnist-digits); give the run's data with --dataset")
    with_input(run, source={"path": "/dev/zero", "sha256": HEX})  # a device: hashing it would never end
    assert refused(["evaluate", run], capsys).startswith("'/dev/zero': expected a dataset name")
    data = tmp_path / "data"
    (data / "a").mkdir(parents=True)
    os.mkfifo(data / "a" / "x.png")  # a FIFO inside the folder is not read: it is not a regular file
    with_input(run, source={"path": str(data), "sha256": HEX})
    assert refused(["evaluate", run], capsys) == (
        f"{data} is not the data the run trained on ({data}): its sha256 is {hashlib.sha256().hexdigest()[:12]}..., "
        f"data.json records {HEX[:12]}...; give that data unchanged, or train a new run on this one")


def test_two_outputs_or_an_output_and_an_input_naming_one_file_are_refused(run, tmp_path, capsys):
    table = digits_csv(tmp_path / "test.csv")
    before = table.read_bytes()
    message = refused(["predict", run, table, "--json", tmp_path / "same.txt", "--out", tmp_path / "same.txt"], capsys)
    assert message == f"arguments --json and --out both name {tmp_path}/same.txt; one would replace the other, so give each its own file"
    message = refused(["predict", run, table, "--out", table, "--force"], capsys)
    assert message == (f"argument --out: {table} is a file this command reads; writing it would destroy its input, "
                       "so give another file name")
    assert table.read_bytes() == before and not (tmp_path / "same.txt").exists()


def test_an_output_ending_in_a_slash_is_a_folder_not_a_file(run, tmp_path, capsys):
    message = refused(["evaluate", run, "--json", f"{tmp_path}/scores/"], capsys)
    assert message == (f"argument --json: cannot write {tmp_path}/scores/: it ends in /, so it names a folder; this "
                       "output is a file, so give a file name (see `simplenn evaluate --help`)")
    assert not (tmp_path / "scores").exists()


def test_a_run_directory_that_is_a_link_is_refused(mine, tmp_path, capsys):
    (tmp_path / "linked").symlink_to(mine)
    before = snapshot(mine)
    assert refused(["train", *SMALL, "--run-dir", tmp_path / "linked"], capsys) == (
        f"run directory {tmp_path}/linked is a link to {mine}; simplenn does not write through links, so give the "
        "folder itself as --run-dir")
    assert snapshot(mine) == before


def test_a_csv_of_other_rows_is_refused_for_predict_from_its_first_row(run, tmp_path, capsys):
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(["1"] * 5000) + "\n" + "x\n" * 100_000)  # the bad rows after it are never parsed
    assert refused(["predict", run, wide], capsys) == (
        f"{wide}: its first row holds 4,999 pixel values, but 64 are read per row; give rows of the run's inputs "
        "(a label column may come first)")


def test_a_new_run_inside_another_runs_checkpoints_or_tensorboard_is_refused(run, capsys):
    before = snapshot(run)
    for inside in (run / "tensorboard", run / "checkpoints" / "new"):
        assert refused(["train", *SMALL, "--run-dir", inside], capsys) == (
            f"run directory {inside} lies in a folder that the run in {run} needs to load; choose another --run-dir")
    assert snapshot(run) == before
