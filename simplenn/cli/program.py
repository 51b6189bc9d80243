"""The `simplenn` command: a thin layer of argparse over functions a notebook can call.

Each subcommand has a `_add_<name>_parser` that declares its flags, with two examples,
and a `_<name>` handler that calls the package and prints. A `SimplennError` anywhere
becomes a message on stderr (`errors.error_text`: one line, or a short first line and
indented details) and exit status 2; argparse's own usage errors exit 2 as well.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from simplenn import config as configs
from simplenn.errors import SimplennError, SimplennWarning, error_text
from simplenn.machine.quiet_tensorflow import set_up
from simplenn.machine.safe_text import terminal_text


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line, without the usage block."""

    def error(self, message: str):
        raise SimplennError(f"{message} (see `{self.prog} --help`)")


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help, with an epilog of examples kept one command per line."""

    def _fill_text(self, text, width, indent):
        if text.startswith("examples:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _add_command(commands, name: str, help: str, examples: tuple[str, ...], description: str | None = None):
    """A subcommand's parser: its help line, a description, and its examples in the epilog."""
    return commands.add_parser(
        name, help=help, description=description or help[0].upper() + help[1:] + ".",
        epilog="examples:\n" + "\n".join(f"  {example}" for example in examples),
        formatter_class=HelpFormatter,
    )


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
    """A file a command will write, checked before the command does any work (`file_safety.check_output`)."""
    from simplenn.machine.file_safety import check_output

    path = Path(text)
    if path.is_dir() and not path.is_symlink():
        raise argparse.ArgumentTypeError(f"cannot write {text}: it is a folder; give a file name")
    existing = _nearest_existing(path.parent)
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text}: {existing} is not a writable folder")
    try:
        check_output(text, force=True)  # whether it exists is checked once --force is known: `_refuse_overwrites`
    except SimplennError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def json_output(text: str) -> str:
    """Where `--json` writes: a file (checked as `output_file`), or "-" for standard output."""
    return text if text == "-" else output_file(text)


def _add_json_flag(parser, what: str, default: str) -> None:
    """`--json PATH`, one meaning in every command: write `what` to PATH, or to standard output for "-"."""
    parser.add_argument("--json", type=json_output, default=None, metavar="PATH",
                        help=f"write {what} to PATH, - for standard output (default {default})")


def write_json_output(target: str, text: str) -> str | None:
    """`text` to standard output for "-", else to the file `target`; the file written, or None."""
    if target == "-":
        print(text)
        return None
    from simplenn.machine.file_safety import write_text

    return str(write_text(target, text if text.endswith("\n") else text + "\n"))


FORCE_HELP = ("replace files that already exist at the paths this command writes; without it an existing file "
              "is refused, never overwritten")


def _add_force_flag(parser: argparse.ArgumentParser, *outputs: str) -> None:
    """--force, for a command whose `outputs` (flag destinations) name files that may already exist."""
    parser.add_argument("--force", action="store_true", help=FORCE_HELP)
    parser.set_defaults(outputs=outputs)


def _refuse_overwrites(args: argparse.Namespace) -> None:
    """The output rule's last part: an existing file named by an output flag is replaced only with --force."""
    from simplenn.machine.file_safety import STDOUT, check_output

    for dest in getattr(args, "outputs", ()):
        value = getattr(args, dest, None)
        if value is not None and value != STDOUT:
            try:
                check_output(value, force=args.force)
            except SimplennError as error:
                raise SimplennError(f"argument --{dest.replace('_', '-')}: {error}") from None


def _nearest_existing(path: Path) -> Path:
    """`path`, or the nearest of its parents that exists: where a new file or folder would be made."""
    while not path.exists():
        path = path.parent
    return path


