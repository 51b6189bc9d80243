"""`simplenn compare RUN RUN ...`: what differs between runs, and what it did.

    comparison = compare_runs(["runs/a", "runs/b"])
    print(format_comparison(comparison))       # only the config fields that differ, then the scores
    compare_figure(comparison.histories, comparison.names)

Reads each run's config.json, history.json and summary.json; no weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from simplenn.errors import SimplennError
from simplenn.runs.run_directory import RunDirectory


@dataclass
class Comparison:
    """Several runs side by side, in the order given."""

    names: list[str]  # each run's folder name (the whole path where two names are the same)
    differing: dict[str, list]  # config field -> its value in each run, for the fields that differ
    results: dict[str, list]  # "test accuracy", ... -> one formatted value per run
    histories: list  # each run's `EpochRecord`s


def _read(run_dir: Path):
    run = RunDirectory(run_dir)
    if not (run.path / "config.json").is_file():
        raise SimplennError(f"cannot compare {run.path}: it holds no config.json; give the --run-dir of a `simplenn train`")
    run.require_own_files()  # a run whose files are links elsewhere is refused
    try:
        return run.read_config(), run.read_history(), run.read_summary() if run.finished else None
    except SimplennError as error:
        raise SimplennError(f"cannot compare {run.path}: {error}") from None


def _percent(value) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def compare_runs(run_dirs: list[str | Path]) -> Comparison:
    """Read the runs and line up their configs and results."""
    paths = [Path(d) for d in run_dirs]
    if len(paths) < 2:
        raise SimplennError("compare needs at least two run folders")
    runs = [_read(path) for path in paths]
    names = [p.name for p in paths]
    if len(set(names)) < len(names):
        names = [str(p) for p in paths]
    configs = [config.to_dict() for config, _, _ in runs]
    differing = {
        field: [config[field] for config in configs]
        for field in configs[0]
        if any(config[field] != configs[0][field] for config in configs[1:])
    }
    results: dict[str, list] = {"test accuracy": [], "training accuracy": [], "best val. accuracy": [],
                                "epochs": [], "training time": []}
    for config, history, summary in runs:
        validation = [r.val_accuracy for r in history if r.val_accuracy is not None]
        if summary is None:
            results["test accuracy"].append("unfinished")
        else:  # null when the run trained on every example (--test-split 0)
            accuracy = summary["test_accuracy"]
            results["test accuracy"].append("no test split" if accuracy is None else _percent(accuracy))
        results["training accuracy"].append(_percent(summary["train_accuracy"]) if summary else "-")
        results["best val. accuracy"].append(_percent(max(validation)) if validation else "-")
        results["epochs"].append(f"{history[-1].epoch if history else 0}/{config.epochs}")
        results["training time"].append(f"{summary['train_seconds']:.1f} s" if summary else "-")
    return Comparison(names, differing, results, [history for _, history, _ in runs])


def format_comparison(comparison: Comparison) -> str:
    """A plain-text table: one column per run, the differing config fields, then the results."""
    rows = [["", *comparison.names]]
    if comparison.differing:
        rows += [[field, *map(_cell, values)] for field, values in comparison.differing.items()]
    else:
        rows.append(["(config)", *["same"] * len(comparison.names)])
    rows.append(None)  # a rule between the config and the results
    rows += [[name, *values] for name, values in comparison.results.items()]
    widths = [max(len(row[k]) for row in rows if row) for k in range(len(rows[0]))]
    lines = []
    for row in rows:
        if row is None:
            lines.append("  ".join("-" * w for w in widths))
        else:
            lines.append("  ".join(cell.ljust(w) if k == 0 else cell.rjust(w) for k, (cell, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)


def _cell(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def plot_comparison(comparison: Comparison, out: str | Path) -> Path:
    """The runs' learning curves overlaid in one figure, written as PNG to `out`."""
    from simplenn.explain.figures import compare_figure, save_or_show

    return save_or_show(compare_figure(comparison.histories, comparison.names), out, "compare.png")
