"""The README's figures for "More than one device": one run under each strategy, and lost workers.

    python benchmarks/strategies.py [--preset fixed] [--dataset fashion-mnist] [--out runs/strategies]

1. `simplenn train --preset P --dataset D` with `--strategy default`, with `--strategy
   mirrored --cpu-devices 2`, and with `--strategy multiworker` as two worker processes
   on 127.0.0.1; for each: test accuracy, training time, epoch 1, samples/s over the
   other epochs (from history.json) and `weights_sha256`.
2. Two workers on digits; once the chief has saved a checkpoint, one worker is stopped
   with SIGSTOP (hung, not dead: its port still accepts connections), and the time until
   the other exits, and its message, are recorded; first worker 1, then the chief.

Every process has a timeout; the load average is printed beside each figure.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import simplenn
from simplenn.training.cluster import free_loopback_ports

TIMEOUT_S = 900


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())



def start_workers(argv: list[str], logs: list[Path]) -> list[subprocess.Popen]:
    """One `simplenn train` per log, each a worker of the same TF_CONFIG cluster."""
    workers = [f"127.0.0.1:{port}" for port in free_loopback_ports(len(logs))]
    processes = []
    for index, log in enumerate(logs):
        config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        with open(log, "w") as out:
            processes.append(subprocess.Popen([sys.executable, "-m", "simplenn.cli", "train", *argv],
                                              env={**os.environ, "TF_CONFIG": config}, stdout=out,
                                              stderr=subprocess.STDOUT, start_new_session=True))
    return processes


def figures(run_dir: Path) -> str:
    history = json.loads((run_dir / "history.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    rest = history[1:] or history
    samples = sum(r["samples_per_s"] * r["seconds"] for r in rest)
    return (f"test {100 * summary['test_accuracy']:.2f} %  training {summary['train_seconds']:.1f} s  "
            f"epoch 1 {history[0]['seconds']:.2f} s  samples/s (epochs 2-) {samples / sum(r['seconds'] for r in rest):,.0f}  "
            f"sha {summary['weights_sha256'][:8]}")


def one_run_each(preset: str, dataset: str, out: Path) -> None:
    base = ["--preset", preset, "--dataset", dataset, "--quiet"]
    for name, flags in (("default", []), ("mirrored", ["--strategy", "mirrored", "--cpu-devices", "2"])):
        print(load())
        subprocess.run([sys.executable, "-m", "simplenn.cli", "train", *base, *flags, "--run-dir", str(out / name)],
                       check=True, stdout=subprocess.DEVNULL, timeout=TIMEOUT_S)
        print(f"{name:<10}{figures(out / name)}")
    print(load())
    workers = start_workers([*base, "--strategy", "multiworker", "--run-dir", str(out / "workers")],
                            [out / "worker0.log", out / "worker1.log"])
    assert [p.wait(timeout=TIMEOUT_S) for p in workers] == [0, 0], "a worker failed; see its log"
    print(f"{'workers':<10}{figures(out / 'workers')}")
    print(load())


def hang(stopped: int, out: Path) -> None:
    """Stop worker `stopped` mid-run; how long the other takes to give up, and what it says."""
    run_dir = out / f"hang{stopped}"
    logs = [out / f"hang{stopped}-worker{i}.log" for i in range(2)]
    workers = start_workers(["--preset", "fixed", "--dataset", "digits", "--epochs", "30", "--batch-size", "16",
                             "--checkpoint-every-steps", "20", "--strategy", "multiworker", "--run-dir", str(run_dir)],
                            logs)
    other = workers[1 - stopped]
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while not list((run_dir / "checkpoints").glob("ckpt-*.sha256")):
            assert time.monotonic() < deadline and other.poll() is None, "no checkpoint"
            time.sleep(0.05)
        print(load())
        os.killpg(workers[stopped].pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        status = other.wait(timeout=TIMEOUT_S)
        seconds = time.monotonic() - stopped_at
        message = logs[1 - stopped].read_text().split("simplenn: error: ")[-1].split(";")[0]
        print(f"worker {stopped} stopped: worker {1 - stopped} exited {status} after {seconds:.1f} s: {message}")
    finally:
        for process in workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=60)


def main() -> None:
    simplenn.set_up()  # as the CLI does: TensorFlow, if it loads, loads quietly
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="fixed")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--out", type=Path, default=Path("runs/strategies"), help="a new folder for the runs")
    args = parser.parse_args()
    args.out.mkdir(parents=True)
    one_run_each(args.preset, args.dataset, args.out)
    for stopped in (1, 0):
        hang(stopped, args.out)


if __name__ == "__main__":
    main()
