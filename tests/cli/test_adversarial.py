"""The adversarial suite: hostile or degenerate input to every part of `simplenn`.

Each family is a table of cases. Every case asserts the exact one-line message and the
exit status, that no traceback was printed, and that the files outside the run directory
(a bystander file and a folder of the user's own) are byte for byte as they were.

    links         a run directory whose files are links out of it, or not what they seem
    run files     config, history and summary that are valid JSON of the wrong shape
    data          empty splits, mismatched image sizes, empty validation splits, huge values
    memory        decompression bombs and networks too large, refused before allocation
    disk full     every write on a small tmpfs (skipped where it cannot be mounted)
    signals       SIGINT and SIGTERM while TensorFlow loads and during training
    before TF     configuration errors answer without importing TensorFlow

Cases that need no signal run `simplenn.cli.program` in this process: a subprocess costs a
TensorFlow import of several seconds.
"""

from __future__ import annotations

import gzip
import json
import os
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cli_messages import error_message, snapshot
from shared_runs import SMALL

from simplenn.cli import main
from simplenn.config import MAX_SEED

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")


# --- the checks every case makes -------------------------------------------------------------


@pytest.fixture
def bystander(tmp_path) -> Path:
    """A folder of the user's own beside the runs: nothing may change it."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes\n")
    (folder / ".draft.tmp").write_text("my own temporary file\n")
    (folder / ".lock").write_text("my lock: not a pid\n")
    return folder


def run_cli(argv, capsys) -> tuple[int, str]:
    status = main([str(arg) for arg in argv])
    return status, capsys.readouterr().err


def assert_refused(status: int, err: str, message: str, exit_status: int = 2) -> None:
    """Exactly `message` (wrapped at its clauses when long), the status, and no traceback."""
    assert error_message(err) == message
    assert status == exit_status


# --- shared runs --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stopped_run(small_run, tmp_path_factory) -> Path:
    """The shared one-epoch run as if killed before its summary: what a resume works on."""
    run_dir = tmp_path_factory.mktemp("stopped") / "run"
    shutil.copytree(small_run, run_dir, symlinks=True)
    (run_dir / "summary.json").unlink()
    return run_dir


def copy_of(run: Path, tmp_path: Path, name: str = "run") -> Path:
    shutil.copytree(run, tmp_path / name, symlinks=True)
    return tmp_path / name


# --- links: a run directory that points out of itself ---------------------------------------

LINKED = "holds a link {link} -> {target}; simplenn does not write through links out of a run directory, " \
         "so remove the link or choose another folder"


def link_lock(run, mine):
    (run / ".lock").unlink(missing_ok=True)
    (run / ".lock").symlink_to(mine / "notes.txt")
    return run / ".lock", mine / "notes.txt"


def link_folder(name):
    def make(run, mine):
        shutil.rmtree(run / name, ignore_errors=True)
        (run / name).symlink_to(mine)
        return run / name, mine
    return make


def link_checkpoint_file(run, mine):
    index = sorted((run / "checkpoints").glob("ckpt-*.index"))[-1]
    index.unlink()
    index.symlink_to(mine / "notes.txt")
    return index, mine / "notes.txt"


LINK_CASES = {  # what is linked: (make the link, the commands that must refuse it)
    ".lock": (link_lock, ["train --resume", "train --run-dir", "evaluate", "plot"]),
    "tensorboard": (link_folder("tensorboard"), ["train --resume", "train --run-dir"]),
    "checkpoints": (link_folder("checkpoints"), ["train --resume", "evaluate", "report"]),
    "checkpoint file": (link_checkpoint_file, ["train --resume", "plot"]),
    "figures": (link_folder("figures"), ["plot", "train --resume"]),
}


def command(words: str, run: Path) -> list[str]:
    if words == "train --run-dir":
        return ["train", *SMALL, "--run-dir", run]
    return [*words.split(), run]


@pytest.mark.parametrize("what", LINK_CASES)
def test_a_link_out_of_the_run_directory_is_refused(what, stopped_run, bystander, tmp_path, capsys):
    make, commands = LINK_CASES[what]
    before = snapshot(bystander)
    for words in commands:
        run = copy_of(stopped_run, tmp_path, f"run {words}")
        if words == "train --run-dir":  # a new run into a folder that already holds the link
            shutil.rmtree(run)
            run.mkdir()
        link, target = make(run, bystander)
        status, err = run_cli(command(words, run), capsys)
        if words == "train --run-dir" or words == "train --resume":
            prefix = f"run directory {run} "
        else:
            prefix = f"cannot load run {run}: run directory {run} "
        assert_refused(status, err, prefix + LINKED.format(link=link, target=target))
        assert snapshot(bystander) == before


def test_a_checkpoints_file_and_a_fifo_lock_are_refused(stopped_run, bystander, tmp_path, capsys):
    before = snapshot(bystander)
    run = copy_of(stopped_run, tmp_path)
    shutil.rmtree(run / "checkpoints")
    (run / "checkpoints").write_text("not a folder\n")
    assert_refused(*run_cli(["train", "--resume", run], capsys),
                   f"run directory {run}: {run}/checkpoints is a file where simplenn keeps a folder; "
                   "move it away or choose another --run-dir")
    run = copy_of(stopped_run, tmp_path, "fifo")
    (run / ".lock").unlink()
    os.mkfifo(run / ".lock")  # opened without O_NONBLOCK, it would hang until a writer came
    assert_refused(*run_cli(["train", "--resume", run], capsys),
                   f"cannot lock {run}/.lock: it is not a regular file; remove it or choose another --run-dir")
    assert snapshot(bystander) == before


def test_a_run_in_the_users_own_folder_keeps_every_file_of_theirs(bystander, capsys, monkeypatch):
    """`--run-dir .`: the user's `.draft.tmp` and a `.lock` that holds no pid survive a whole run."""
    before = snapshot(bystander)
    (bystander / ".lock").unlink()  # simplenn's lock name; a foreign one is checked below
    (bystander / ".config.json.abc.tmp").write_text("someone else's\n")
    monkeypatch.chdir(bystander)
    assert run_cli(["train", *SMALL, "--run-dir", "."], capsys)[0] == 0
    assert (bystander / ".config.json.abc.tmp").read_text() == "someone else's\n"
    for name, content in before.items():
        if name != ".lock":
            assert (bystander / name).read_bytes() == content
    other = bystander / "other"
    other.mkdir()
    (other / ".lock").write_text("my lock: not a pid\n")
    (other / ".x.simplenn.tmp").write_text("not simplenn's: no random part\n")
    assert run_cli(["train", *SMALL, "--run-dir", other], capsys)[0] == 0
    assert (other / ".lock").read_text() == "my lock: not a pid\n"  # flocked, never truncated
    assert (other / ".x.simplenn.tmp").exists()


