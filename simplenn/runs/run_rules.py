"""The rules a run must meet before it starts, checked without TensorFlow.

One check for every caller: `simplenn train` calls it before TensorFlow loads, so that a
mistake answers at once; `train_and_evaluate` calls it first, so that a notebook or a
script meets the same rules in the same words.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from simplenn.config import Config, config_fields, flags_of
from simplenn.datasets import DATASET_NAMES, check_dataset_name
from simplenn.errors import SimplennError
from simplenn.runs.run_directory import RunDirectory
from simplenn.training.cluster import Cluster, cluster_of

DEFAULT_TEST_SPLIT = next(field.default for field in config_fields() if field.name == "test_split")


def check_run_start(config: Config | None, run_dir: str | Path | None, *, resume: bool = False,
                    changes: Sequence[str] = ()) -> Cluster | None:
    """Raise `SimplennError` if this run cannot start; return its cluster (None on one machine).

    A new run: its dataset name is known or a path, `test_split` is changed only for data
    that has no test split of its own (a catalogue dataset has one), a multi-worker run names a run
    directory (every worker must write the same one), and the chief can create it.
    A resumed run: `run_dir` holds an earlier run, and nothing is changed: `changes` are
    what the caller asked to change (the CLI's flags), and `config`, when given, must be
    the one stored there. Writes nothing.
    """
    if resume:
        if run_dir is None:
            raise SimplennError("resuming needs the run directory of an earlier run (--resume RUN_DIR)")
        if changes:  # before the folder is read: the flags are wrong whatever it holds
            raise _resume_changes(run_dir, changes)
        stored = RunDirectory(run_dir).open().read_config()
        if config is not None and config != stored:
            raise _resume_changes(run_dir, ["/".join(flags_of(field)) for field in config_fields()
                                            if getattr(config, field.name) != getattr(stored, field.name)])
        return cluster_of(stored)
    check_dataset_name(config.dataset)
    if config.dataset in DATASET_NAMES and config.test_split != DEFAULT_TEST_SPLIT:  # it would be ignored
        raise SimplennError(f"{config.dataset} comes with its own test split, so --test-split is not used; drop it "
                            "(it holds out part of data given by path: one CSV or one folder of class folders)")
    cluster = cluster_of(config)
    if cluster is not None and run_dir is None:
        raise SimplennError("--strategy multiworker needs --run-dir: every worker must name the same run directory")
    if run_dir is not None and (cluster is None or cluster.is_chief):  # the others may find it made already
        RunDirectory(run_dir).check_new()
    return cluster


def _resume_changes(run_dir, changes: Sequence[str]) -> SimplennError:
    return SimplennError(f"--resume goes on with the config stored in {run_dir}/config.json; drop {', '.join(changes)}")
