"""The `simplenn` command: a thin layer of argparse over functions a notebook can call.

Each subcommand has a `_add_<name>_parser` that declares its flags and a `_<name>`
handler that calls the package and prints. A `SimplennError` anywhere becomes one line
on stderr and exit status 2; argparse's own usage errors exit 2 as well.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's start-up chatter off the CLI

from simplenn import config as configs  # noqa: E402
from simplenn.errors import SimplennError  # noqa: E402


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line, without the usage block."""

    def error(self, message: str):
        raise SimplennError(f"{message} (see `{self.prog} --help`)")


def positive_int(text: str) -> int:
    value = _number(text, int, "a whole number")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = _number(text, int, "a whole number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_float(text: str) -> float:
    value = _number(text, float, "a number")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def fraction(text: str) -> float:
    value = _number(text, float, "a number")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = _number(text, float, "a number")
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def output_file(text: str) -> str:
    """A file a command will write, checked before the command does any work."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text}: it is a folder; give a file name")
    existing = path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text}: {existing} is not a writable folder")
    return text


def _number(text: str, kind, description: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {description}, got {text!r}") from None


def _value_parser(field):
    """The argparse `type` of a field: its text parsed, its limits left to `Config.validate`."""
    if isinstance(field.default, tuple):
        return configs.parse_layers
    if isinstance(field.default, str):
        return str
    kind, description = (int, "a whole number") if isinstance(field.default, int) else (float, "a number")
    return lambda text: _number(text, kind, description)


class SwitchAction(argparse.Action):
    """A bool field's pair of flags as one argument: the first sets it True, the second False."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, option_string == self.option_strings[0])


DATASET_HELP = configs.Config.__dataclass_fields__["dataset"].metadata["help"]
METAVARS = {bool: None, int: "N", float: "X", str: "NAME", tuple: "N,N,..."}


def _preset_values(field) -> str:
    """How the presets set a field, for its help: "(blog 0.01, fixed 0.005, best 0.001)"."""
    values = {name: getattr(config, field.name) for name, config in configs.PRESETS.items()}
    shown = {name: ",".join(map(str, v)) if isinstance(v, tuple) else str(v) for name, v in values.items()}
    if len(set(shown.values())) == 1:
        return f"(every preset: {next(iter(shown.values()))})"
    return "(" + ", ".join(f"{name} {value}" for name, value in shown.items()) + ")"


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag (a pair for a bool) per `Config` field, from its metadata, in `configs.GROUPS`.

    Every flag defaults to None, "keep the preset's value", so the flags a user gave can
    be told from the rest.
    """
    groups = {name: parser.add_argument_group(name) for name in configs.GROUPS}
    for field in configs.config_fields():
        group, flags = groups[field.metadata["group"]], configs.flags_of(field)
        help_text = f"{field.metadata['help']} {_preset_values(field)}"
        if field.name == "preset":  # picks the config that the other flags change
            group.add_argument("--preset", default=None, metavar="NAME",
                               help=f"{field.metadata['help']}: {', '.join(configs.PRESETS)} (default fixed)")
        elif isinstance(field.default, bool):
            group.add_argument(*flags, dest=field.name, action=SwitchAction, default=None, help=help_text)
        elif field.metadata["choices"]:
            group.add_argument(*flags, dest=field.name, choices=field.metadata["choices"], default=None,
                               help=help_text)
        else:
            group.add_argument(*flags, dest=field.name, type=_value_parser(field), default=None,
                               metavar=METAVARS[type(field.default)], help=help_text)


def config_from_args(args: argparse.Namespace, base: configs.Config | None = None) -> configs.Config:
    """The preset named by `--preset` (or `base`), with every flag the user gave applied.

    A value out of its field's limits is reported under the flag that gave it.
    """
    config = base if base is not None else configs.preset(args.preset or "fixed")
    changes = {field.name: getattr(args, field.name) for field in configs.config_fields()
               if field.name != "preset" and getattr(args, field.name) is not None}
    try:
        return config.replace(**changes)
    except configs.ConfigError as error:
        [field] = [f for f in configs.config_fields() if f.name == error.field]
        raise SimplennError(f"argument {'/'.join(configs.flags_of(field))}: {error.problem}") from None


def given_config_flags(args: argparse.Namespace) -> list[str]:
    """The config flags that were given, e.g. ["--preset", "--lr"]."""
    return ["/".join(configs.flags_of(field)) for field in configs.config_fields() if getattr(args, field.name) is not None]


def _add_train_parser(commands) -> None:
    parser = commands.add_parser(
        "train", help="train a preset on a dataset and report its scores",
        description="Train a preset's Config on a dataset. Each flag in the first five groups changes one "
                    "field of the preset; the presets' own values are shown in brackets.",
        epilog="examples:\n  simplenn train --preset fixed --dataset digits\n"
               "  simplenn train --preset blog --dataset fashion-mnist --epochs 30\n"
               "  simplenn train --resume runs/fixed-digits-20261127-201500",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_config_flags(parser)
    run = parser.add_argument_group("where the run goes")
    run.add_argument("--run-dir", default=None, help="where to write the run (default runs/PRESET-DATASET-TIME)")
    run.add_argument("--resume", metavar="RUN_DIR", default=None,
                     help="go on with a stopped run from its config.json and newest checkpoint")
    run.add_argument("--target-accuracy", type=fraction, default=None, metavar="FRACTION",
                     help="exit with status 1 when the test accuracy ends below this, e.g. 0.95")
    run.add_argument("--quiet", action="store_true", help="print only the result")
    parser.set_defaults(handler=_train)


def print_warnings_only(line: str) -> None:
    """`--quiet`'s log: epoch lines and progress go unsaid; a warning still reaches stderr."""
    if line.startswith("warning"):
        print(line, file=sys.stderr)


def _train(args: argparse.Namespace) -> int:
    if args.resume is not None:
        given = given_config_flags(args) + (["--run-dir"] if args.run_dir else [])
        if given:
            raise SimplennError(
                f"--resume goes on with the config stored in {args.resume}/config.json; drop {', '.join(given)}"
            )
    else:
        config = config_from_args(args)  # a mistake is reported before TensorFlow loads
    import_tensorflow_quietly()
    from simplenn.experiment import check_target_accuracy, default_run_dir, format_result, resume_run, train_and_evaluate

    log = print_warnings_only if args.quiet else print
    live_progress = False if args.quiet else None
    if args.resume is not None:
        run_dir = args.resume
        summary = resume_run(run_dir, live_progress=live_progress, log=log)
    else:
        run_dir = args.run_dir or default_run_dir(config)
        summary = train_and_evaluate(
            config, run_dir=run_dir, adapt_layers=args.layers is None, live_progress=live_progress, log=log
        )
    print(format_result(summary, run_dir))
    if args.target_accuracy is not None:
        check_target_accuracy(summary, args.target_accuracy)
    return 0


def _add_show_parser(commands) -> None:
    parser = commands.add_parser("show", help="the post's figure of one training image")
    parser.add_argument("--dataset", default="digits", metavar="NAME", help=f"{DATASET_HELP} (default digits)")
    parser.add_argument("--index", type=non_negative_int, default=0, help="which training image (default 0)")
    parser.add_argument("--out", type=output_file, default=None, help="write a PNG here instead of opening a window")
    parser.set_defaults(handler=_show)


def _show(args: argparse.Namespace) -> int:
    import_tensorflow_quietly()
    from simplenn.plots import show_sample

    written = show_sample(args.dataset, args.index, args.out)
    if written:
        print(f"figure written to {written}")
    return 0


def _add_data_parser(commands) -> None:
    parser = commands.add_parser("data", help="list, download, verify or import datasets")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="each dataset, its files, and where they are")
    fetch = actions.add_parser("fetch", help="download a dataset, verify it, replace bad copies")
    fetch.add_argument("name", help="mnist, fashion-mnist or kmnist")
    fetch.add_argument("--ca-bundle", default=None,
                       help="PEM file of CA certificates to trust instead of the system's (a proxy's)")
    fetch.add_argument("--timeout", type=positive_float, default=30.0,
                       help="seconds to wait for a connection or for more data (default 30)")
    verify = actions.add_parser("verify", help="hash the dataset files on this machine")
    verify.add_argument("name", nargs="?", default=None, help="one dataset (default: all)")
    imports = actions.add_parser("import", help="verify files obtained elsewhere and copy them into the cache")
    imports.add_argument("name", help="mnist, fashion-mnist or kmnist")
    imports.add_argument("path", help="a folder holding the published files, or one of them")
    parser.set_defaults(handler=_data)


