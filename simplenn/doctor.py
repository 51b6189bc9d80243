"""`simplenn doctor`: is this machine ready to train, and what to paste into a bug report.

    checks = run_checks()            # one `Check` per line below, in this order
    print(format_checks(checks))     # ✓ python    Python 3.12.3 on macOS 15.1 (arm64)

Each check is a function that returns a `Check`: ✓ ok, ! works but worth knowing, ✗ will
fail, each not-ok one with its fix. No check raises: a check that crashes is itself
reported as ✗, with the exception, since that is what a bug report needs.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import ssl
import subprocess
import sys
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

# TensorFlow ships under several distribution names: the usual one, CPU-only builds, and
# older Apple Silicon builds.
DISTRIBUTIONS = {"tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly")}
PACKAGES = ("simplenn", "tensorflow", "keras", "numpy", "scikit-learn", "matplotlib")
MIN_PYTHON = (3, 10)
GB = 1024**3
LOW_DISK_GB, NO_DISK_GB = 2.0, 0.2  # a run of the best preset writes ~50 MB of checkpoints
LOW_MEMORY_GB = 2.0  # TensorFlow itself takes ~0.5 GB; MNIST as float32 with copies ~1 GB
SYMBOLS = {"ok": "✓", "warn": "!", "fail": "✗"}


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report: `status` is "ok", "warn" or "fail"; `fix` says what to do."""

    name: str
    status: str
    summary: str
    fix: str = ""


def installed_version(package: str) -> str:
    """The installed version of `package`, from its metadata (nothing is imported), or "not installed"."""
    for distribution in DISTRIBUTIONS.get(package, (package,)):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


# Python and the machine