def test_run_files_and_folders_follow_the_umask(small_run):
    """0644 files and 0755 folders under the usual umask 022, TensorFlow's checkpoints included."""
    mask = os.umask(0o022)  # read it back: the run was written under this process's umask
    os.umask(mask)
    for path in [small_run, *small_run.rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o777 if path.is_dir() else 0o666) & ~mask, (path, oct(mode))


# --- run files of the wrong shape ---------------------------------------------------------------

HISTORY_CASES = {  # history.json content -> what the message says was found
    "{}": "expected a list of epoch records, found a JSON dict",
    "[]": "expected a list of epoch records, found an empty list",
    '"epochs"': "expected a list of epoch records, found a JSON str",
    "[1]": "expected epoch records with fields epoch, loss, accuracy, val_loss, val_accuracy, lr, seconds, "
           "samples_per_s, found a JSON int",
}


@pytest.mark.parametrize("content", HISTORY_CASES)
def test_a_history_of_the_wrong_shape_is_refused(content, stopped_run, bystander, tmp_path, capsys):
    before = snapshot(bystander)
    run = copy_of(stopped_run, tmp_path)
    (run / "history.json").write_text(content)
    for argv, prefix in ((["train", "--resume", run], ""), (["evaluate", run], f"cannot load run {run}: ")):
        assert_refused(*run_cli(argv, capsys), f"{prefix}cannot read {run}/history.json: "
                       f"{HISTORY_CASES[content]}; the file was changed after training")
    assert snapshot(bystander) == before


