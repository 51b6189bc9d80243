"""`simplenn doctor`: is this machine ready to train, and what to paste into a bug report."""

from __future__ import annotations

from importlib import metadata

# TensorFlow ships under several distribution names: the usual one, CPU-only builds, and
# older Apple Silicon builds.
DISTRIBUTIONS = {"tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly")}


def installed_version(package: str) -> str:
    """The installed version of `package`, from its metadata (nothing is imported), or "not installed"."""
    for distribution in DISTRIBUTIONS.get(package, (package,)):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"