def rosetta_translated() -> bool:
    """Whether this process is an x86_64 program that macOS runs on Apple Silicon through Rosetta 2."""
    if platform.system() != "Darwin":
        return False
    try:
        answer = subprocess.run(["sysctl", "-n", "sysctl.proc_translated"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return False
    return answer.stdout.strip() == "1"


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    system = f"macOS {platform.mac_ver()[0]}" if platform.system() == "Darwin" else platform.platform(terse=True)
    summary = f"Python {version} on {system} ({platform.machine()})"
    if sys.version_info[:2] < MIN_PYTHON:
        return Check("python", "fail", summary, f"install Python {'.'.join(map(str, MIN_PYTHON))} or newer")
    if rosetta_translated():
        return Check("python", "warn", summary + ", an Intel Python under Rosetta 2 on Apple Silicon",
                     "install an arm64 Python (python.org's universal installer, or Homebrew in /opt/homebrew) "
                     "and reinstall simplenn: TensorFlow for Intel Macs runs slowly or not at all under Rosetta")
    return Check("python", "ok", summary)


def check_packages() -> Check:
    versions = {package: installed_version(package) for package in PACKAGES}
    summary = ", ".join(f"{package} {version}" for package, version in versions.items())
    missing = [package for package, version in versions.items() if version == "not installed"]
    if missing:
        return Check("packages", "fail", summary, f"pip install {' '.join(missing)} (or `pip install -e .` in simplenn)")
    return Check("packages", "ok", summary)


# TensorFlow


def import_tensorflow():
    """TensorFlow, imported quietly; any failure to import is raised."""
    from simplenn.machine.quiet_tensorflow import tf

    return tf


def check_tensorflow() -> Check:
    try:
        tf = import_tensorflow()
    except Exception as error:  # an ImportError, or a crash inside TensorFlow's own start-up
        return Check("tensorflow", "fail", f"TensorFlow does not import ({type(error).__name__}: {error})",
                     "pip install --force-reinstall 'tensorflow>=2.16'; on an Intel Mac under Rosetta, "
                     "install an arm64 Python first")
    gpus = [device.name for device in tf.config.list_physical_devices("GPU")]
    if gpus:
        return Check("tensorflow", "ok", f"TensorFlow {tf.__version__}, GPU: {', '.join(gpus)}")
    return Check("tensorflow", "ok", f"TensorFlow {tf.__version__}, CPU only: {no_gpu_reason(tf)}")


def no_gpu_reason(tf) -> str:
    """Why TensorFlow sees no GPU, as far as can be told from here."""
    if platform.system() == "Darwin":
        if installed_version("tensorflow-metal") == "not installed":
            return "tensorflow-metal is not installed (it is optional; the small networks here train fast on the CPU)"
        return "tensorflow-metal is installed but no Metal device was found"
    if not tf.test.is_built_with_cuda():
        return "this TensorFlow build has no CUDA support (`pip install 'tensorflow[and-cuda]'` adds it)"
    if shutil.which("nvidia-smi") is None:
        return "no NVIDIA driver found (nvidia-smi is missing)"
    return "the NVIDIA driver answers but TensorFlow found no usable GPU (check CUDA_VISIBLE_DEVICES)"


def check_xla() -> Check:
    try:
        tf = import_tensorflow()
        compiled = tf.function(lambda x: tf.reduce_sum(x * 2.0 + 1.0), jit_compile=True)
        value = float(compiled(tf.ones((4, 4))))
    except Exception as error:
        return Check("xla", "fail", f"XLA could not compile a tiny function ({type(error).__name__}: {error})",
                     "train with --no-xla (the same results, somewhat slower)")
    if value != 48.0:
        return Check("xla", "fail", f"XLA computed {value} where 48 was expected", "train with --no-xla")
    return Check("xla", "ok", "XLA compiles and runs a tiny function")


# Files: datasets, disk, memory, the runs folder, TLS


def check_datasets() -> Check:
    from simplenn.datasets import list_datasets, verify

    bad = [check for check in verify() if check.problem]
    if bad:
        return Check("datasets", "fail", f"{len(bad)} damaged file(s): " + "; ".join(
            f"{check.path}: {check.problem}" for check in bad),
            f"simplenn data fetch {bad[0].dataset} (replaces damaged copies)")
    states = list_datasets()
    ready = [state.spec.name for state in states if state.ready]
    missing = [state.spec.name for state in states if not state.ready]
    summary = f"verified: {', '.join(ready)}" + (f"; not here: {', '.join(missing)}" if missing else "")
    fix = f"simplenn data fetch {missing[0]} when you need it" if missing else ""
    return Check("datasets", "ok", summary, fix)


def existing_folder(path: Path) -> Path:
    """`path`, or its nearest ancestor that exists."""
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


def check_disk(runs_dir: str | Path = "runs") -> Check:
    folder = existing_folder(Path(runs_dir))
    free = shutil.disk_usage(folder).free / GB
    summary = f"{free:.1f} GB free for {Path(runs_dir)}"
    if free < NO_DISK_GB:
        return Check("disk", "fail", summary, "free some space, or train with --run-dir on another disk")
    if free < LOW_DISK_GB:
        return Check("disk", "warn", summary, "free some space: each run keeps its checkpoints (--max-to-keep)")
    return Check("disk", "ok", summary)


def memory_gb() -> tuple[float | None, float | None]:
    """(available, total) memory in GB; None where this system does not say."""
    total = available = None
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GB
    except (ValueError, OSError, AttributeError):
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024 / GB
    except OSError:
        pass
    return available, total


def check_memory() -> Check:
    available, total = memory_gb()
    if total is None:
        return Check("memory", "warn", "this system does not say how much memory it has")
    if available is None:
        return Check("memory", "ok", f"{total:.1f} GB in all")
    summary = f"{available:.1f} GB available of {total:.1f} GB"
    if available < LOW_MEMORY_GB:
        return Check("memory", "warn", summary,
                     "close other programs, or train on digits, or with a smaller --batch-size and --layers")
    return Check("memory", "ok", summary)


def check_runs_folder(runs_dir: str | Path = "runs") -> Check:
    runs = Path(runs_dir)
    if runs.exists() and not runs.is_dir():
        return Check("runs", "fail", f"{runs} is a file, not a folder",
                     f"move {runs} away, or give every train a --run-dir elsewhere")
    folder = existing_folder(runs)
    if not os.access(folder, os.W_OK | os.X_OK):
        return Check("runs", "fail", f"cannot write in {folder}",
                     "run simplenn from a folder you can write to, or give --run-dir")
    return Check("runs", "ok", f"{runs.absolute()} is writable" if runs.exists() else
                 f"{runs.absolute()} can be created")


def check_tls() -> Check:
    named = os.environ.get("SIMPLENN_CA_BUNDLE")
    if named:
        if not Path(named).is_file():
            return Check("tls", "fail", f"SIMPLENN_CA_BUNDLE names {named}, which does not exist",
                         "point SIMPLENN_CA_BUNDLE at your proxy's PEM file, or unset it")
        return Check("tls", "ok", f"CA certificates from SIMPLENN_CA_BUNDLE={named}")
    paths = ssl.get_default_verify_paths()
    cafile = paths.cafile if paths.cafile and Path(paths.cafile).is_file() else None
    capath = paths.capath if paths.capath and Path(paths.capath).is_dir() and any(Path(paths.capath).iterdir()) else None
    loaded = ssl.create_default_context().cert_store_stats()["x509_ca"]
    if cafile or capath or loaded:
        return Check("tls", "ok", f"CA certificates found ({cafile or capath or f'{loaded} in the system store'})")
    fix = ("run 'Install Certificates.command' in your Python's Applications folder"
           if platform.system() == "Darwin" else "install the ca-certificates package, or set SSL_CERT_FILE")
    return Check("tls", "fail", f"no CA certificates found (looked in {paths.openssl_cafile} and "
                 f"{paths.openssl_capath}); `simplenn data fetch` cannot check servers", fix)


CHECKS: tuple[Callable[[], Check], ...] = (
    check_python, check_packages, check_tensorflow, check_xla, check_datasets,
    check_disk, check_memory, check_runs_folder, check_tls,
)


def run_checks(checks: tuple[Callable[[], Check], ...] | None = None) -> list[Check]:
    """Every check (of `CHECKS` by default), in order; one that crashes becomes a ✗ naming the exception."""
    results = []
    for check in checks or CHECKS:
        try:
            results.append(check())
        except Exception as error:  # the doctor reports, it does not crash
            name = check.__name__.removeprefix("check_")
            results.append(Check(name, "fail", f"the check itself failed: {type(error).__name__}: {error}",
                                 "report this, with this output, at simplenn's issue tracker"))
    return results


def healthy(checks: list[Check]) -> bool:
    """False when any check failed (a ✗); warnings (!) still pass."""
    return all(check.status != "fail" for check in checks)


def format_checks(checks: list[Check]) -> str:
    """One line per check, `✓ name  summary`, and an indented `fix:` under each that has one."""
    width = max(len(check.name) for check in checks)
    lines = []
    for check in checks:
        lines.append(f"{SYMBOLS[check.status]} {check.name:<{width}}  {check.summary}")
        if check.fix:
            lines.append(f"  {'':<{width}}  fix: {check.fix}")
    return "\n".join(lines)


def checks_json(checks: list[Check]) -> str:
    """`simplenn doctor --json`: {"ok": bool, "checks": [{"name", "status", "summary", "fix"}, ...]}."""
    return json.dumps({"ok": healthy(checks), "checks": [asdict(check) for check in checks]}, indent=2,
                      ensure_ascii=False)