def output_folder(text: str) -> str:
    """A folder a command will create or write into, checked before the command does any work."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write into {text}: it is a file; give a folder")
    existing = _nearest_existing(path)
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write into {text}: {existing} is not a writable folder")
    return text


def image_file(text: str) -> str:
    """A figure a command will write: a writable place, and a format matplotlib can save."""
    from matplotlib.backend_bases import FigureCanvasBase

    output_file(text)
    formats = FigureCanvasBase.get_supported_filetypes()  # {"png": "Portable Network Graphics", ...}
    extension = Path(text).suffix.lower().lstrip(".")
    if extension not in formats:
        found = f"the extension .{extension}" if extension else "no extension"
        raise argparse.ArgumentTypeError(
            f"cannot write a figure to {text}: it has {found}; end it in one of "
            f"{', '.join('.' + name for name in sorted(formats))}, e.g. .png"
        )
    return text


def memory_size(text: str) -> str:
    """A `--max-memory` value such as 8G, checked now; `MemoryLimit.of` reads it."""
    from simplenn.machine.memory import parse_size

    try:
        parse_size(text)
    except SimplennError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix(f"--max-memory {text!r} ")) from None
    return text


def seed_value(text: str) -> int:
    value = non_negative_int(text)
    if value > configs.MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be at most {configs.MAX_SEED:,}, got {text}")
    return value


def epoch_count(text: str) -> int:
    value = positive_int(text)
    if value > configs.MAX_EPOCHS:
        raise argparse.ArgumentTypeError(f"must be at most {configs.MAX_EPOCHS:,}, got {text}")
    return value


def _add_memory_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-memory", type=memory_size, default=None, metavar="SIZE",
                        help="refuse work estimated to need more memory than this, e.g. 8G "
                             "(default: half of the memory available)")


def _memory_limit(args: argparse.Namespace):
    from simplenn.machine.memory import MemoryLimit

    return MemoryLimit.of(args.max_memory)


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
    shown = {name: ",".join(map(str, v)) if isinstance(v, tuple) else "auto" if v is None else str(v)
             for name, v in values.items()}
    if len(set(shown.values())) == 1:
        return f"(every preset: {next(iter(shown.values()))})"
    return "(" + ", ".join(f"{name} {value}" for name, value in shown.items()) + ")"


def _add_config_flags(parser: argparse.ArgumentParser, *, whole_run: bool = True) -> None:
    """One flag (a pair for a bool) per `Config` field, from its metadata, in `configs.GROUPS`.

    Every flag defaults to None, "keep the preset's value", so the flags a user gave can
    be told from the rest. `whole_run=False` leaves out the fields marked `whole_run`
    (early stopping, checkpoints), for commands that take only a few steps.
    """
    groups = {name: parser.add_argument_group(name) for name in configs.GROUPS}
    for field in configs.config_fields():
        if field.metadata["whole_run"] and not whole_run:
            continue
        group, flags = groups[field.metadata["group"]], configs.flags_of(field)
        help_text = f"{field.metadata['help']} {_preset_values(field)}"
        if field.name == "preset":  # picks the config that the other flags change
            group.add_argument("--preset", default=None, metavar="NAME",
                               help=f"{field.metadata['help']}: {', '.join(configs.PRESETS)} (default fixed)")
        elif configs.is_switch(field):
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
               if field.name != "preset" and getattr(args, field.name, None) is not None}
    try:
        return config.replace(**changes)
    except configs.ConfigError as error:
        [field] = [f for f in configs.config_fields() if f.name == error.field]
        raise SimplennError(f"argument {'/'.join(configs.flags_of(field))}: {error.problem}") from None


def given_config_flags(args: argparse.Namespace) -> list[str]:
    """The config flags that were given, e.g. ["--preset", "--lr"]."""
    return ["/".join(configs.flags_of(field)) for field in configs.config_fields()
            if getattr(args, field.name, None) is not None]


def _add_train_parser(commands) -> None:
    parser = _add_command(
        commands, "train", "train a preset on a dataset and report its scores",
        ("simplenn train --preset fixed --dataset digits",
         "simplenn train --preset blog --dataset fashion-mnist --epochs 30",
         "simplenn train --resume runs/fixed-digits-20261127-201500"),
        description="Train a preset's Config on a dataset. Each flag in the first five groups changes one "
                    "field of the preset; the presets' own values are shown in brackets.",
    )
    _add_config_flags(parser)
    run = parser.add_argument_group("where the run goes")
    run.add_argument("--run-dir", default=None, help="where to write the run (default runs/PRESET-DATASET-TIME)")
    run.add_argument("--resume", metavar="RUN_DIR", default=None,
                     help="go on with a stopped run from its config.json and newest checkpoint")
    run.add_argument("--target-accuracy", type=fraction, default=None, metavar="FRACTION",
                     help="exit with status 1 when the test accuracy ends below this, e.g. 0.95")
    run.add_argument("--quiet", action="store_true", help="print only the result")
    _add_memory_flag(run)
    parser.set_defaults(handler=_train)


def print_warnings_only(line: str) -> None:
    """`--quiet`'s log: epoch lines and progress go unsaid; a warning still reaches stderr."""
    if line.startswith("warning"):
        print(line, file=sys.stderr)