def _data(args: argparse.Namespace) -> int:
    from simplenn import datasets

    if args.action == "list":
        print(datasets.format_dataset_list(datasets.list_datasets()))
    elif args.action == "fetch":
        options = datasets.DownloadOptions(timeout_s=args.timeout, ca_bundle=args.ca_bundle)
        paths = datasets.fetch(args.name, options=options, progress=datasets.show_progress)
        print("\n".join(f"verified {path}" for path in paths)
              or f"{args.name} comes with scikit-learn; there is nothing to fetch")
    elif args.action == "verify":
        checks = datasets.verify(args.name)
        print(datasets.format_checks(checks))
        datasets.require_verified(checks)
    else:
        print("\n".join(f"imported {path}" for path in datasets.import_files(args.name, args.path)))
    return 0


def _add_diagnose_parser(commands) -> None:
    parser = commands.add_parser("diagnose", help="run a few steps and explain what goes wrong, with numbers")
    _add_config_flags(parser)
    parser.add_argument("--run-dir", default=None,
                        help="diagnose the config of this run (instead of --preset; other flags still apply)")
    parser.add_argument("--steps", type=positive_int, default=3, help="training steps to take (default 3)")
    parser.set_defaults(handler=_diagnose)


def _diagnose(args: argparse.Namespace) -> int:
    from simplenn.run_directory import RunDirectory

    base = RunDirectory(args.run_dir).read_config() if args.run_dir else None
    config = config_from_args(args, base)
    import_tensorflow_quietly()
    from simplenn.diagnose import diagnose, format_diagnosis

    print(format_diagnosis(diagnose(config, args.steps, adapt_layers=args.layers is None)))
    return 0


