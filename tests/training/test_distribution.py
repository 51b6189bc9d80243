"""tf.distribute: the same run on one device, on logical CPUs and on two worker processes.

Logical devices and a worker's collectives can only be set up before TensorFlow starts,
so every run under a strategy is a fresh process, each with a timeout; the workers talk
over 127.0.0.1 on free ports.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_messages import error_message
from shared_runs import needs_fashion_mnist
from simplenn.bench.strategies import replica_counts
from simplenn.cli import main
from simplenn.training.cluster import Cluster, free_loopback_ports, read_cluster
from simplenn.config import Config
from simplenn.errors import SimplennError

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
# The workers' run: digits in batches of 16 (85 steps an epoch), a checkpoint every 20 steps.
WORKER_RUN = ["--preset", "fixed", "--dataset", "digits", "--epochs", "6", "--batch-size", "16",
              "--checkpoint-every-steps", "20"]



def tf_config(ports: list[int], index: int) -> str:
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
                       "task": {"type": "worker", "index": index}})


class Workers:
    """Two `simplenn train` worker processes, each in its own session, output in files."""

    def __init__(self, argv: list[str], ports: list[int], folder: Path, argv_of: list[list[str]] | None = None):
        """argv: every worker's arguments after `train`; argv_of: each worker's own, instead."""
        folder.mkdir(exist_ok=True)
        self.logs = [folder / f"worker{i}.log" for i in range(len(ports))]
        self.processes = []
        for index, log in enumerate(self.logs):
            with open(log, "w") as out:
                self.processes.append(subprocess.Popen(
                    [sys.executable, "-m", "simplenn.cli", "train", *(argv_of[index] if argv_of else argv)],
                    env={**ENV, "TF_CONFIG": tf_config(ports, index)}, stdout=out, stderr=subprocess.STDOUT,
                    text=True, start_new_session=True))

    def wait(self, timeout_s: float) -> list[int]:
        deadline = time.monotonic() + timeout_s
        return [process.wait(timeout=max(1.0, deadline - time.monotonic())) for process in self.processes]

    def kill(self, index: int) -> None:
        os.killpg(self.processes[index].pid, signal.SIGKILL)
        self.processes[index].wait(timeout=30)

    def output(self, index: int) -> str:
        return self.logs[index].read_text()

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)


@pytest.fixture
def workers():
    started = []

    def start(argv, ports, folder, argv_of=None):
        started.append(Workers(argv, ports, folder, argv_of))
        return started[-1]

    yield start
    for group in started:
        group.close()


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def run_cli(argv: list[str], timeout_s: float = 180) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "simplenn.cli", *argv], env=ENV, capture_output=True, text=True,
                          timeout=timeout_s)
    assert done.returncode == 0, done.stderr
    return done


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def sealed_checkpoints(run_dir: Path) -> list[str]:
    """The checkpoints in the run directory, after checking each is whole and nothing else lies there."""
    folder = run_dir / "checkpoints"
    names = sorted(path.name for path in folder.iterdir())
    prefixes = sorted({name.split(".")[0] for name in names if name != "checkpoint"})
    assert names == sorted(["checkpoint"] + [f"{p}{suffix}" for p in prefixes
                                             for suffix in (".index", ".data-00000-of-00001", ".sha256")]), names
    for prefix in prefixes:  # every file matches the digest that seals it
        check = subprocess.run(["sha256sum", "--check", "--quiet", f"{prefix}.sha256"], cwd=folder, timeout=30)
        assert check.returncode == 0, prefix
    return prefixes


# One device against two logical CPUs, in one fresh process: the first step's gradients
# (a batch of 255 splits 127 and 128), two epochs of Fashion-MNIST, and the bench on digits.
TWO_CPUS = r"""
import json, sys
from simplenn.cli import main
from simplenn.config import fit_to_data, preset
from simplenn.training.data import prepare_data
from simplenn.training.distribution import DistributedTrainer, local_devices, mirrored
from simplenn.runs.experiment import train_and_evaluate
from simplenn.training.trainer import Trainer

placement = mirrored(local_devices(2))
fixed = preset("fixed").replace(dataset="fashion-mnist")
data = prepare_data(fixed)
fixed = fit_to_data(fixed, data.n_features, data.n_classes, layers_given=False)
report = {}