def _train(args: argparse.Namespace) -> int:
    from simplenn.runs.run_directory import RunDirectory, default_run_dir
    from simplenn.runs.run_rules import check_run_start

    if args.resume is not None:
        given = given_config_flags(args) + (["--run-dir"] if args.run_dir else [])
        run_dir = args.resume
        cluster = check_run_start(None, run_dir, resume=True, changes=given)  # before TensorFlow loads
    else:
        config = config_from_args(args)
        cluster = check_run_start(config, args.run_dir)
        run_dir = args.run_dir or default_run_dir(config)
        if args.run_dir is None:  # a folder of its own, new unless the clock went back
            RunDirectory(run_dir).check_new()
    memory_limit = _memory_limit(args)
    from simplenn.runs.experiment import check_target_accuracy, format_result, resume_run, train_and_evaluate

    log = print_warnings_only if args.quiet else print
    live_progress = False if args.quiet else None
    if args.resume is not None:
        summary = resume_run(run_dir, live_progress=live_progress, log=log, memory_limit=memory_limit)
    else:
        summary = train_and_evaluate(
            config, run_dir=run_dir, adapt_layers=args.layers is None, live_progress=live_progress, log=log,
            memory_limit=memory_limit,
        )
    if cluster is None or cluster.is_chief:
        print(format_result(summary, run_dir))
    else:
        print(format_result(summary) + f"\n{cluster.name(cluster.index)} done; the chief, worker 0, writes the run to {run_dir}")
    if args.target_accuracy is not None:
        check_target_accuracy(summary, args.target_accuracy)
    return 0


def _add_show_parser(commands) -> None:
    parser = _add_command(
        commands, "show", "the post's figure of one training image",
        ("simplenn show --dataset fashion-mnist", "simplenn show --dataset mnist --index 7 --out seven.png"),
    )
    parser.add_argument("--dataset", default="digits", metavar="NAME", help=f"{DATASET_HELP} (default digits)")
    parser.add_argument("--index", type=non_negative_int, default=0, help="which training image (default 0)")
    parser.add_argument("--out", type=image_file, default=None,
                        help="write the figure here, a PNG (default: none; it opens in a window, and without a "
                             "display --out is needed)")
    _add_force_flag(parser, "out")
    parser.set_defaults(handler=_show)


def _show(args: argparse.Namespace) -> int:
    from simplenn.explain.plots import draw_into_files_only, show_sample

    if args.out:
        draw_into_files_only()
    written = show_sample(args.dataset, args.index, args.out)
    if written:
        print(f"figure written to {written}")
    return 0


def _add_data_parser(commands) -> None:
    from simplenn.datasets.download import DownloadOptions

    parser = _add_command(
        commands, "data", "list, download, verify or import datasets",
        ("simplenn data fetch fashion-mnist", "simplenn data import mnist ~/Downloads/mnist.npz"),
    )
    actions = parser.add_subparsers(dest="action", required=True, parser_class=ArgumentParser)
    _add_command(actions, "list", "each dataset, its files, and where they are",
                 ("simplenn data list", "SIMPLENN_DATA=/mnt/datasets simplenn data list"))
    fetch = _add_command(actions, "fetch", "download a dataset, verify it, replace bad copies",
                         ("simplenn data fetch mnist",
                          "simplenn data fetch kmnist --ca-bundle /etc/ssl/certs/proxy.pem --deadline 300"))
    fetch.add_argument("name", help="mnist, fashion-mnist or kmnist")
    fetch.add_argument("--ca-bundle", default=None,
                       help="PEM file of CA certificates to trust instead of the system's (a proxy's)")
    patience = DownloadOptions()
    fetch.add_argument("--timeout", type=positive_float, default=patience.timeout_s, metavar="S",
                       help=f"seconds to wait for a connection or for more data (default {patience.timeout_s:g})")
    fetch.add_argument("--deadline", type=positive_float, default=patience.deadline_s, metavar="S",
                       help="give up once this many seconds pass without data, over every retry and mirror "
                            f"(default {patience.deadline_s:g})")
    verify = _add_command(actions, "verify", "hash the dataset files on this machine",
                          ("simplenn data verify", "simplenn data verify fashion-mnist"))
    verify.add_argument("name", nargs="?", default=None, help="one dataset (default: all)")
    imports = _add_command(
        actions, "import", "verify files obtained elsewhere and copy them into the cache",
        ("simplenn data import fashion-mnist /usr/share/datasets/fashion-mnist",
         "simplenn data import mnist ~/Downloads/mnist.npz"),
    )
    imports.add_argument("name", help="mnist, fashion-mnist or kmnist")
    imports.add_argument("path", help="a folder holding the published files, or one of them")
    parser.set_defaults(handler=_data)


def _data(args: argparse.Namespace) -> int:
    from simplenn import datasets

    if args.action == "list":
        print(datasets.format_dataset_list(datasets.list_datasets()))
    elif args.action == "fetch":
        options = datasets.DownloadOptions(timeout_s=args.timeout, deadline_s=args.deadline, ca_bundle=args.ca_bundle)
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
    parser = _add_command(
        commands, "diagnose", "run a few steps and explain what goes wrong, with numbers",
        ("simplenn diagnose --preset blog --dataset digits",
         "simplenn diagnose --run-dir runs/fixed-digits-20261127-201500 --lr 0.1 --steps 10"),
    )
    _add_config_flags(parser, whole_run=False)
    parser.add_argument("--run-dir", default=None,
                        help="diagnose the config of this run (instead of --preset; other flags still apply)")
    parser.add_argument("--steps", type=positive_int, default=3, help="training steps to take (default 3)")
    _add_memory_flag(parser)
    parser.set_defaults(handler=_diagnose)