def _add_comparison_flags(parser, each: str, *, dataset: str, epochs: int, json_help: str) -> None:
    """The flags of commands that train several runs (or systems) alike: data, epochs, seed, JSON."""
    parser.add_argument("--dataset", default=dataset, metavar="NAME", help=f"{DATASET_HELP} (default {dataset})")
    parser.add_argument("--epochs", type=positive_int, default=epochs, help=f"epochs for every {each} (default {epochs})")
    parser.add_argument("--seed", type=non_negative_int, default=0, help=f"the same seed for every {each}")
    parser.add_argument("--json", type=output_file, default=None, help=json_help)


def _add_ablate_parser(commands) -> None:
    parser = commands.add_parser("ablate", help="from the blog preset to fixed, one change at a time")
    _add_comparison_flags(parser, "run", dataset="digits", epochs=configs.preset("fixed").epochs,
                          json_help="also write every row, with its config, to this file")
    parser.add_argument("--out", type=output_file, default=None, help="write the bar chart here (PNG)")
    parser.add_argument("--no-xla", dest="jit_compile", action="store_false",
                        help="do not compile steps with XLA (starts faster on tiny data such as digits)")
    parser.set_defaults(handler=_ablate)


def _ablate(args: argparse.Namespace) -> int:
    import_tensorflow_quietly()
    from simplenn.ablate import ablate, format_table, save_rows
    from simplenn.plots import ablation_chart

    rows = ablate(args.dataset, args.epochs, args.seed, args.jit_compile)
    print(format_table(rows))
    if args.json:
        save_rows(rows, args.json)
        print(f"rows written to {args.json}")
    written = ablation_chart([row.change for row in rows], [row.test_accuracy for row in rows], args.out)
    if written:
        print(f"chart written to {written}")
    return 0


def _add_bench_parser(commands) -> None:
    parser = commands.add_parser(
        "bench", help="simplenn's training speed next to Keras, scikit-learn and the post's eager loop"
    )
    _add_comparison_flags(parser, "system", dataset="fashion-mnist", epochs=5,
                          json_help="also write the report to this file")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="threads for every system's arithmetic (default: each library's own)")
    parser.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> int:
    import_tensorflow_quietly()
    from simplenn.bench import format_table, run_bench
    from simplenn.file_safety import write_json

    report = run_bench(args.dataset, args.epochs, args.seed, args.threads)
    print(format_table(report))
    if args.json:
        print(f"report written to {write_json(args.json, report)}")
    return 0