def first_step(config, replicas):
    if replicas == 1:
        trainer = Trainer(config, data.train.size, data.image_shape)
    else:
        trainer = DistributedTrainer(config, data.train.size, data.image_shape, placement)
    start = [p.numpy() for p in trainer.network.params]
    trainer.run_steps(data.train, 1)
    gradients = [((s - p.numpy()) / config.lr).tolist() for s, p in zip(start, trainer.network.params)]
    return {"gradients": gradients, "statistics": trainer.epoch_statistics()}

# SGD, so that the step is -lr * the gradient; an L2 penalty and smoothed targets, both scaled per replica.
sgd = fixed.replace(optimizer="sgd", schedule="constant", batch_size=255, weight_decay=0.1, label_smoothing=0.1)
for reduction, lr in (("mean", 1.0), ("sum", 1e-2)):
    for replicas in (1, 2):
        report[f"{reduction} {replicas}"] = first_step(sgd.replace(reduction=reduction, lr=lr), replicas)

for strategy in ("default", "mirrored"):
    run = train_and_evaluate(fixed.replace(epochs=2, strategy=strategy, jit_compile=True), data=data,
                             log=lambda line: print(line))
    report[strategy] = run["test_accuracy"]
assert main(["bench", "strategies", "--dataset", "digits", "--epochs", "2", "--strategy", "mirrored",
             "--cpu-devices", "2", "--json", sys.argv[1]]) == 0
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def two_cpus(tmp_path_factory):
    bench_json = tmp_path_factory.mktemp("bench") / "bench.json"
    done = subprocess.run([sys.executable, "-c", TWO_CPUS, str(bench_json)], env=ENV, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), json.loads(bench_json.read_text()), done.stdout


def largest_difference(gradients, reference) -> float:
    """The largest gap between matching entries, relative to the largest entry of `reference`."""
    import numpy as np

    scale = max(float(np.max(np.abs(g))) for g in reference)
    return max(float(np.max(np.abs(np.subtract(a, b)))) for a, b in zip(gradients, reference)) / scale


@pytest.mark.slow  # two runs of Fashion-MNIST and a bench, on two logical CPUs
@needs_fashion_mnist
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_first_step_gradients_on_two_replicas_agree_with_one_device(two_cpus, reduction):
    report, _, _ = two_cpus
    one, two = report[f"{reduction} 1"], report[f"{reduction} 2"]
    assert largest_difference(two["gradients"], one["gradients"]) < 1e-5
    loss, accuracy = two["statistics"]  # the step's loss and accuracy over both replicas' rows
    assert loss == pytest.approx(one["statistics"][0], rel=1e-5)
    assert accuracy == one["statistics"][1]


@pytest.mark.slow  # two runs of Fashion-MNIST and a bench, on two logical CPUs
@needs_fashion_mnist
def test_mirrored_over_two_cpus_reaches_the_accuracy_of_one_device_on_fashion_mnist(two_cpus):
    report, _, stdout = two_cpus
    assert "strategy mirrored: 2 replica(s) on CPU:0, CPU:1; each step's 256 rows split 128 per replica" in stdout
    assert "XLA compiles each replica's forward and backward pass" in stdout
    assert report["default"] > 0.8  # two real runs, not two failures that agree
    assert abs(report["mirrored"] - report["default"]) <= 0.005


@pytest.mark.slow  # two runs of Fashion-MNIST and a bench, on two logical CPUs
@needs_fashion_mnist
def test_bench_reports_speed_and_efficiency_against_one_replica(two_cpus):
    _, bench, stdout = two_cpus
    rows = bench["rows"]
    assert {name: row["replicas"] for name, row in rows.items()} == {"mirrored x1": 1, "mirrored x2": 2, "default": 1}
    assert rows["mirrored x1"]["efficiency"] == pytest.approx(1.0)
    assert rows["mirrored x2"]["efficiency"] == pytest.approx(
        rows["mirrored x2"]["samples_per_s"] / (2 * rows["mirrored x1"]["samples_per_s"]))
    for name, row in rows.items():
        assert row["samples_per_s"] > 0 and row["test_accuracy"] > 0.3, name
        assert f"{name:<18}{row['replicas']:>9}{row['samples_per_s']:>12,.0f}" in stdout  # the table printed


def test_replica_counts_are_one_and_every_device():
    assert replica_counts(1) == [1]
    assert replica_counts(2) == [1, 2]
    assert replica_counts(8) == [1, 8]


# Two workers on this machine.