def _diagnose(args: argparse.Namespace) -> int:
    from simplenn.datasets import check_dataset_name
    from simplenn.runs.run_directory import RunDirectory

    base = RunDirectory(args.run_dir).read_config() if args.run_dir else None
    config = config_from_args(args, base)
    check_dataset_name(config.dataset)
    memory_limit = _memory_limit(args)
    from simplenn.explain.diagnose import diagnose, format_diagnosis

    print(format_diagnosis(diagnose(config, args.steps, adapt_layers=args.layers is None, memory_limit=memory_limit)))
    return 0


def _add_comparison_flags(parser, each: str, *, dataset: str, epochs: int, json_help: str) -> None:
    """The flags of commands that train several runs (or systems) alike: data, epochs, seed, JSON."""
    parser.add_argument("--dataset", default=dataset, metavar="NAME", help=f"{DATASET_HELP} (default {dataset})")
    parser.add_argument("--epochs", type=epoch_count, default=epochs, help=f"epochs for every {each} (default {epochs})")
    parser.add_argument("--seed", type=seed_value, default=0, help=f"the same seed for every {each}")
    _add_json_flag(parser, json_help, "none")
    _add_memory_flag(parser)


def _add_ablate_parser(commands) -> None:
    parser = _add_command(
        commands, "ablate", "from the blog preset to fixed, one change at a time",
        ("simplenn ablate --dataset digits --epochs 5 --no-xla",
         "simplenn ablate --dataset fashion-mnist --json ablation.json --out ablation.png"),
    )
    _add_comparison_flags(parser, "run", dataset="digits", epochs=configs.preset("fixed").epochs,
                          json_help="every row, with its config,")
    parser.add_argument("--out", type=image_file, default=None,
                        help="write the bar chart here, a PNG (default: none; the chart opens in a window when "
                             "there is a display, and only the table is printed when there is not)")
    parser.add_argument("--xla", "--no-xla", dest="jit_compile", action=SwitchAction, default=None,
                        help="compile every run's steps with XLA, or none; neither flag: each run "
                             "compiles when it is large enough to pay back compiling (not on digits)")
    _add_force_flag(parser, "json", "out")
    parser.set_defaults(handler=_ablate)


def _ablate(args: argparse.Namespace) -> int:
    from simplenn.datasets import check_dataset_name

    check_dataset_name(args.dataset)
    memory_limit = _memory_limit(args)
    from simplenn.explain.ablate import ablate, format_table, save_rows
    from simplenn.explain.plots import ablation_chart, draw_into_files_only, has_display

    if args.out:
        draw_into_files_only()

    rows = ablate(args.dataset, args.epochs, args.seed, args.jit_compile, memory_limit=memory_limit)
    if args.json == "-":
        print(json.dumps([row.to_dict() for row in rows], indent=2))
    else:
        print(format_table(rows))
    if args.json and args.json != "-":
        save_rows(rows, args.json)
        print(f"rows written to {args.json}")
    written = ablation_chart([row.change for row in rows], [row.test_accuracy for row in rows], args.out)
    if written:
        print(f"chart written to {written}")
    elif not has_display():
        print("no chart drawn: there is no display to show it on; --out FILE.png writes it")
    return 0


