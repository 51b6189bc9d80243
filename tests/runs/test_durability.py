"""Durability: checkpoints, resume, interruption, divergence, locking, damaged files.

The SIGKILL, SIGTERM and SIGINT tests run `benchmarks/fault_injection.py`, which starts
real training processes and kills them at random moments; the rest run in this process
on scikit-learn's 8x8 digits with a small network, so that they take seconds.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

import numpy as np
import pytest

from cli_messages import error_message
from simplenn.training.checkpoints import CheckpointStore
from simplenn.cli import main
from simplenn.config import preset
from simplenn.errors import SimplennError
from simplenn.training.data import prepare_data
from simplenn.runs.experiment import train_and_evaluate
from simplenn.runs.run_directory import RunDirectory
from simplenn.training.trainer import Trainer, fit

ROOT = Path(__file__).resolve().parents[2]
# Dropout and augmentation on, so that resumed runs must reproduce every random stream.
CONFIG = preset("fixed").replace(
    dataset="digits", layers=(64, 32, 10), batch_size=64, epochs=2, checkpoint_every_steps=5,
    jit_compile=False, seed=3, dropout=0.1, flip_images=True, shift_pixels=1,
)


@pytest.fixture(scope="module")
def data():
    return prepare_data(CONFIG)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, data):
    """A finished two-epoch run, with step checkpoints, for tests to copy and damage."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    train_and_evaluate(CONFIG, run_dir=run_dir, data=data, log=lambda line: None)
    return run_dir


@pytest.fixture
def stopped_run(finished_run, tmp_path) -> Path:
    """A copy of the finished run as if it had been killed just before writing summary.json."""
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    (run_dir / "summary.json").unlink()
    return run_dir


def newest_data_file(run_dir: Path) -> Path:
    digests = (run_dir / "checkpoints").glob("ckpt-*.sha256")
    newest = max(digests, key=lambda path: int(path.name[5:-7]))
    return newest.with_name(newest.name.replace(".sha256", ".data-00000-of-00001"))


def flip_a_byte(path: Path) -> None:
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0x01
    path.write_bytes(bytes(content))


def run_cli(argv, capsys) -> tuple[int, str]:
    """Exit status and stderr of `simplenn <argv>` run in this process."""
    status = main([str(arg) for arg in argv])
    return status, capsys.readouterr().err


# --- what a checkpoint holds ---------------------------------------------------------


def test_checkpoint_restores_weights_optimizer_state_and_progress(tmp_path, data):
    config = CONFIG.replace(optimizer="adam")
    trainer = Trainer(config, data.train.size, data.image_shape)
    trainer.run_steps(data.train, 7)
    store = CheckpointStore(tmp_path, trainer)
    store.save()
    restored = Trainer(config, data.train.size, data.image_shape)
    assert CheckpointStore(tmp_path, restored).restore() == store.latest
    assert restored.global_step == 7 and int(restored.step_in_epoch.numpy()) == 7
    # Adam's moments are optimizer variables too; each one must come back, not just the weights.
    assert len(trainer.optimizer.variables) > 1 + len(trainer.network.params)
    for saved, loaded in zip(trainer.variables + tuple(trainer.optimizer.variables),
                             restored.variables + tuple(restored.optimizer.variables)):
        np.testing.assert_array_equal(np.asarray(saved), np.asarray(loaded))


def test_max_to_keep_holds_across_restarts(tmp_path):
    config = CONFIG.replace(max_to_keep=2)
    for restart in range(2):
        trainer = Trainer(config, 1347, (8, 8))
        store = CheckpointStore(tmp_path, trainer)
        store.restore()  # as a resumed run does; it numbers the next checkpoint on
        for _ in range(3):
            trainer.epoch.assign_add(1)
            store.save()
    assert [p.name for p in store.committed()] == ["ckpt-6", "ckpt-5"]
    assert sorted(p.name for p in tmp_path.glob("ckpt-*.index")) == ["ckpt-5.index", "ckpt-6.index"]


# --- damaged and mismatched checkpoints ------------------------------------------------


def test_flipped_byte_falls_back_to_the_previous_checkpoint(stopped_run, finished_run, capsys):
    damaged = newest_data_file(stopped_run)
    flip_a_byte(damaged)
    status = main(["train", "--resume", str(stopped_run), "--quiet"])
    out = capsys.readouterr().err  # --quiet keeps warnings, on stderr
    assert status == 0
    assert f"warning: checkpoint {damaged.parent / damaged.name.split('.')[0]} is damaged " \
           f"({damaged.name} does not match its sha256" in out
    summary = json.loads((stopped_run / "summary.json").read_text())
    assert summary["weights_sha256"] == json.loads((finished_run / "summary.json").read_text())["weights_sha256"]


