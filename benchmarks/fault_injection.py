"""Kill real training runs at random moments and check that nothing is lost.

    python benchmarks/fault_injection.py [--kills 20] [--seed 0] [--json report.json]

A reference run trains without interruption. Another run of the same config is started,
killed once it has made progress, resumed with `simplenn train --resume`, killed again,
and so on, then resumed to the end. The kills are SIGKILL, which no program can catch or
clean up after: alternately at a random moment (mostly during training steps and step
checkpoints) and just after an epoch ends (while its history, TensorBoard scalars and
checkpoint are written); the last one as training finishes (final checkpoint, scoring,
summary.json). One SIGTERM and one SIGINT (Ctrl-C) go in between. After every fault:

  - every JSON file of the run parses;
  - the next `--resume` loads the newest sealed checkpoint, without a warning: nothing
    newer was lost and nothing was damaged;
  - after SIGTERM or SIGINT the exit status is 143 or 130, the process printed the
    command to resume, and the resume starts exactly where it said it stopped;

and at the end the resumed run's `weights_sha256` must equal the reference's.

What a killed process was doing comes from a Python stack dump (`faulthandler`) that it
writes on SIGUSR1 a few milliseconds before the SIGKILL.

Each run is a process forked from this script after it has imported TensorFlow (and
before TensorFlow has started any thread pool), so a kill costs the second or two of
building and tracing the trainer rather than also the import.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import random
import re
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import simplenn

simplenn.set_up()  # TensorFlow loads quietly, as under the CLI
from simplenn import cli  # noqa: E402
from simplenn.runs import experiment  # noqa: E402,F401  imported before forking: TensorFlow and the datasets

EPOCHS = 12
# A small network on scikit-learn's 8x8 digits, checkpointed every 4 of its 43 steps per epoch.
RUN_FLAGS = [
    "--dataset", "digits", "--layers", "64,256,256,10", "--batch-size", "32", "--epochs", str(EPOCHS),
    "--checkpoint-every-steps", "4", "--seed", "7", "--no-xla",
]  # not --quiet: the "resumed from" lines say where each resume began
WAIT_S = 120  # for any one process to make progress or finish
RESUMED = re.compile(r"resumed from (\S+) at (.+)")
STOPPED = re.compile(r"stopped by (SIG\w+) at (.+) with checkpoint (\S+);\s+resume with: simplenn train --resume (\S+)")
STACK_DUMP = "most recent call first"
# The innermost simplenn function on a killed process's stack, and what it means.
ACTIVITIES = {
    ("run_directory.py", "write_summary"): "writing summary.json",
    ("run_directory.py", "write_history"): "writing history.json and .csv",
    ("run_directory.py", "write_scalars"): "writing TensorBoard scalars",
    ("checkpoints.py", "save"): "writing a checkpoint and its digest",
    ("checkpoints.py", "restore"): "restoring a checkpoint",
    ("trainer.py", "run_steps"): "running (or tracing) training steps",
    ("trainer.py", "__init__"): "building the trainer",
    ("data.py", "prepare_data"): "loading the data",
    ("trainer.py", "fit"): "in the training loop, between chunks of steps",
    ("metrics.py", "logits_in_blocks"): "scoring",
}
FRAME = re.compile(r'File "(?P<path>[^"]+)", line \d+ in (?P<function>\w+)')


class Process:
    """`simplenn <argv>` in a forked child, with its stdout and stderr in `log_path`."""

    started_processes: list["Process"] = []  # to kill what is left if this script fails

    def __init__(self, argv: list[str], log_path: Path):
        Process.started_processes.append(self)
        self.log_path = log_path
        self.started = time.time()
        self.exit_status: int | None = None
        log_path.write_text("")  # before forking, so that it can be read at once
        self.pid = os.fork()
        if self.pid == 0:
            status = 70
            try:
                descriptor = os.open(log_path, os.O_WRONLY)
                os.dup2(descriptor, 1)
                os.dup2(descriptor, 2)
                sys.stdout = sys.stderr = open(1, "w", buffering=1, closefd=False)
                # all_threads: the signal may land on one of TensorFlow's threads, which has no Python stack
                faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
                status = cli.main(argv)
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                os._exit(status)

    def running(self) -> bool:
        if self.exit_status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.exit_status = os.waitstatus_to_exitcode(status)
        return self.exit_status is None

    def wait(self) -> int:
        deadline = time.time() + WAIT_S
        while self.running():
            if time.time() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                raise RuntimeError(f"{self.log_path} did not finish in {WAIT_S} s")
            time.sleep(0.005)
        return self.exit_status

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def activity(self) -> str | None:
        """What the process is doing now, from its stack; None if it has ended."""
        dumps = self.output().count(STACK_DUMP)
        os.kill(self.pid, signal.SIGUSR1)
        deadline = time.time() + 5
        while (text := self.output()).count(STACK_DUMP) == dumps:
            if not self.running() or time.time() > deadline:
                return None
            time.sleep(0.001)
        time.sleep(0.002)  # the header comes first; let the frames follow
        text = self.output()
        frames = [(Path(frame["path"]), frame["function"]) for frame in FRAME.finditer(text[text.rindex(STACK_DUMP):])]
        ours = [(path.name, function) for path, function in frames if "simplenn" in path.parent.parts]
        for frame in ours:  # innermost first
            if frame in ACTIVITIES:
                return ACTIVITIES[frame]
        # faulthandler shows 100 frames at most; TensorFlow's tracing and imports go deeper.
        return f"in {ours[0][0]}:{ours[0][1]}" if ours else "deep inside TensorFlow or an import"


def sealed_checkpoints(run_dir: Path) -> list[Path]:
    """The run's checkpoint digests, the commit records of its checkpoints, newest first."""
    digests = (run_dir / "checkpoints").glob("ckpt-*.sha256")
    return sorted(digests, key=lambda path: int(path.name[5:-7]), reverse=True)