@pytest.mark.slow  # two worker processes
def test_two_workers_killed_mid_run_resume_to_the_weights_of_two_local_replicas(tmp_path, workers):
    run_dir, ports = tmp_path / "run", free_loopback_ports(2)
    argv = [*WORKER_RUN, "--strategy", "multiworker", "--run-dir", str(run_dir)]
    first = workers(argv, ports, tmp_path / "first")
    wait_for(lambda: list((run_dir / "checkpoints").glob("ckpt-*.sha256")), 120, "the chief's first checkpoint")
    first.kill(1)
    first.kill(0)
    assert not (run_dir / "summary.json").exists(), "the run ended before it was killed; make it longer"

    resumed = workers(["--resume", str(run_dir)], ports, tmp_path / "resumed")
    assert resumed.wait(timeout_s=180) == [0, 0], resumed.output(0) + resumed.output(1)
    chief, other = resumed.output(0), resumed.output(1)
    assert "resumed from" in chief and f"run written to {run_dir}" in chief
    assert "worker 1 (127.0.0.1:" in other and "the chief, worker 0, writes the run" in other
    assert sealed_checkpoints(run_dir)  # the chief's, and no worker's folder left beside them
    assert summary(run_dir)["epochs"] == 6

    # Two replicas give the same weights whether they are two workers or two logical CPUs.
    local = tmp_path / "local"
    run_cli(["train", *WORKER_RUN, "--strategy", "mirrored", "--cpu-devices", "2", "--run-dir", str(local)])
    assert summary(run_dir)["weights_sha256"] == summary(local)["weights_sha256"]

    from simplenn.runs.loaded_run import load_run  # the checkpoint of mirrored variables loads on one device

    assert load_run(run_dir).evaluate().accuracy == pytest.approx(summary(run_dir)["test_accuracy"])


@pytest.fixture(scope="module")
def lost_worker(tmp_path_factory):
    """Two workers, worker 1 killed once the chief has a checkpoint: (run_dir, ports, chief's status,
    the chief's output)."""
    folder = tmp_path_factory.mktemp("lost")
    run_dir, ports = folder / "run", free_loopback_ports(2)
    group = Workers([*WORKER_RUN, "--strategy", "multiworker", "--run-dir", str(run_dir)], ports, folder / "logs")
    try:
        wait_for(lambda: list((run_dir / "checkpoints").glob("ckpt-*.sha256")), 120, "the chief's first checkpoint")
        group.kill(1)
        # The coordination service ends the chief's collective some ten seconds after worker 1's
        # last heartbeat; the time-out only ends a chief that would hang.
        status = group.processes[0].wait(timeout=300)
        return run_dir, ports, status, group.output(0)
    finally:
        group.close()


@pytest.mark.slow  # two worker processes
def test_a_lost_worker_stops_the_other_with_its_name_and_no_checkpoint(lost_worker):
    run_dir, ports, status, output = lost_worker
    assert status == 1
    message = error_message(output[output.index("simplenn: error: "):])
    assert message.startswith(f"lost worker 1 (127.0.0.1:{ports[1]})")
    assert f"resume each with: simplenn train --resume {run_dir}" in message
    assert not (run_dir / "summary.json").exists()
    # Checkpoints only where the run saves them: every 20 steps or at the end of an epoch, never mid-chunk.
    import tensorflow as tf

    for prefix in sealed_checkpoints(run_dir):
        step = tf.train.load_checkpoint(str(run_dir / "checkpoints" / prefix)).get_tensor(
            "trainer/step_in_epoch/.ATTRIBUTES/VARIABLE_VALUE")
        assert step in (0, 20, 40, 60, 80), (prefix, step)


@pytest.mark.slow  # two worker processes
def test_workers_that_would_resume_from_different_steps_are_stopped(lost_worker, tmp_path, workers):
    """Worker 1 resumes a copy of the run without the chief's checkpoints: it would start again."""
    run_dir, ports, _, _ = lost_worker
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("ckpt-*", "checkpoint"))
    apart = workers(None, ports, tmp_path / "apart", argv_of=[["--resume", str(run_dir)], ["--resume", str(copy)]])
    assert apart.wait(timeout_s=120) == [2, 2]
    steps = []
    for index in (0, 1):
        output = apart.output(index)
        message = error_message(output[output.index("simplenn: error: "):])
        found = re.match(r"the workers would go on from different steps \(this one from step (\d+)\)", message)
        assert found and "the run directory must be one folder that all of them see" in message, message
        steps.append(int(found[1]))
    assert steps[0] > 0 and steps[1] == 0  # the chief's checkpoint; worker 1 found none
    assert not (run_dir / "summary.json").exists()


# Mistakes: one line, exit 2, before TensorFlow would start a server.

