"""A dataset's files on this machine: find or fetch them, and the `simplenn data` commands.

`dataset_files` is what loading a catalogue dataset uses. `list_datasets`, `fetch`,
`verify` and `import_files` are `simplenn data list | fetch | verify | import` as
functions that return what they found, for the CLI or a notebook to show.
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

from simplenn.datasets.cache import cache_root, cached_path, copies, install_file, locate
from simplenn.datasets.catalogue import CATALOGUE, DataFile, DatasetSpec, Source, dataset_spec
from simplenn.datasets.download import Deadline, DownloadError, DownloadOptions, Progress, download_file
from simplenn.datasets.integrity import mismatch, verify_cached
from simplenn.datasets.validation import DatasetError
from simplenn.machine.file_safety import user_path
from simplenn.errors import SimplennWarning


def dataset_files(
    spec: DatasetSpec,
    *,
    repair: bool = False,
    options: DownloadOptions = DownloadOptions(),
    progress: Progress | None = None,
    test_only: bool = False,
) -> tuple[Source, list[Path | None]]:
    """One complete source of `spec` and its files, each verified.

    test_only: only the test split will be read (`evaluate`): a four-file IDX source's
    training files are neither verified nor fetched, and stand as None in the list.

    A source already complete on this machine comes first; otherwise the missing files
    of the first source that downloads are fetched, all downloads sharing one deadline
    (`options.deadline_s` without an answer). A copy that fails verification is passed
    over, with a warning, for a verified copy elsewhere on this machine; with none, it
    raises `DatasetError`, or with `repair` is replaced.
    """
    complete = [source for source in spec.sources if all(locate(spec, f) for f in source.files)]
    deadline, failures = Deadline(options.deadline_s), []
    for source in complete + [source for source in spec.sources if source not in complete]:
        try:
            return source, [None if test_only and data_file in training_files(source) else
                            _ready_file(spec, data_file, repair, options, progress, deadline)
                            for data_file in source.files]
        except DownloadError as error:
            failures.append(str(error))
    raise DatasetError(_not_here(spec, failures))


def training_files(source: Source) -> tuple[DataFile, ...]:
    """The files of `source` that hold only the training split: an IDX source's first two."""
    return source.files[:2] if source.format == "idx" else ()


def _ready_file(
    spec: DatasetSpec, data_file: DataFile, repair: bool, options: DownloadOptions, progress: Progress | None,
    deadline: Deadline,
) -> Path:
    """A verified copy of `data_file`: one found here, else a fresh download into the cache.

    With `repair`, a bad copy in the cache is replaced: by a verified copy found elsewhere
    (Debian's), else by a download.
    """
    problems = []
    for path in copies(spec, data_file):
        try:
            verify_cached(path, data_file, spec.name)
        except DatasetError as error:
            problems.append(str(error))
            continue
        if problems and repair:
            return _copy_into_cache(path, data_file)
        if problems:
            warnings.warn(f"{problems[0]}; meanwhile using the verified copy {path}", SimplennWarning, stacklevel=2)
        return path
    if problems and not repair:
        raise DatasetError(problems[0])
    return download_file(data_file, cached_path(data_file), options=options, progress=progress, deadline=deadline)


def _not_here(spec: DatasetSpec, failures: list[str]) -> str:
    """The error for a dataset that is neither here nor downloadable: what to get, where to put it, what failed.

    Its clauses, split at "; ", are what the CLI prints on lines of their own.
    """
    source = spec.sources[0]
    missing = [data_file for data_file in source.files if locate(spec, data_file) is None] or list(source.files)
    wanted = ", ".join(f"{f.name} ({f.pinned}) from {f.urls[0]}" for f in missing)
    debian = f", or install the Debian package {spec.debian_package}" if spec.debian_package else ""
    return (
        f"{spec.name} is not on this machine and could not be downloaded; "
        f"put {wanted} in {cached_path(missing[0]).parent}{debian}, "
        f"or run `simplenn data import {spec.name} PATH` on copies obtained elsewhere; {failures[0]}"
    )


@dataclass(frozen=True)
class FileState:
    """One catalogue file and where it was found; `path` is None when it is missing."""

    data_file: DataFile
    path: Path | None


@dataclass(frozen=True)
class DatasetState:
    """One dataset and its files; `ready` when bundled or one source has all its files here."""

    spec: DatasetSpec
    files: tuple[FileState, ...]
    ready: bool


def list_datasets() -> list[DatasetState]:
    """Every catalogue dataset with where each of its files is; nothing is hashed."""
    states = []
    for spec in CATALOGUE.values():
        found = {data_file: locate(spec, data_file) for data_file in spec.files}
        ready = not spec.sources or any(all(found[f] for f in source.files) for source in spec.sources)
        states.append(DatasetState(spec, tuple(FileState(f, path) for f, path in found.items()), ready))
    return states