def _add_evaluate_parser(commands) -> None:
    parser = commands.add_parser("evaluate", help="score a trained run again, class by class")
    parser.add_argument("run_dir", metavar="RUN", help="the --run-dir of a `simplenn train`")
    parser.add_argument("--dataset", default=None, help="score on this dataset's test split (default: the run's)")
    parser.add_argument("--json", type=output_file, default=None, help="write the scores here (default RUN/evaluation.json)")
    parser.set_defaults(handler=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    import_tensorflow_quietly()
    from simplenn.evaluation import format_evaluation, write_evaluation
    from simplenn.loaded_run import load_run

    run = load_run(args.run_dir)
    evaluation = run.evaluate(args.dataset)
    print(format_evaluation(evaluation))
    print(f"scores written to {write_evaluation(evaluation, args.json or run.run_dir / 'evaluation.json', run)}")
    return 0


def _add_predict_parser(commands) -> None:
    parser = commands.add_parser("predict", help="a trained run's classes for new images, as Kaggle's submission CSV")
    parser.add_argument("run_dir", metavar="RUN", help="the --run-dir of a `simplenn train`")
    parser.add_argument("images", metavar="IMAGES", help="a CSV (Kaggle's test.csv), a .npy, or a dataset path "
                                                         "(its test split)")
    parser.add_argument("--out", type=output_file, default="predictions.csv",
                        help="the CSV of ImageId,Label rows (default predictions.csv)")
    parser.set_defaults(handler=_predict)


def _predict(args: argparse.Namespace) -> int:
    import_tensorflow_quietly()
    from simplenn.loaded_run import load_run
    from simplenn.prediction import predict_file

    print(f"predictions written to {predict_file(load_run(args.run_dir), args.images, args.out)}")
    return 0


def _add_plot_parser(commands) -> None:
    parser = commands.add_parser("plot", help="a trained run's figures as PNG files")
    parser.add_argument("run_dir", metavar="RUN", help="the --run-dir of a `simplenn train`")
    parser.add_argument("--out", default=None, help="folder for the figures (default RUN/figures)")
    parser.set_defaults(handler=_plot)


def _plot(args: argparse.Namespace) -> int:
    import_tensorflow_quietly()
    from simplenn.figures import plot_run
    from simplenn.loaded_run import load_run

    for path in plot_run(load_run(args.run_dir), out_dir=args.out).values():
        print(f"figure written to {path}")
    return 0


def _add_report_parser(commands) -> None:
    parser = commands.add_parser("report", help="a trained run on one self-contained HTML page")
    parser.add_argument("run_dir", metavar="RUN", help="the --run-dir of a `simplenn train`")
    parser.add_argument("--out", type=output_file, default=None, help="the HTML file (default RUN/report.html)")
    parser.add_argument("--lang", choices=("en", "ko"), default="en", help="language of the headings (ko: Korean)")
    parser.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    import_tensorflow_quietly()
    from simplenn.loaded_run import load_run
    from simplenn.report import write_report

    print(f"report written to {write_report(load_run(args.run_dir), args.out, args.lang)}")
    return 0


def _add_compare_parser(commands) -> None:
    parser = commands.add_parser("compare", help="runs side by side: the settings that differ, scores, curves")
    parser.add_argument("run_dirs", metavar="RUN", nargs="+", help="two or more --run-dir folders")
    parser.add_argument("--out", type=output_file, default=None,
                        help="the overlaid learning curves (default: figures/compare.png in the first RUN)")
    parser.set_defaults(handler=_compare)


def _compare(args: argparse.Namespace) -> int:
    import_tensorflow_quietly()
    from simplenn.compare import compare_runs, format_comparison, plot_comparison

    comparison = compare_runs(args.run_dirs)
    print(format_comparison(comparison))
    out = args.out or Path(args.run_dirs[0]) / "figures" / "compare.png"
    print(f"learning curves written to {plot_comparison(comparison, out)}")
    return 0


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with stderr muted.

    TensorFlow 2.21 logs through absl before `TF_CPP_MIN_LOG_LEVEL` takes effect, so its
    start-up lines (CUDA probes, CPU features) would bury the CLI's one-line messages.
    """
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved_stderr, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        importlib.import_module("tensorflow")
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        os.close(devnull)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="simplenn",
        description="The blog post's MNIST network, built from TensorFlow's low-level pieces.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    _add_train_parser(commands)
    _add_show_parser(commands)
    _add_data_parser(commands)
    _add_diagnose_parser(commands)
    _add_ablate_parser(commands)
    _add_bench_parser(commands)
    _add_evaluate_parser(commands)
    _add_predict_parser(commands)
    _add_plot_parser(commands)
    _add_report_parser(commands)
    _add_compare_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except SimplennError as error:
        print(f"simplenn: error: {error}", file=sys.stderr)
        return error.exit_status
    except KeyboardInterrupt:  # Ctrl-C outside training, which handles it itself
        print("simplenn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