def last_sealed_at(run_dir: Path) -> float:
    """When the newest checkpoint digest was written (0 if there is none)."""
    times = [0.0]
    for path in sealed_checkpoints(run_dir):
        try:
            times.append(path.stat().st_mtime)
        except FileNotFoundError:  # rotated out meanwhile
            pass
    return max(times)


def epochs_recorded(run_dir: Path) -> int:
    try:
        return len(json.loads((run_dir / "history.json").read_text()))
    except (OSError, ValueError):
        return 0


def wait_until(condition, process: Process) -> bool:
    """Wait until `condition()` holds; False if `process` ended first."""
    deadline = time.time() + WAIT_S
    while not condition():
        if not process.running():
            return False
        if time.time() > deadline:
            raise RuntimeError(f"{process.log_path}: nothing happened in {WAIT_S} s")
        time.sleep(0.002)
    return True


def invalid_json(run_dir: Path) -> list[str]:
    """The JSON files of the run that do not parse."""
    bad = []
    for path in run_dir.glob("*.json"):
        try:
            json.loads(path.read_text())
        except (OSError, ValueError) as error:
            bad.append(f"{path.name}: {error}")
    return bad


def plan_faults(kills: int, rng: random.Random) -> list[tuple[str, str]]:
    """(signal, moment) for each fault in order; the last is a kill as training finishes."""
    moments = ("during training", "epoch end", "any time")  # the first process must write config.json
    plan = [("SIGKILL", moments[number % 3]) for number in range(kills - 1)]
    for name in ("SIGTERM", "SIGINT"):
        plan.insert(rng.randrange(1, len(plan)), (name, "during training"))
    return plan + [("SIGKILL", "training ends")]


def strike(process: Process, run_dir: Path, name: str, moment: str, rng: random.Random,
           startup_s: float) -> dict | None:
    """Wait for `moment` in `process`, then send it signal `name`; None if it finished first.

    any time:        uniform over the first `startup_s` after the process started (start-up,
                     restore, tracing, the first steps);
    during training: after its first checkpoint, 0-5 more checkpoints and 0-40 ms;
    epoch end:       0-20 ms after the next epoch's history.json is written;
    training ends:   0-80 ms after the last epoch's history.json is written.
    Progress is counted in checkpoints and epochs, not seconds, so that a faster machine
    does not run out of epochs before the faults are done.
    """
    if moment == "any time":
        delay = rng.uniform(0, startup_s)
        time.sleep(max(0.0, process.started + delay - time.time()))
    else:
        if not wait_until(lambda: last_sealed_at(run_dir) > process.started, process):
            return None
        if moment == "during training":
            for _ in range(rng.randrange(6)):
                sealed = last_sealed_at(run_dir)
                if not wait_until(lambda: last_sealed_at(run_dir) > sealed, process):
                    return None
            delay = rng.uniform(0, 0.04)
        else:
            target = EPOCHS if moment == "training ends" else epochs_recorded(run_dir) + 1
            if not wait_until(lambda: epochs_recorded(run_dir) >= target, process):
                return None
            delay = rng.uniform(0, 0.02 if moment == "epoch end" else 0.08)
        time.sleep(delay)
    fault = {"signal": name, "moment": moment, "delay_s": round(delay, 3)}
    if name == "SIGKILL":
        fault["doing"] = process.activity()
        if fault["doing"] is None:
            return None
    os.kill(process.pid, getattr(signal, name))
    fault["exit_status"] = process.wait()
    return fault


def check_stop_message(process: Process, fault: dict) -> list[str]:
    """SIGTERM or SIGINT: the exit status and the stop message with the resume command."""
    stopped = STOPPED.search(process.output())
    expected = 128 + getattr(signal, fault["signal"])
    if fault["exit_status"] != expected or not stopped or stopped[1] != fault["signal"]:
        return [f"exit status {fault['exit_status']} (expected {expected}), output {process.output()[-300:]!r}"]
    fault["doing"] = "stopping with a checkpoint"
    fault["stopped_at"], fault["stop_checkpoint"] = stopped[2], Path(stopped[3]).name
    return []