def fetch(name: str, *, options: DownloadOptions = DownloadOptions(), progress: Progress | None = None) -> list[Path]:
    """Make dataset `name` ready: download what is missing, replace what fails verification.

    Returns the verified files, e.g. `[~/.keras/datasets/mnist.npz]`; empty for a bundled dataset.
    """
    spec = dataset_spec(name)
    if not spec.sources:
        return []
    return dataset_files(spec, repair=True, options=options, progress=progress)[1]


@dataclass(frozen=True)
class FileCheck:
    """The verdict on one catalogue file: `problem` is None when it verified or is missing (`path` None)."""

    dataset: str
    data_file: DataFile
    path: Path | None
    problem: str | None


def verify(name: str | None = None) -> list[FileCheck]:
    """Hash every file of dataset `name` (or of all datasets) that is on this machine, afresh."""
    specs = [dataset_spec(name)] if name else list(CATALOGUE.values())
    checks = []
    for spec in specs:
        for data_file in spec.files:
            path = locate(spec, data_file)
            problem = mismatch(path, data_file) if path else None
            checks.append(FileCheck(spec.name, data_file, path, problem))
    return checks


def import_files(name: str, path: str | Path) -> list[Path]:
    """Verify dataset `name`'s files at `path` and copy them into the cache; return the copies.

    `path` is a folder holding the files under their published names (e.g. a copy of
    Debian's /usr/share/datasets/fashion-mnist), or one file under any name, recognised
    by its hash (e.g. a browser's "mnist (1).npz").
    """
    spec = dataset_spec(name)
    if not spec.sources:
        raise DatasetError(f"{name} comes with scikit-learn; there are no files to import")
    path = user_path(path)
    expected = ", ".join(f.name for f in spec.files)
    if path.is_dir():
        pairs = [(path / f.name, f) for f in spec.files if (path / f.name).is_file()]
        if not pairs:
            raise DatasetError(
                f"{path}: expected {name}'s files ({expected}), found none of them; "
                "IDX files must be the published .gz files under their published names"
            )
        for source_path, data_file in pairs:
            if problem := mismatch(source_path, data_file):
                raise DatasetError(
                    f"{source_path}: {problem}; this is not the published {data_file.name}, "
                    f"get a fresh copy from {data_file.urls[0]}"
                )
    elif path.is_file():
        match = next((f for f in spec.files if mismatch(path, f) is None), None)
        if match is None:
            raise DatasetError(
                f"{path}: expected one of {name}'s files ({expected}), found a file that matches "
                f"none of their pinned hashes; get a fresh copy from {spec.files[0].urls[0]}"
            )
        pairs = [(path, match)]
    else:
        raise DatasetError(f"{path}: expected a file or a folder holding {name}'s files, found nothing there")
    return [_copy_into_cache(source_path, data_file) for source_path, data_file in pairs]


def _copy_into_cache(source_path: Path, data_file: DataFile) -> Path:
    """Copy a verified file into the cache, checking the copy before it takes the final name."""

    def write(stream) -> None:
        with open(source_path, "rb") as source:
            shutil.copyfileobj(source, stream)

    def check(part: Path) -> None:
        if problem := mismatch(part, data_file):
            raise DatasetError(f"{part}: {problem}; the copy differs from {source_path}, check the disk")

    return install_file(cached_path(data_file), write, check, source_path.stat().st_size)


def format_dataset_list(states: list[DatasetState]) -> str:
    """`simplenn data list`: each dataset, whether it is ready, and where its files are."""
    lines = []
    for state in states:
        lines.append(f"{state.spec.name:<14} {'ready' if state.ready else 'missing':<8} {state.spec.title}")
        lines += [f"    {file.data_file.name:<28} {file.path or 'missing'}" for file in state.files]
    lines.append(f"cache: {cache_root()} (set SIMPLENN_DATA or KERAS_HOME to move it)")
    return "\n".join(lines)


def format_checks(checks: list[FileCheck]) -> str:
    """`simplenn data verify`: one line per file, ok, BAD (with what was found) or missing."""
    lines = []
    for check in checks:
        verdict = "missing" if check.path is None else "BAD" if check.problem else "ok"
        detail = f": {check.problem}" if check.problem else ""
        lines.append(f"{verdict:<8} {check.dataset:<14} {check.path or check.data_file.name}{detail}")
    return "\n".join(lines)


def require_verified(checks: list[FileCheck]) -> None:
    """`DatasetError` naming the files that failed verification, and how to replace them."""
    bad = [check for check in checks if check.problem]
    if bad:
        raise DatasetError(
            f"{len(bad)} file(s) failed verification ({', '.join(str(check.path) for check in bad)}); "
            f"run `simplenn data fetch {bad[0].dataset}` to replace them"
        )