def _add_bench_parser(commands) -> None:
    parser = _add_command(
        commands, "bench", "simplenn's training speed next to Keras, scikit-learn, PyTorch, JAX and the post's eager loop",
        ("simplenn bench --dataset fashion-mnist --epochs 5 --repeat 3 --markdown",
         "simplenn bench --sweep --out runs/sweep"),
    )
    _add_comparison_flags(parser, "system", dataset="fashion-mnist", epochs=5,
                          json_help="the report, with every repeat's figures,")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="threads for every system's arithmetic (default: each library's own)")
    parser.add_argument("--strategy", choices=configs.STRATEGIES, default="default",
                        help="mirrored or multiworker: instead of the systems, simplenn's samples/s against the "
                             "replica count, with the scaling efficiency")
    parser.add_argument("--cpu-devices", type=non_negative_int, default=0, metavar="N",
                        help="for --strategy mirrored without GPUs: split the CPU into N logical devices")
    parser.add_argument("--repeat", type=positive_int, default=1, metavar="N",
                        help="run the systems N times, interleaved, and report medians with their range (default 1)")
    parser.add_argument("--markdown", action="store_true", help="print the table in Markdown, for a README")
    parser.add_argument("--sweep", action="store_true",
                        help="measure how speed grows with width, depth and batch size instead; needs --out")
    parser.add_argument("--out", type=output_folder, default=None, metavar="DIR",
                        help="the folder --sweep writes sweep.json and sweep.png into")
    _add_force_flag(parser, "json")
    parser.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> int:
    from simplenn.training.cluster import cluster_of
    from simplenn.datasets import check_dataset_name

    if args.sweep and not args.out:
        raise SimplennError("--sweep writes sweep.json and sweep.png: name their folder with --out DIR")
    if args.out and not args.sweep:
        raise SimplennError("--out is the folder --sweep writes into; add --sweep, or drop --out "
                            "(--json FILE keeps the comparison's report)")
    if args.sweep and (args.repeat > 1 or args.json):
        flag = "--repeat" if args.repeat > 1 else "--json"
        raise SimplennError(f"{flag} is for the comparison, not --sweep, which writes its JSON into --out; drop {flag}")
    check_dataset_name(args.dataset)
    memory_limit = _memory_limit(args)
    cluster = cluster_of(config_from_args(args, base=configs.Config()))  # checks --strategy, --cpu-devices, TF_CONFIG
    if args.strategy != "default":
        return _bench_strategy(args, memory_limit, cluster)
    if args.sweep:
        return _bench_sweep(args, memory_limit)
    from simplenn.bench.benchmark import format_markdown, format_table, run_bench
    from simplenn.machine.file_safety import write_json

    report = run_bench(args.dataset, args.epochs, args.seed, args.threads, args.repeat, memory_limit=memory_limit)
    if args.json == "-":
        print(json.dumps(report, indent=2))
        return 0
    print(format_markdown(report) if args.markdown else format_table(report))
    if args.json:
        print(f"report written to {write_json(args.json, report)}")
    return 0


def _bench_strategy(args: argparse.Namespace, memory_limit, cluster) -> int:
    """`simplenn bench --strategy mirrored|multiworker`: samples/s against the replica count."""
    from simplenn.bench.strategies import format_scaling_table, run_strategy_bench
    from simplenn.machine.file_safety import write_json

    report = run_strategy_bench(args.dataset, args.epochs, args.seed, args.strategy, args.cpu_devices, cluster,
                                memory_limit=memory_limit)
    print(format_scaling_table(report))
    if args.json:
        print(f"report written to {write_json(args.json, report)}")
    return 0


def _bench_sweep(args: argparse.Namespace, memory_limit) -> int:
    from simplenn.bench.sweep import format_sweep, run_sweep
    from simplenn.explain.plots import draw_into_files_only

    draw_into_files_only()
    sweep, written = run_sweep(args.out, args.dataset, args.epochs, args.seed, args.threads,
                               memory_limit=memory_limit)
    print(format_sweep(sweep, markdown=args.markdown))
    print(f"written to {', '.join(map(str, written))}")
    return 0


def _add_run_argument(parser) -> None:
    """The RUN argument of every command that works on one trained run."""
    parser.add_argument("run_dir", metavar="RUN", help="the --run-dir of a `simplenn train`")


def _add_recipe_flag(parser) -> None:
    """`--recipe`: how a photo becomes the run's input, when the user wants other than the recorded one."""
    parser.add_argument("--recipe", choices=("mnist", "digits", "fashion-mnist", "resize"), default=None,
                        help="how an image file becomes the run's input (default: the recipe the run recorded "
                             "in data.json; e.g. mnist for photos of digits given to a run trained on MNIST "
                             "as a CSV)")


def _add_run_dataset_flag(parser) -> None:
    """`--dataset` for commands that read a run's own test split: where its data is now."""
    parser.add_argument("--dataset", default=None, metavar="PATH",
                        help="where the run's training data is now, when it was moved; it must hash to the "
                             "sha256 the run recorded (default: where the run recorded it)")