def test_every_checkpoint_damaged_exits_2(stopped_run, capsys):
    for data_file in (stopped_run / "checkpoints").glob("ckpt-*.data-*"):
        flip_a_byte(data_file)
    status, err = run_cli(["train", "--resume", stopped_run], capsys)
    assert status == 2
    message = error_message(err)
    assert message.startswith(f"no usable checkpoint in {stopped_run / 'checkpoints'} (")
    assert "does not match its sha256" in message


def test_restoring_into_another_architecture_names_both_shapes(stopped_run, capsys):
    config = json.loads((stopped_run / "config.json").read_text())
    config["layers"] = [64, 16, 10]
    (stopped_run / "config.json").write_text(json.dumps(config))
    status, err = run_cli(["train", "--resume", stopped_run], capsys)
    assert status == 2
    assert "was saved from a different network: it holds W1 (64, 32), W2 (32, 10), " \
           "but this config builds W1 (64, 16), W2 (16, 10)" in err


def test_resuming_with_an_edited_config_is_refused(stopped_run, capsys):
    config = json.loads((stopped_run / "config.json").read_text())
    saved_lr, config["lr"] = config["lr"], 0.5
    (stopped_run / "config.json").write_text(json.dumps(config))
    status, err = run_cli(["train", "--resume", stopped_run], capsys)
    assert status == 2
    assert f"was saved with a different config (lr {saved_lr} -> 0.5)" in err


# --- resume ------------------------------------------------------------------------------


def test_resuming_a_finished_run_trains_nothing(finished_run, capsys):
    before = (finished_run / "summary.json").read_text()
    assert main(["train", "--resume", str(finished_run)]) == 0
    assert "finished already" in capsys.readouterr().out
    assert (finished_run / "summary.json").read_text() == before


def test_resume_after_the_last_checkpoint_keeps_its_history(stopped_run, finished_run, capsys):
    assert main(["train", "--resume", str(stopped_run)]) == 0
    assert "at the end of epoch 2/2" in capsys.readouterr().out
    for name in ("history.json", "summary.json"):
        resumed, original = (json.loads((run / name).read_text()) for run in (stopped_run, finished_run))
        if name == "summary.json":
            resumed, original = resumed["weights_sha256"], original["weights_sha256"]
        else:
            resumed, original = [r["loss"] for r in resumed], [r["loss"] for r in original]
        assert resumed == original


def test_training_into_an_existing_run_is_refused(finished_run, capsys):
    status, err = run_cli(["train", "--dataset", "digits", "--run-dir", finished_run], capsys)
    assert status == 2
    assert f"already holds a run; continue it with `simplenn train --resume {finished_run}`" in error_message(err)


def test_an_early_stopped_run_stays_stopped_when_resumed(data):
    trainer = Trainer(CONFIG.replace(epochs=5, patience=2, validation_split=0.1), data.train.size, data.image_shape)
    trainer.epoch.assign(3)
    trainer.best_epoch.assign(1)
    assert fit(trainer, data.train, log=lambda line: None) == []
    assert trainer.global_step == 0


# --- divergence ---------------------------------------------------------------------------


def test_nan_stops_within_the_epoch_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    # A linear model on raw pixels with a summed loss: the second step's logits overflow.
    status, err = run_cli(
        ["train", "--dataset", "digits", "--layers", "64,10", "--optimizer", "sgd", "--schedule", "constant",
         "--reduction", "sum", "--raw-inputs", "--lr", "1e33", "--checkpoint-every-steps", "1", "--no-xla",
         "--quiet", "--run-dir", tmp_path / "run"], capsys)
    assert status == 2
    assert error_message(err).startswith("loss became NaN or infinite in epoch 1; likely causes: raw 0-255 "
                                         "inputs (try --scale-inputs); a loss summed over the batch")
    assert not (tmp_path / "run" / "history.json").exists()  # it stopped inside epoch 1
    config = RunDirectory(tmp_path / "run").read_config()
    trainer = Trainer(config, 1347, (8, 8))
    assert CheckpointStore(tmp_path / "run" / "checkpoints", trainer).restore() is not None
    assert trainer.weights_are_finite() and trainer.global_step >= 1


# --- one writer per run directory -------------------------------------------------------