def check_resume(process: Process, run_dir: Path, fault: dict) -> list[str]:
    """The resume after a fault loads the newest sealed checkpoint, or finds the run finished."""
    newest = sealed_checkpoints(run_dir)[:1]
    fault["newest_sealed"] = newest[0].name[:-7] if newest else None
    found = wait_until(lambda: RESUMED.search(process.output()) or "finished already" in process.output(), process)
    text = process.output()
    if "finished already" in text:
        fault["resumed_from"] = "finished already"
        return [] if (run_dir / "summary.json").exists() else ["said finished without a summary.json"]
    resumed = RESUMED.search(text)
    if not found and resumed is None:
        return [f"the resume did not load a checkpoint: {text[-300:]!r}"]
    fault["resumed_from"], fault["resumed_at"] = Path(resumed[1]).name, resumed[2]
    problems = []
    if fault["resumed_from"] != fault["newest_sealed"] or "warning: checkpoint" in text:
        problems.append(f"resumed from {fault['resumed_from']}, the newest sealed is {fault['newest_sealed']}")
    if "stop_checkpoint" in fault and (fault["stop_checkpoint"], fault["stopped_at"]) != (
            fault["resumed_from"], fault["resumed_at"]):
        problems.append(f"stopped at {fault['stopped_at']} ({fault['stop_checkpoint']}), "
                        f"resumed at {fault['resumed_at']} ({fault['resumed_from']})")
    return problems


def run_faults(kills: int, seed: int, workdir: Path) -> dict:
    """A reference run, then `kills` SIGKILLs, one SIGTERM and one SIGINT on a second run."""
    rng = random.Random(seed)
    reference_dir, run_dir = workdir / "reference", workdir / "faulty"
    reference = Process(["train", *RUN_FLAGS, "--run-dir", str(reference_dir)], workdir / "reference.log")
    process = Process(["train", *RUN_FLAGS, "--run-dir", str(run_dir)], workdir / "run-0.log")
    faults, problems = [], []
    startup_s = 3.0  # until measured: from a process's start to its first checkpoint
    for number, (name, moment) in enumerate(plan_faults(kills, rng), start=1):
        fault = strike(process, run_dir, name, moment, rng, startup_s)
        if fault is None:
            problems.append(f"the run finished before fault {number} ({name}, {moment}); give it more epochs")
            break
        fault["number"] = number
        if last_sealed_at(run_dir) > process.started:
            startup_s = min(startup_s, last_sealed_at(run_dir) - process.started)
        found = check_stop_message(process, fault) if name != "SIGKILL" else []
        found += invalid_json(run_dir)
        process = Process(["train", "--resume", str(run_dir)], workdir / f"run-{number}.log")
        found += check_resume(process, run_dir, fault)
        problems += [f"fault {number} ({name}, {moment}): {problem}" for problem in found]
        faults.append(fault)
    final_status, reference_status = process.wait(), reference.wait()
    if (final_status, reference_status) != (0, 0):
        problems.append(f"exit status {final_status} after the faults, {reference_status} without them")
    summaries = [run / "summary.json" for run in (reference_dir, run_dir)]
    reference_sha, final_sha = (json.loads(p.read_text())["weights_sha256"] if p.exists() else None
                                for p in summaries)
    if final_sha is None or final_sha != reference_sha:
        problems.append(f"weights_sha256 {final_sha} after the faults, {reference_sha} without them")
    epochs = [record["epoch"] for record in json.loads((run_dir / "history.json").read_text())]
    if epochs != list(range(1, EPOCHS + 1)):
        problems.append(f"history.json has epochs {epochs}, expected 1..{EPOCHS}")
    return {"seed": seed, "flags": RUN_FLAGS, "faults": faults, "kills": sum(f["signal"] == "SIGKILL" for f in faults),
            "reference_sha256": reference_sha, "final_sha256": final_sha, "problems": problems}


def table(report: dict) -> str:
    """A Markdown table: each fault, what the process was doing, how often; then the verdict."""
    counts: dict[tuple[str, str, str], int] = {}
    for fault in report["faults"]:
        key = (fault["signal"], fault["moment"], fault.get("doing") or "?")
        counts[key] = counts.get(key, 0) + 1
    lines = ["| fault | when | what the process was doing | times |", "|---|---|---|---:|"]
    lines += [f"| {name} | {moment} | {doing} | {count} |" for (name, moment, doing), count in sorted(counts.items())]
    same = report["final_sha256"] is not None and report["final_sha256"] == report["reference_sha256"]
    lines.append("")
    lines.append(
        f"{len(report['faults'])} faults ({report['kills']} SIGKILL). After each, every JSON file parsed and "
        f"the next --resume loaded the newest sealed checkpoint; the final weights_sha256 "
        f"{'equals' if same else 'DIFFERS from'} the uninterrupted run's."
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="how many SIGKILLs (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the moments and delays (default 0)")
    parser.add_argument("--json", default=None, help="also write the full report here")
    parser.add_argument("--workdir", default=None, help="keep the runs here (default: a new temporary folder)")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="simplenn-faults-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        report = run_faults(args.kills, args.seed, workdir)
    finally:
        for process in Process.started_processes:
            if process.running():
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
    report["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    for problem in report["problems"]:
        print(f"PROBLEM: {problem}")
    print(f"({report['seconds']} s; the runs are in {workdir})")
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