def test_history_with_wrong_types_or_missing_epochs_is_refused(stopped_run, tmp_path, capsys):
    run = copy_of(stopped_run, tmp_path)
    records = json.loads((run / "history.json").read_text())
    (run / "history.json").write_text(json.dumps([{**records[0], "loss": "low"}]))
    assert_refused(*run_cli(["train", "--resume", run], capsys),
                   f"cannot read loss of an epoch in {run}/history.json: expected int or float, found 'low'; "
                   "the file was changed after training")
    (run / "history.json").write_text(json.dumps([{**records[0], "epoch": 2}]))
    assert_refused(*run_cli(["train", "--resume", run], capsys),
                   f"cannot read {run}/history.json: expected epochs 1, 2, 3, ... in order, found 2; "
                   "the file was changed after training")
    (run / "history.json").write_text("")
    status, err = run_cli(["train", "--resume", run], capsys)
    assert status == 2 and err.startswith(f"simplenn: error: cannot read {run}/history.json: Expecting value")
    (run / "history.json").unlink()  # the checkpoint is at the end of epoch 1: its record is missing
    assert_refused(*run_cli(["train", "--resume", run], capsys),
                   f"cannot resume {run}: its checkpoint is at the end of epoch 1 but history.json records 0 "
                   "epoch(s); the run directory was changed, start again in a new --run-dir")


SUMMARY_CASES = {
    "[]": "cannot read {run}/summary.json: expected a JSON object of results, found a JSON list",
    "{}": "cannot read train_accuracy in {run}/summary.json: expected int or float, found None",
    "retype": "cannot read weights_sha256 in {run}/summary.json: expected str, found 7",
    "scores": "cannot read test_scores.f1_macro in {run}/summary.json: expected int or float, found 'high'",
}


@pytest.mark.parametrize("case", SUMMARY_CASES)
def test_a_summary_of_the_wrong_shape_is_refused(case, small_run, tmp_path, capsys):
    run = copy_of(small_run, tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    content = {"retype": json.dumps({**summary, "weights_sha256": 7}),
               "scores": json.dumps({**summary, "test_scores": {**summary["test_scores"], "f1_macro": "high"}}),
               }.get(case, case)
    (run / "summary.json").write_text(content)
    message = SUMMARY_CASES[case].format(run=run) + "; the file was changed after training"
    assert_refused(*run_cli(["report", run], capsys), f"cannot load run {run}: {message}")
    assert_refused(*run_cli(["train", "--resume", run], capsys), message)
    assert_refused(*run_cli(["compare", run, small_run], capsys), f"cannot compare {run}: {message}")


def test_a_config_of_the_wrong_shape_is_refused(stopped_run, tmp_path, capsys):
    run = copy_of(stopped_run, tmp_path)
    (run / "config.json").write_text("[]")
    assert_refused(*run_cli(["train", "--resume", run], capsys),
                   "a config must be a JSON object of fields, got list")
    (run / "config.json").write_text('{"seed": 9223372036854775808}')
    assert_refused(*run_cli(["train", "--resume", run], capsys),
                   f"{run}/config.json: config field seed must be at most 9,223,372,036,854,775,807, "
                   "got 9223372036854775808")


# --- degenerate data -------------------------------------------------------------------------------


def save_npz(path: Path, n_train: int, n_test: int, shape=(8, 8), test_shape=None) -> Path:
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
             y_train=(np.arange(n_train) % 10).astype(np.uint8),
             x_test=rng.integers(0, 256, (n_test, *(test_shape or shape)), dtype=np.uint8),
             y_test=((np.arange(n_test) + 1) % 10).astype(np.uint8))  # two classes even for one image each
    return path


def save_idx_folder(folder: Path, n_train: int, n_test: int, shape, test_shape) -> Path:
    folder.mkdir()
    for stem, n, image_shape in (("train", n_train, shape), ("t10k", n_test, test_shape)):
        images = bytes(n * image_shape[0] * image_shape[1])
        (folder / f"{stem}-images-idx3-ubyte").write_bytes(b"\0\0\x08\x03" + struct.pack(">III", n, *image_shape) + images)
        (folder / f"{stem}-labels-idx1-ubyte").write_bytes(b"\0\0\x08\x01" + struct.pack(">I", n) + bytes(n))
    return folder