def test_a_busy_run_directory_is_refused(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with open(run_dir / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("12345\n")
        held.flush()
        status, err = run_cli(["train", "--dataset", "digits", "--run-dir", run_dir], capsys)
    assert status == 2
    assert error_message(err) == (f"run directory {run_dir} is in use by another simplenn process "
                                  "(pid 12345); wait for it to finish, or choose another --run-dir")


def test_the_lock_of_a_killed_process_is_free(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time\n"
         f"handle = open({str(tmp_path / '.lock')!r}, 'a+')\n"
         "fcntl.flock(handle, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline() == "locked\n"
    with pytest.raises(SimplennError, match="is in use by another simplenn process"):
        with RunDirectory(tmp_path).lock():
            pass
    holder.kill()
    holder.wait()
    with RunDirectory(tmp_path).lock():
        assert (tmp_path / ".lock").exists()


def test_leftovers_of_a_killed_writer_are_removed(tmp_path):
    (tmp_path / ".history.json.simplenn-x1y2.tmp").write_text("[{")
    checkpoints = tmp_path / "checkpoints"
    (checkpoints / "ckpt-9_temp").mkdir(parents=True)
    (checkpoints / ".ckpt-8.sha256.simplenn-z3.tmp").write_text("")
    (checkpoints / "ckpt-7.data-00000-of-00001").write_bytes(b"values without an index")
    (checkpoints / "workertemp_1").mkdir()  # a multi-worker run's other worker, killed while saving its copy
    (checkpoints / "workertemp_1" / "ckpt.index").write_bytes(b"")
    with RunDirectory(tmp_path).lock():
        CheckpointStore(checkpoints, Trainer(CONFIG, 1347, (8, 8)))
    assert sorted(p.name for p in tmp_path.rglob("*")) == [".lock", "checkpoints"]


# --- SIGKILL, SIGTERM and SIGINT on real processes ---------------------------------------


@pytest.fixture(scope="module")
def fault_report(tmp_path_factory):
    """The report of `benchmarks/fault_injection.py --kills 20`: about a minute on two cores."""
    workdir = tmp_path_factory.mktemp("faults")
    report = workdir / "report.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "fault_injection.py"), "--kills", "20",
         "--json", str(report), "--workdir", str(workdir)],
        capture_output=True, text=True, timeout=300,
    )
    assert report.exists(), done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(report.read_text())


@pytest.mark.slow  # twenty killed runs
def test_twenty_sigkills_at_random_moments_lose_nothing(fault_report):
    assert fault_report["problems"] == []
    kills = [fault for fault in fault_report["faults"] if fault["signal"] == "SIGKILL"]
    assert len(kills) >= 20
    doing = {fault["doing"] for fault in kills}
    assert "writing a checkpoint and its digest" in doing
    assert doing & {"writing history.json and .csv", "writing TensorBoard scalars", "writing summary.json"}
    assert fault_report["final_sha256"] == fault_report["reference_sha256"]


@pytest.mark.slow  # the same script's runs
@pytest.mark.parametrize("name, status", [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_stop_signal_saves_a_checkpoint_and_prints_how_to_resume(fault_report, name, status):
    [fault] = [fault for fault in fault_report["faults"] if fault["signal"] == name]
    assert fault["exit_status"] == status
    # The process named its checkpoint and the resume command (else `problems` says so);
    # the resume began exactly there.
    assert (fault["resumed_from"], fault["resumed_at"]) == (fault["stop_checkpoint"], fault["stopped_at"])


# --- no pickle -------------------------------------------------------------------------------

PICKLING_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}


def pickle_uses(source: str) -> list[str]:
    """Code (not comments or docstrings) that pickles: a module above, a name containing
    "pickle" such as `read_pickle`, or `allow_pickle=True`."""
    tokens = [t for t in tokenize.generate_tokens(iter(source.splitlines(keepends=True)).__next__)
              if t.type in (tokenize.NAME, tokenize.OP, tokenize.STRING)]
    found = []
    for i, token in enumerate(tokens):
        name = token.string
        if token.type == tokenize.STRING and name.strip("'\"") in PICKLING_MODULES:
            found.append(f"line {token.start[0]}: {name}")
        elif token.type == tokenize.NAME and (name in PICKLING_MODULES or "pickle" in name.lower()):
            allowed_false = name == "allow_pickle" and [t.string for t in tokens[i + 1:i + 3]] == ["=", "False"]
            if not allowed_false:
                found.append(f"line {token.start[0]}: {name}")
    return found


def test_the_pickle_check_finds_pickling_and_ignores_prose():
    assert pickle_uses("import pickle\nx = np.load(f, allow_pickle=True)\n") == [
        "line 1: pickle", "line 2: allow_pickle"]
    assert pickle_uses('"""Never unpickles; no pickle."""\n# pickle\nnp.load(f, allow_pickle=False)\n') == []


def test_no_pickle_in_the_package():
    for path in sorted((ROOT / "simplenn").rglob("*.py")):
        assert pickle_uses(path.read_text(encoding="utf-8")) == [], path