def _add_evaluate_parser(commands) -> None:
    parser = _add_command(
        commands, "evaluate", "score a trained run again, class by class",
        ("simplenn evaluate runs/fixed-digits-20261127-201500",
         "simplenn evaluate runs/fixed-mnist-20261127-201500 --dataset kmnist --json kmnist-scores.json"),
    )
    _add_run_argument(parser)
    parser.add_argument("--dataset", default=None, metavar="NAME|PATH",
                        help="score on this catalogue dataset's test split (e.g. kmnist for an MNIST run), or "
                             "where the run's own data is now, when it was moved: a path must hash to the sha256 "
                             "the run recorded (default: the run's own data, where it trained)")
    _add_json_flag(parser, "the scores", "RUN/evaluation.json")
    _add_force_flag(parser, "json")
    parser.set_defaults(handler=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    _check_run_before_tensorflow(args.run_dir)
    from simplenn.machine.file_safety import STDOUT
    from simplenn.runs.evaluation import evaluation_json, format_evaluation, write_evaluation
    from simplenn.runs.loaded_run import load_run

    run = load_run(args.run_dir)
    evaluation = run.evaluate(args.dataset)
    if args.json == STDOUT:
        print(evaluation_json(evaluation, run))
        return 0
    print(terminal_text(format_evaluation(evaluation), keep="\n"))  # class names are data
    print(f"scores written to {write_evaluation(evaluation, args.json or run.run_dir / 'evaluation.json', run)}")
    return 0


def _add_plot_parser(commands) -> None:
    parser = _add_command(
        commands, "plot", "a trained run's figures as PNG files",
        ("simplenn plot runs/fixed-digits-20261127-201500",
         "simplenn plot runs/fixed-digits-20261127-201500 --out figures/fixed"),
    )
    _add_run_argument(parser)
    parser.add_argument("--out", default=None, help="folder for the figures (default RUN/figures)")
    _add_run_dataset_flag(parser)
    parser.add_argument("--force", action="store_true", help=FORCE_HELP)
    parser.set_defaults(handler=_plot)


def _plot(args: argparse.Namespace) -> int:
    _check_run_before_tensorflow(args.run_dir)
    from simplenn.explain.figures import plot_run
    from simplenn.runs.loaded_run import load_run
    from simplenn.explain.plots import draw_into_files_only

    draw_into_files_only()

    written = plot_run(load_run(args.run_dir, dataset=args.dataset), out_dir=args.out,
                       force=args.force or args.out is None)
    for path in written.values():
        print(f"figure written to {path}")
    return 0


def _add_report_parser(commands) -> None:
    parser = _add_command(
        commands, "report", "a trained run on one self-contained HTML page",
        ("simplenn report runs/fixed-digits-20261127-201500",
         "simplenn report runs/fixed-digits-20261127-201500 --lang ko --out report-ko.html"),
    )
    _add_run_argument(parser)
    parser.add_argument("--out", type=output_file, default=None, help="the HTML file (default RUN/report.html)")
    _add_force_flag(parser, "out")
    parser.add_argument("--lang", choices=("en", "ko"), default="en", help="language of the headings (ko: Korean)")
    _add_run_dataset_flag(parser)
    parser.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    _check_run_before_tensorflow(args.run_dir)
    from simplenn.runs.loaded_run import load_run
    from simplenn.explain.plots import draw_into_files_only
    from simplenn.explain.report import write_report

    draw_into_files_only()

    print(f"report written to {write_report(load_run(args.run_dir, dataset=args.dataset), args.out, args.lang)}")
    return 0


def _add_compare_parser(commands) -> None:
    parser = _add_command(
        commands, "compare", "runs side by side: the settings that differ, scores, curves",
        ("simplenn compare runs/blog-digits-20261127-201500 runs/fixed-digits-20261127-201800",
         "simplenn compare runs/*-fashion-mnist-* --out curves.png"),
    )
    parser.add_argument("run_dirs", metavar="RUN", nargs="+", help="two or more --run-dir folders")
    parser.add_argument("--out", type=image_file, default=None,
                        help="also write the overlaid learning curves here, a PNG (default: none; no run folder "
                             "is written into)")
    _add_force_flag(parser, "out")
    parser.set_defaults(handler=_compare)


def _compare(args: argparse.Namespace) -> int:
    from simplenn.explain.compare import compare_runs

    comparison = compare_runs(args.run_dirs)  # reads the runs' records: a mistake answers before TensorFlow loads
    from simplenn.explain.compare import format_comparison, plot_comparison
    from simplenn.explain.plots import draw_into_files_only

    draw_into_files_only()

    from simplenn.runs.run_directory import RunDirectory

    RunDirectory(args.run_dirs[0]).require_own_files()  # a run whose files are links elsewhere is refused
    print(terminal_text(format_comparison(comparison), keep="\n"))  # run names are data
    if args.out:
        print(f"learning curves written to {plot_comparison(comparison, args.out)}")
    return 0


def _check_run_before_tensorflow(run_dir: str) -> None:
    """Read a run's records, so that a wrong folder is reported before TensorFlow loads."""
    from simplenn.runs.run_directory import RunDirectory

    RunDirectory(run_dir).read_records()


def _add_doctor_parser(commands) -> None:
    parser = _add_command(
        commands, "doctor", "check that this machine can train: Python, TensorFlow, XLA, data, disk, memory",
        ("simplenn doctor", "simplenn doctor --json doctor.json"),
        description="Check that this machine can train, one line per check: ✓ ok, ! worth knowing, ✗ will "
                    "fail, each with its fix. Exit status 1 when a check fails. Paste its output into a bug report.",
    )
    _add_json_flag(parser, "the checks as JSON", "none: lines on standard output")
    _add_force_flag(parser, "json")
    parser.set_defaults(handler=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    from simplenn.doctor import checks_json, format_checks, healthy, run_checks

    checks = run_checks()
    if args.json:
        written = write_json_output(args.json, checks_json(checks))
        if written:
            print(format_checks(checks))
            print(f"checks written to {written}")
    else:
        print(format_checks(checks))
    return 0 if healthy(checks) else 1


def version_text() -> str:
    """`simplenn --version`: simplenn's version, and TensorFlow's, read without importing it."""
    from simplenn.doctor import installed_version

    return f"simplenn {installed_version('simplenn')} (TensorFlow {installed_version('tensorflow')})"


class VersionAction(argparse.Action):
    """`--version`, with the versions looked up when it is given: reading package metadata
    takes a fifth of a second, which every other command would pay while its parser is built."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()


def _add_predict_parser(commands) -> None:
    parser = _add_command(
        commands, "predict", "a trained run's top classes for your own images",
        ("simplenn predict runs/fixed-digits-20261127-201500 my_digit.png",
         "simplenn predict RUN photos/ --top-k 3 --save-input seen/ --json -"),
    )
    _add_run_argument(parser)
    parser.add_argument("images", metavar="IMAGE", nargs="+",
                        help="image files, or folders of them; or one table of the run's inputs, a CSV "
                             "(Kaggle's test.csv) or a .npy, predicted row by row")
    parser.add_argument("--top-k", type=positive_int, default=3, help="how many classes to list (default 3)")
    _add_json_flag(parser, "the predictions as JSON", default="none: lines on standard output")
    parser.add_argument("--save-input", metavar="DIR", default=None,
                        help="write each image beside the image the network saw, as NAME.seen.png into DIR "
                             "(default: none)")
    _add_recipe_flag(parser)
    parser.add_argument("--invert", action=argparse.BooleanOptionalAction, default=None,
                        help="the ink is dark on light paper (--invert) or not (--no-invert); default: decided per image")
    parser.add_argument("--out", type=output_file, default=None,
                        help="for a CSV or .npy: also write Kaggle's ImageId,Label file here (default: none)")
    _add_force_flag(parser, "json", "out")
    parser.set_defaults(handler=_predict)


def _predict(args: argparse.Namespace) -> int:
    _check_run_before_tensorflow(args.run_dir)
    from simplenn.runs.loaded_run import load_run
    from simplenn.serving.prediction import (
        check_save_inputs,
        format_predictions,
        is_image_table,
        predict_images,
        predict_table,
        predictions_json,
        save_inputs,
        write_submission,
    )

    table = len(args.images) == 1 and is_image_table(args.images[0])
    if args.out and not table:
        raise SimplennError("--out writes the ImageId,Label file of a CSV or .npy; drop it for image files")
    if table and args.recipe:
        raise SimplennError("--recipe turns image files into inputs; a CSV or .npy already holds them, drop --recipe")
    if args.save_input:  # every name it will write, checked before the work
        check_save_inputs(args.images, args.save_input, force=args.force)
    run = load_run(args.run_dir)
    predictions = predict_table(run, args.images[0]) if table else \
        predict_images(run, args.images, args.invert, args.recipe)
    if args.json:
        write_json_output(args.json, predictions_json(predictions, args.top_k))
    else:
        print(format_predictions(predictions, args.top_k))
    if args.out:
        print(f"predictions written to {write_submission(predictions, args.out)}", file=sys.stderr if args.json == "-" else sys.stdout)
    if args.save_input:
        written = save_inputs(predictions, args.save_input, force=args.force)
        if args.json != "-":
            print(f"{len(written)} network view(s) written to {args.save_input}")
    return 0


def _add_export_parser(commands) -> None:
    parser = _add_command(
        commands, "export", "a trained run as a TensorFlow SavedModel or TFLite file",
        ("simplenn export runs/fixed-digits-20261127-201500 exported/simplenn/1",
         "simplenn export RUN model.tflite --format tflite"),
    )
    _add_run_argument(parser)
    parser.add_argument("out", metavar="OUT", help="the SavedModel folder, or the .tflite file, to write")
    parser.add_argument("--format", choices=("saved_model", "tflite"), default=None,
                        help="saved_model (for TensorFlow Serving) or tflite (default: tflite when OUT ends in "
                             ".tflite, else saved_model; a contradiction is refused)")
    parser.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    _check_run_before_tensorflow(args.run_dir)
    from simplenn.serving.export import export_format, export_run, export_summary
    from simplenn.runs.loaded_run import load_run

    format = export_format(args.out, args.format)  # a contradiction is refused before the run loads
    run = load_run(args.run_dir)
    print(export_summary(run, export_run(run, args.out, format), format))
    return 0


def _add_serve_parser(commands) -> None:
    parser = _add_command(
        commands, "serve", "a draw-a-digit page and a TF Serving-style JSON API for a run",
        ("simplenn serve runs/fixed-digits-20261127-201500", "simplenn serve RUN --port 8080"),
    )
    _add_run_argument(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=positive_int, default=8000, help="port (default 8000)")
    _add_recipe_flag(parser)
    parser.add_argument("--allowed-hosts", default="", metavar="NAMES",
                        help="comma-separated Host names to answer besides localhost, 127.0.0.1, ::1 and --host, "
                             "e.g. mybox.lan (requests naming any other host get 421: no DNS rebinding)")
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    _check_run_before_tensorflow(args.run_dir)
    from simplenn.runs.loaded_run import load_run
    from simplenn.serving.server import check_host, serve

    allowed = tuple(name.strip() for name in args.allowed_hosts.split(",") if name.strip())
    check_host(args.host)  # before the run loads
    serve(load_run(args.run_dir), args.host, args.port, args.recipe, allowed)
    return 0


def _add_lab_parser(commands) -> None:
    parser = _add_command(
        commands, "lab", "train in the browser: flip the post's mistakes one at a time and watch the run",
        ("simplenn lab", "simplenn lab --port 8080 --runs-dir runs/lab"),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=positive_int, default=8000, help="port (default 8000)")
    parser.add_argument("--runs-dir", type=output_folder, default="runs/lab",
                        help="where each run's folder is written (default runs/lab)")
    _add_memory_flag(parser)
    parser.set_defaults(handler=_lab)


def _lab(args: argparse.Namespace) -> int:
    from simplenn.serving.lab import serve_lab

    serve_lab(args.runs_dir, args.host, args.port, args.max_memory)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="simplenn",
        description="The blog post's MNIST network, built from TensorFlow's low-level pieces. "
                    "`simplenn COMMAND --help` lists a command's flags, with examples.",
        epilog="examples:\n  simplenn train --preset fixed --dataset digits\n  simplenn diagnose --preset blog",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action=VersionAction, help="show simplenn's and TensorFlow's versions and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    _add_train_parser(commands)
    _add_show_parser(commands)
    _add_data_parser(commands)
    _add_diagnose_parser(commands)
    _add_ablate_parser(commands)
    _add_bench_parser(commands)
    _add_evaluate_parser(commands)
    _add_plot_parser(commands)
    _add_report_parser(commands)
    _add_compare_parser(commands)
    _add_predict_parser(commands)
    _add_export_parser(commands)
    _add_serve_parser(commands)
    _add_lab_parser(commands)
    _add_doctor_parser(commands)
    return parser


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Every warning as one line, `simplenn: warning: ...`: simplenn's own as they are, a library's
    (NumPy, Pillow, matplotlib) with its kind and where it came from, never a source line and a path."""
    text = terminal_text(" ".join(str(message).split()))
    if not issubclass(category, SimplennWarning):
        text = f"{text} ({category.__name__} from {Path(filename).parent.name}/{Path(filename).name})"
    print(f"simplenn: warning: {text}", file=file or sys.stderr)


def main(argv: list[str] | None = None) -> int:
    from simplenn.runs.interruption import Terminated, raise_on_sigterm

    set_up()  # TensorFlow, when a command needs it, loads quietly, with XLA's cache
    with warnings.catch_warnings():  # the caller's warning display comes back afterwards
        warnings.showwarning = show_warning
        try:
            raise_on_sigterm()  # SIGTERM ends like Ctrl-C: a line, the status, and files left whole
            parser = build_parser()
            args = parser.parse_args(argv)
            if args.command is None:  # `simplenn` alone: what it can do, and exit 2 as for any missing argument
                parser.print_help()
                return 2
            _refuse_overwrites(args)
            return args.handler(args)
        except SimplennError as error:
            print(error_text(terminal_text(str(error))), file=sys.stderr)  # a path or class name may hold escapes
            return error.exit_status
        except KeyboardInterrupt:  # Ctrl-C outside training, which handles it itself
            print("simplenn: interrupted", file=sys.stderr)
            return 130
        except Terminated:
            print("simplenn: terminated", file=sys.stderr)
            return 143


def run_command() -> None:
    """The `simplenn` program: `main`, then an exit that skips the interpreter's teardown.

    Unloading TensorFlow's modules at exit takes about a second, longer than a small run's
    training. By the time `main` returns every file has been written, synced and closed, so
    nothing is lost by leaving at once. A reader that stops early (`simplenn doctor | head -1`)
    ends the program quietly, with the status of a process stopped by SIGPIPE, as `cat` would.
    """
    try:
        status = main()
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        status = 128 + 13  # SIGPIPE
    os._exit(status or 0)


if __name__ == "__main__":
    run_command()