def data_cases(tmp_path: Path) -> list[tuple[list, str]]:
    """(arguments, message) for data a run cannot train on; none may leave a run directory."""
    empty_train, empty_test = save_npz(tmp_path / "no-train.npz", 0, 5), save_npz(tmp_path / "no-test.npz", 5, 0)
    mixed = save_npz(tmp_path / "mixed.npz", 5, 5, (8, 8), (6, 6))
    idx = save_idx_folder(tmp_path / "idx", 3, 2, (28, 28), (14, 14))
    return [
        (["--dataset", empty_train], f"{empty_train} [train]: expected at least one image, found none; "
                                     "the split is empty"),
        (["--dataset", empty_test], f"{empty_test} [test]: expected at least one image, found none; "
                                    "the split is empty"),
        (["--dataset", mixed], f"{mixed}: expected training and test images of one size, found 8x8 training images "
                               "and 6x6 test images; the files do not belong to one dataset"),
        (["--dataset", idx], f"{idx}/train-images-idx3-ubyte with {idx}/t10k-images-idx3-ubyte: expected training "
                             "and test images of one size, found 28x28 training images and 14x14 test images; "
                             "the files do not belong to one dataset"),
        (["--dataset", "digits", "--validation-split", "0.0001"],
         "--validation-split 0.0001 of 1,347 training images leaves no validation images; give a fraction "
         "between 0.00074 and 0.9993"),
        (["--dataset", "digits", "--validation-split", "0.9999"],
         "--validation-split 0.9999 of 1,347 training images leaves no training images; give a fraction "
         "between 0.00074 and 0.9993"),
        (["--dataset", save_npz(tmp_path / "one.npz", 1, 1), "--validation-split", "0.5"],
         "--validation-split needs at least 2 training images, found 1; drop --validation-split"),
        (["--dataset", "~nosuchuser/data.npz"], "dataset ~nosuchuser/data.npz: there is no user 'nosuchuser' on this "
                                                "machine, so ~nosuchuser cannot be expanded; give the folder itself"),
        (["--dataset", "digits", "--seed", str(MAX_SEED + 1)],
         f"argument --seed: must be at most {MAX_SEED:,}, got {MAX_SEED + 1}"),
        (["--dataset", "digits", "--epochs", "100001"], "argument --epochs: must be at most 100,000, got 100001"),
        (["--dataset", "digits", "--warmup-epochs", "1e9"],
         "argument --warmup-epochs: must be at most 100,000, got 1e+09"),
    ]


def test_degenerate_data_is_refused_and_leaves_no_run_directory(bystander, tmp_path, capsys):
    before = snapshot(bystander)
    for number, (arguments, message) in enumerate(data_cases(tmp_path)):
        run_dir = tmp_path / f"run {number}"
        status, err = run_cli(["train", *arguments, "--quiet", "--run-dir", run_dir], capsys)
        assert_refused(status, err, message)
        assert not run_dir.exists(), f"{arguments} left {run_dir} behind"
    assert snapshot(bystander) == before


def test_a_batch_larger_than_the_data_is_clamped_with_a_note(tmp_path, capsys):
    tiny = save_npz(tmp_path / "tiny.npz", 5, 3)
    status = main(["train", "--dataset", str(tiny), "--batch-size", "1000", "--epochs", "2", "--no-xla",
                   "--run-dir", str(tmp_path / "run")])
    out, err = capsys.readouterr()
    assert status == 0 and "Traceback" not in err
    assert "note: --batch-size 1000 is more than the 5 training images; each step uses all 5" in out


PATH_CASES = [  # ~user anywhere a path is read: (command, environment, message)
    (["train", "--run-dir", "~nosuchuser/run"], {},
     "run directory ~nosuchuser/run: there is no user 'nosuchuser' on this machine, so ~nosuchuser cannot be "
     "expanded; give the folder itself"),
    (["train", "--resume", "~nosuchuser/run"], {},
     "run directory ~nosuchuser/run: there is no user 'nosuchuser' on this machine, so ~nosuchuser cannot be "
     "expanded; give the folder itself"),
    (["data", "list"], {"SIMPLENN_DATA": "~nosuchuser/data"},
     "SIMPLENN_DATA ~nosuchuser/data: there is no user 'nosuchuser' on this machine, so ~nosuchuser cannot be "
     "expanded; give the folder itself"),
    (["train", "--dataset", "mnist"], {"KERAS_HOME": "~nosuchuser/keras"},
     "KERAS_HOME ~nosuchuser/keras: there is no user 'nosuchuser' on this machine, so ~nosuchuser cannot be "
     "expanded; give the folder itself"),
    (["data", "import", "mnist", "~nosuchuser/mnist.npz"], {},
     "path ~nosuchuser/mnist.npz: there is no user 'nosuchuser' on this machine, so ~nosuchuser cannot be "
     "expanded; give the folder itself"),
    (["ablate", "--seed", str(MAX_SEED + 1)], {},
     f"argument --seed: must be at most {MAX_SEED:,}, got {MAX_SEED + 1} (see `simplenn ablate --help`)"),
    (["bench", "--epochs", "1000000"], {},
     "argument --epochs: must be at most 100,000, got 1000000 (see `simplenn bench --help`)"),
    (["ablate", "--out", "chart.xyz"], {}, "argument --out: cannot write a figure to chart.xyz: it has the extension "
     ".xyz; end it in one of {formats}, e.g. .png (see `simplenn ablate --help`)"),
    (["show", "--out", "sample"], {}, "argument --out: cannot write a figure to sample: it has no extension; end it "
     "in one of {formats}, e.g. .png (see `simplenn show --help`)"),
    (["compare", "a", "b", "--out", "curves.docx"], {}, "argument --out: cannot write a figure to curves.docx: it has "
     "the extension .docx; end it in one of {formats}, e.g. .png (see `simplenn compare --help`)"),
]