def test_a_multiworker_run_needs_a_run_directory(capsys, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", tf_config([1234, 1235], 0))
    assert main(["train", "--dataset", "digits", "--strategy", "multiworker"]) == 2
    assert error_message(capsys.readouterr().err) == (
        "--strategy multiworker needs --run-dir: every worker must name the same run directory")


@pytest.mark.parametrize("value, problem", [
    (None, "--strategy multiworker reads its workers from TF_CONFIG, which is not set"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]', "TF_CONFIG is not valid JSON (Expecting ',' delimiter at character 38)"),
    ('{"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}}', 'TF_CONFIG has no "task" saying which worker this is'),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 1}}',
     "TF_CONFIG task index 1 names no worker: the cluster lists 1, indices 0 to 0"),
    ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}',
     "TF_CONFIG worker address 'localhost' is not host:port"),
    ('{"cluster": {"worker": ["a:1"], "ps": ["b:2"]}, "task": {"type": "worker", "index": 0}}',
     "TF_CONFIG's cluster has job(s) ps"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "evaluator", "index": 0}}', "TF_CONFIG task type is 'evaluator'"),
])
def test_a_bad_tf_config_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, value, problem):
    if value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", value)
    status = main(["train", "--dataset", "digits", "--strategy", "multiworker", "--run-dir", str(tmp_path / "run")])
    assert status == 2
    assert error_message(capsys.readouterr().err).startswith(problem)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow  # a fresh process
def test_a_port_in_use_is_one_line_and_exit_2(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = [taken.getsockname()[1], free_loopback_ports(1)[0]]
        done = subprocess.run([sys.executable, "-m", "simplenn.cli", "train", "--dataset", "digits", "--strategy",
                               "multiworker", "--run-dir", str(tmp_path / "run")],
                              env={**ENV, "TF_CONFIG": tf_config(ports, 0)}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert error_message(done.stderr) == (
        f"port {ports[0]} of this worker, worker 0 (127.0.0.1:{ports[0]}) in TF_CONFIG, is in use by another "
        "process; stop it, or give this worker a free port in every worker's TF_CONFIG")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("flags, problem", [
    (["--cpu-devices", "2"], "argument --cpu-devices: splits the CPU for --strategy mirrored"),
    (["--strategy", "mirrored", "--clip-norm", "1"],
     "argument --clip-norm: would be applied to each replica's part of the gradient under --strategy mirrored"),
    (["--strategy", "mirrored", "--grad", "manual"], "argument --grad: manual writes the backward pass for one device"),
])
def test_settings_that_a_strategy_cannot_honour_are_refused(capsys, flags, problem):
    assert main(["train", "--dataset", "digits", *flags]) == 2
    assert error_message(capsys.readouterr().err).startswith(problem)


def test_logical_cpus_asked_for_too_late_are_a_clear_error():
    import tensorflow as tf

    from simplenn.training.distribution import split_cpu

    tf.constant(1.0).numpy()  # TensorFlow has started in this process
    have = len(tf.config.list_logical_devices("CPU"))
    with pytest.raises(SimplennError, match=f"--cpu-devices {have + 1} must be set before TensorFlow starts"):
        split_cpu(have + 1)


def test_the_chief_is_worker_0():
    assert read_cluster({"TF_CONFIG": tf_config([1, 2], 0)}) == Cluster(("127.0.0.1:1", "127.0.0.1:2"), 0)
    assert read_cluster({"TF_CONFIG": tf_config([1, 2], 0)}).is_chief
    assert not read_cluster({"TF_CONFIG": tf_config([1, 2], 1)}).is_chief


def test_a_run_recorded_before_strategies_existed_still_loads(tmp_path, monkeypatch):
    """config.json and the checkpoint of an older simplenn lack `strategy` and `cpu_devices`."""
    from simplenn.runs.experiment import train_and_evaluate
    from simplenn.runs.loaded_run import load_run

    newer = Config.to_dict
    monkeypatch.setattr(Config, "to_dict", lambda self: {
        k: v for k, v in newer(self).items() if k not in ("strategy", "cpu_devices")})
    run_dir = tmp_path / "old"
    trained = train_and_evaluate(Config(dataset="digits", layers=(64, 10), epochs=1, batch_size=64, scale_inputs=True),
                                 run_dir=run_dir, log=lambda line: None)
    monkeypatch.undo()
    assert "strategy" not in json.loads((run_dir / "config.json").read_text())
    run = load_run(run_dir)
    assert run.config.strategy == "default" and run.config.cpu_devices == 0
    assert run.evaluate().accuracy == pytest.approx(trained["test_accuracy"])