@pytest.mark.parametrize("argv, env, message", PATH_CASES, ids=[" ".join(c[0]) for c in PATH_CASES])
def test_paths_and_values_are_refused_up_front(argv, env, message, bystander, capsys, monkeypatch):
    from matplotlib.backend_bases import FigureCanvasBase

    formats = ", ".join("." + name for name in sorted(FigureCanvasBase.get_supported_filetypes()))
    before = snapshot(bystander)
    monkeypatch.chdir(bystander)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert_refused(*run_cli(argv, capsys), message.format(formats=formats))
    assert snapshot(bystander) == before


# --- memory ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def idx_bomb(tmp_path_factory) -> Path:
    """Four IDX files whose training images are 1 MB of gzip that honestly expands to 1.0 GiB."""
    folder = tmp_path_factory.mktemp("bomb")
    n = 1_369_000  # x 28 x 28 = 1,073,296,000 bytes, just under the 1 GiB any IDX file may declare
    with gzip.open(folder / "train-images-idx3-ubyte.gz", "wb", compresslevel=9) as stream:
        stream.write(b"\0\0\x08\x03" + struct.pack(">III", n, 28, 28))
        zeros = bytes(2**24)
        for start in range(0, n * 784, len(zeros)):
            stream.write(zeros[: min(len(zeros), n * 784 - start)])
    for stem, dims, items in (("train-labels-idx1-ubyte", (n,), n), ("t10k-images-idx3-ubyte", (1, 28, 28), 784),
                              ("t10k-labels-idx1-ubyte", (1,), 1)):
        with gzip.open(folder / f"{stem}.gz", "wb") as stream:
            stream.write(b"\0\0\x08" + bytes([len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + bytes(items))
    return folder


@pytest.mark.slow  # a bomb of a file, read back
def test_a_decompression_bomb_is_refused_from_its_header_with_bounded_memory(idx_bomb, bystander, tmp_path):
    before = snapshot(bystander)
    # A wrapper process runs the command as its only child, so RUSAGE_CHILDREN is that command's
    # peak alone (in the test process it would be the largest of every subprocess so far).
    command = [sys.executable, "-m", "simplenn.cli", "train", "--dataset", str(idx_bomb),
               "--max-memory", "2G", "--run-dir", str(tmp_path / "run")]
    wrapper = ("import resource, subprocess, sys; status = subprocess.run(sys.argv[1:]).returncode; "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(status)")
    done = subprocess.run([sys.executable, "-c", wrapper, *command], capture_output=True, text=True, env=ENV,
                          timeout=300)
    *message, peak_kib = done.stderr.rstrip("\n").split("\n")
    done.stderr = "\n".join(message) + "\n"
    peak_mib = int(peak_kib) / 1024  # ru_maxrss is in KiB on Linux
    assert_refused(done.returncode, done.stderr,
                   f"{idx_bomb}/train-images-idx3-ubyte.gz declares 1,369,000 images of 28x28, which needs about "
                   "9.0 GiB of memory (data 9.0 GiB), more than the limit of 2.0 GiB (--max-memory 2G); use less "
                   "data or a smaller network, or raise the limit with --max-memory 9G if this machine can spare it")
    # TensorFlow's import alone takes ~0.6 GiB; decompressing the payload would add 1 GiB more.
    assert peak_mib < 1024, f"peak memory {peak_mib:.0f} MiB: the payload was decompressed"
    assert not (tmp_path / "run").exists()
    assert snapshot(bystander) == before


MEMORY_CASES = [
    (["train", "--dataset", "digits", "--layers", "64,2000000,10", "--max-memory", "8G"],
     "training layers 64,2000000,10 on digits needs about 22.3 GiB of memory (data 1.1 MiB, network and optimizer "
     "2.2 GiB, activations 20.1 GiB), more than the limit of 8.0 GiB (--max-memory 8G); use less data or a smaller "
     "network, or raise the limit with --max-memory 23G if this machine can spare it"),
    (["diagnose", "--dataset", "digits", "--layers", "64,2000000,10", "--max-memory", "8G"],
     "training layers 64,2000000,10 on digits needs about 22.3 GiB of memory (data 1.1 MiB, network and optimizer "
     "2.2 GiB, activations 20.1 GiB), more than the limit of 8.0 GiB (--max-memory 8G); use less data or a smaller "
     "network, or raise the limit with --max-memory 23G if this machine can spare it"),
    (["ablate", "--dataset", "digits", "--max-memory", "1M"],
     "training layers 64,100,30,10 on digits needs about 3.8 MiB of memory (data 1.1 MiB, network and optimizer "
     "153.8 KiB, activations 2.5 MiB), more than the limit of 1.0 MiB (--max-memory 1M); use less data or a smaller "
     "network, or raise the limit with --max-memory 1G if this machine can spare it"),
    (["bench", "--dataset", "{npz}", "--max-memory", "100M"],
     "{npz} [x_train.npy] declares images shaped (20000, 28, 28), which needs about 134.6 MiB of memory (data "
     "134.6 MiB), more than the limit of 100.0 MiB (--max-memory 100M); use less data or a smaller network, or "
     "raise the limit with --max-memory 1G if this machine can spare it"),
    (["train", "--max-memory", "lots"],
     "argument --max-memory: is not a size; give one such as 512M, 8G or 1.5G (see `simplenn train --help`)"),
    (["train", "--max-memory", "0G"],
     "argument --max-memory: is not a size; give one such as 512M, 8G or 1.5G (see `simplenn train --help`)"),
]


@pytest.mark.parametrize("argv, message", MEMORY_CASES, ids=[" ".join(c[0]) for c in MEMORY_CASES])
def test_work_too_large_for_the_memory_limit_is_refused_before_it_starts(argv, message, bystander, tmp_path,
                                                                          capsys, monkeypatch):
    npz = tmp_path / "big.npz"
    np.savez_compressed(npz, x_train=np.zeros((20000, 28, 28), np.uint8), y_train=np.zeros(20000, np.uint8),
                        x_test=np.zeros((1, 28, 28), np.uint8), y_test=np.zeros(1, np.uint8))
    before = snapshot(bystander)
    monkeypatch.chdir(tmp_path)
    assert_refused(*run_cli([arg.format(npz=npz) for arg in argv], capsys), message.format(npz=npz))
    assert not (tmp_path / "runs").exists()
    assert snapshot(bystander) == before


def test_the_default_limit_is_half_the_available_memory(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, err = run_cli(["train", "--dataset", "digits", "--layers", "64,2000000,10"], capsys)
    assert status == 2 and "Traceback" not in error_message(err) and bool(error_message(err))
    assert err.startswith("simplenn: error: training layers 64,2000000,10 on digits needs about 22.3 GiB of memory")
    assert "GiB available); use less data or a smaller network" in error_message(err)
    assert not (tmp_path / "runs").exists()


# --- a full disk -------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs, unmounted afterwards; skipped where mounting is not allowed."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path, leave_kib: int) -> None:
    """Fill `disk` with one file so that only `leave_kib` KiB stay free."""
    (disk / "filler").unlink(missing_ok=True)
    free = shutil.disk_usage(disk).free
    (disk / "filler").write_bytes(bytes(max(0, free - leave_kib * 1024)))


def leftovers(folder: Path) -> list[str]:
    """Temporary files and folders of a write that failed."""
    return [str(p) for p in folder.rglob("*") if ".simplenn-" in p.name or p.name.endswith("_temp")
            or ".tmp" in p.name]


# (KiB left free, the file that cannot be written, the space it needs, whether a run was started)
DISK_CASES = [
    (0, ".lock", f"{len(f'{os.getpid()}{chr(10)}')} bytes", None),  # the lock holds the pid of this process
    (4, "config.json", "{config_bytes} bytes", False),
    (8, "data.json", "{data_bytes} bytes", True),
    (12, "history.json", "{history_bytes} bytes", True),  # its timings vary, so its length does
    (20, "tensorboard", "4.0 KiB", True),
    (28, "checkpoints/ckpt-1", "121.3 KiB", True),
    (500, "checkpoints/ckpt-2", "240.0 KiB", True),  # ckpt-1 as written, its config JSON included
]
DISK_RUN = ["--dataset", "digits", "--layers", "64,200,10", "--epochs", "3", "--no-xla", "--quiet"]


def test_a_full_disk_at_every_write_is_one_line_and_resumable(small_disk, tmp_path, capsys):
    reference = tmp_path / "reference"
    assert main(["train", *DISK_RUN, "--run-dir", str(reference)]) == 0
    config_bytes = len((reference / "config.json").read_bytes())
    data_bytes = len((reference / "data.json").read_bytes())
    capsys.readouterr()
    run = small_disk / "my run"
    for leave_kib, name, needed, started in DISK_CASES:
        shutil.rmtree(run, ignore_errors=True)
        fill(small_disk, leave_kib)
        status, err = run_cli(["train", *DISK_RUN, "--run-dir", run], capsys)
        advice = {None: "free some space and run the command again", False: "free some space and start again",
                  True: f"free some space, then resume with: simplenn train --resume {shlex.quote(str(run))}"}
        history_bytes = err.split("(it needs about ")[-1].split(" ")[0]
        if name == "history.json":
            assert history_bytes.isdigit() and 200 < int(history_bytes) < 300, err
        needed = needed.format(config_bytes=config_bytes, data_bytes=data_bytes, history_bytes=history_bytes)
        assert_refused(status, err, f"cannot write {run}/{name}: the disk is full (it needs about {needed}); "
                                    f"{advice[started]}")
        assert leftovers(small_disk) == []
        assert run.exists() == bool(started)  # a run that never wrote its config leaves no folder
    (small_disk / "filler").unlink()  # space again: the run stopped at ckpt-2 goes on, bit for bit
    assert run_cli(["train", "--resume", run, "--quiet"], capsys)[0] == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["weights_sha256"] == json.loads((reference / "summary.json").read_text())["weights_sha256"]


def test_a_full_disk_when_writing_figures_reports_and_the_cache(small_disk, small_run, capsys, monkeypatch):
    fill(small_disk, 0)
    figures = small_disk / "figures"
    status, err = run_cli(["plot", small_run, "--out", figures], capsys)
    assert status == 2 and "Traceback" not in error_message(err) and bool(error_message(err))
    assert err.startswith(f"simplenn: error: cannot write {figures}/") and "the disk is full (it needs about " in error_message(err)
    assert error_message(err).endswith("KiB); free some space and run the command again")
    report = small_disk / "report.html"
    status, err = run_cli(["report", small_run, "--out", report], capsys)
    assert status == 2 and err.startswith(f"simplenn: error: cannot write {report}: the disk is full (it needs about ")
    monkeypatch.setenv("SIMPLENN_DATA", str(small_disk / "cache"))
    labels = Path("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")
    if labels.exists():
        fill(small_disk, 4)  # room for the cache folder, not for the file
        assert_refused(*run_cli(["data", "import", "fashion-mnist", labels], capsys),
                       f"cannot write {small_disk}/cache/fashion-mnist/t10k-labels-idx1-ubyte.gz: the disk is full "
                       f"(it needs about 5.0 KiB); free some space, or set SIMPLENN_DATA to a folder on another disk")
    assert leftovers(small_disk) == []


# --- signals ---------------------------------------------------------------------------------------


def start(argv: list[str], cwd: Path) -> subprocess.Popen:
    """`simplenn ARGV` in a new session, so that SIGINT is not inherited as ignored from a test runner."""
    return subprocess.Popen([sys.executable, "-m", "simplenn.cli", *argv], cwd=cwd, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


# `python -m simplenn.cli ARGV` with TensorFlow's import held open: it says "importing
# tensorflow" on stdout and waits there, so that a test's signal lands during the import.
WHILE_TENSORFLOW_LOADS = """
import importlib.abc, runpy, sys, time

class HoldTensorFlowsImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "tensorflow":
            sys.meta_path.remove(self)
            print("importing tensorflow", flush=True)
            time.sleep(300)  # until the signal; only a test that never sends one waits this long
        return None

sys.meta_path.insert(0, HoldTensorFlowsImport())
runpy.run_module("simplenn.cli", run_name="__main__", alter_sys=True)
"""

SIGNAL_CASES = [(signal.SIGINT, 130, "simplenn: interrupted\n"), (signal.SIGTERM, 143, "simplenn: terminated\n")]


@pytest.mark.slow  # a fresh process
@pytest.mark.parametrize("number, status, message", SIGNAL_CASES)
def test_a_signal_while_tensorflow_loads_ends_cleanly(number, status, message, bystander, tmp_path):
    before = snapshot(bystander)
    run = tmp_path / f"run-{number.name}"
    child = subprocess.Popen([sys.executable, "-c", WHILE_TENSORFLOW_LOADS, "train", *SMALL, "--run-dir", str(run)],
                             cwd=tmp_path, env=ENV, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    try:
        assert child.stdout.readline() == "importing tensorflow\n", child.communicate()
        child.send_signal(number)
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert "Traceback" not in err, err
    assert (child.returncode, err) == (status, message)
    assert not run.exists()  # stopped before anything was written
    assert snapshot(bystander) == before


@pytest.mark.slow  # two runs in their own processes
def test_a_signal_during_training_prints_a_quoted_resume_command(tmp_path):
    run = tmp_path / "my runs" / "it's mine"
    for number, status in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        child = start(["train", "--dataset", "digits", "--layers", "64,16,10", "--epochs", "30", "--batch-size", "8",
                       "--no-xla", "--checkpoint-every-steps", "5", "--quiet", "--run-dir", str(run)]
                      if number == signal.SIGINT else ["train", "--resume", str(run), "--quiet"], tmp_path)
        deadline = time.monotonic() + 120
        sealed = set((run / "checkpoints").glob("*.sha256"))
        while not set((run / "checkpoints").glob("*.sha256")) - sealed:  # training, checkpointing
            assert child.poll() is None and time.monotonic() < deadline, child.communicate()
            time.sleep(0.05)
        child.send_signal(number)
        _, err = child.communicate(timeout=120)
        assert child.returncode == status and "Traceback" not in err, err
        assert err.strip().endswith(f"resume with: simplenn train --resume {shlex.quote(str(run))}")
        assert shlex.split(err.strip().rsplit("resume with: ", 1)[1])[-1] == str(run)


# --- configuration errors answer before TensorFlow loads -----------------------------------------

BEFORE_TENSORFLOW = [
    ["train", "--epochs", "0"],
    ["train", "--dataset", "nope"],
    ["train", "--run-dir", "{file}"],
    ["train", "--resume", "{missing}"],
    ["train", "--resume", "{folder}"],
    ["train", "--max-memory", "lots"],
    ["diagnose", "--run-dir", "{missing}"],
    ["diagnose", "--dataset", "nope"],
    ["ablate", "--dataset", "nope"],
    ["ablate", "--out", "chart.xyz"],
    ["bench", "--seed", str(MAX_SEED + 1)],
    ["evaluate", "{missing}"],
    ["plot", "{folder}"],
    ["report", "{file}"],
    ["compare", "{folder}", "{missing}"],
    ["predict", "{missing}", "{file}"],
    ["export", "{folder}", "{missing}"],
    ["serve", "{file}"],
    ["show", "--out", "x.xyz"],
]


def test_configuration_errors_answer_before_tensorflow_is_imported(tmp_path):
    file, folder = tmp_path / "notes.txt", tmp_path / "folder"
    file.write_text("x")
    folder.mkdir()
    cases = [[arg.format(file=file, folder=folder, missing=tmp_path / "missing") for arg in argv]
             for argv in BEFORE_TENSORFLOW]
    code = ("import sys, json\nfrom simplenn.cli.program import main\nfor argv in json.loads(sys.argv[1]):\n"
            "    status = main(argv)\n"
            "    print(status, 'tensorflow' in sys.modules, ' '.join(argv), flush=True)\n")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(cases)], capture_output=True, text=True,
                          env=ENV, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == len(cases)
    for line in lines:
        assert line.startswith("2 False "), line
    assert "Traceback" not in done.stderr
