"""What every command's flags are made of: argparse's types, the `Config` fields as flags, shared options.

A flag's value is checked here, when argparse reads it, so that a mistake answers before any
work starts: `--epochs 0`, an output file in a folder that cannot be written, a figure
without an image extension. The options several commands share are added by one function
each: `--json PATH` (or `-` for standard output), `--force`, `--max-memory`, the RUN argument,
`--recipe`, and one flag per `Config` field (`add_config_flags`, `config_from_args`).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from simplenn import config as configs
from simplenn.errors import SimplennError


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


def add_command(commands, name: str, help: str, examples: tuple[str, ...], description: str | None = None):
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
        check_output(text, force=True)  # whether it exists is checked once --force is known: `refuse_overwrites`
    except SimplennError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def json_output(text: str) -> str:
    """Where `--json` writes: a file (checked as `output_file`), or "-" for standard output."""
    return text if text == "-" else output_file(text)


def add_json_flag(parser, what: str, default: str) -> None:
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


def print_table_and_json(table: str, value, json_target: str | None, what: str) -> None:
    """`table` on standard output, and `value` as JSON where `--json` says: in place of the table for "-"."""
    if json_target == "-":
        print(json.dumps(value, indent=2))
        return
    print(table)
    if json_target:
        from simplenn.machine.file_safety import write_json

        print(f"{what} written to {write_json(json_target, value)}")


FORCE_HELP = ("replace files that already exist at the paths this command writes; without it an existing file "
              "is refused, never overwritten")


def add_force_flag(parser: argparse.ArgumentParser, *outputs: str) -> None:
    """--force, for a command whose `outputs` (flag destinations) name files that may already exist."""
    parser.add_argument("--force", action="store_true", help=FORCE_HELP)
    parser.set_defaults(outputs=outputs)


def refuse_overwrites(args: argparse.Namespace) -> None:
    """The output rule's last part: an existing file named by an output flag is replaced only with --force,
    and no two outputs, nor an output and an input, name the same file."""
    from simplenn.machine.file_safety import check_outputs

    outputs = {f"--{dest.replace('_', '-')}": getattr(args, dest, None) for dest in getattr(args, "outputs", ())}
    inputs = [value for dest, value in vars(args).items() if dest not in getattr(args, "outputs", ())
              for value in (value if isinstance(value, list) else [value]) if isinstance(value, str)]
    check_outputs(outputs, force=args.force if outputs else False, inputs=inputs)


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


def add_memory_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-memory", type=memory_size, default=None, metavar="SIZE",
                        help="refuse work estimated to need more memory than this, e.g. 8G "
                             "(default: half of the memory available)")


def memory_limit_of(args: argparse.Namespace):
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


def add_config_flags(parser: argparse.ArgumentParser, *, whole_run: bool = True) -> None:
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

def add_comparison_flags(parser, each: str, *, dataset: str, epochs: int, json_help: str | None = None) -> None:
    """The flags of commands that train several runs (or systems) alike: data, epochs, seed, JSON
    (when `json_help` says what it holds), memory."""
    parser.add_argument("--dataset", default=dataset, metavar="NAME", help=f"{DATASET_HELP} (default {dataset})")
    parser.add_argument("--epochs", type=epoch_count, default=epochs, help=f"epochs for every {each} (default {epochs})")
    parser.add_argument("--seed", type=seed_value, default=0, help=f"the same seed for every {each}")
    if json_help is not None:
        add_json_flag(parser, json_help, "none")
    add_memory_flag(parser)


def add_run_argument(parser) -> None:
    """The RUN argument of every command that works on one trained run."""
    parser.add_argument("run_dir", metavar="RUN", help="the --run-dir of a `simplenn train`")


def add_recipe_flag(parser) -> None:
    """`--recipe`: how a photo becomes the run's input, when the user wants other than the recorded one."""
    parser.add_argument("--recipe", choices=("mnist", "digits", "fashion-mnist", "resize"), default=None,
                        help="how an image file becomes the run's input (default: the recipe the run recorded "
                             "in data.json; e.g. mnist for photos of digits given to a run trained on MNIST "
                             "as a CSV)")


def add_run_dataset_flag(parser) -> None:
    """`--dataset` for commands that read a run's own test split: where its data is now."""
    parser.add_argument("--dataset", default=None, metavar="PATH",
                        help="where the run's training data is now, when it was moved; it must hash to the "
                             "sha256 the run recorded (default: where the run recorded it)")


def check_run_before_tensorflow(run_dir: str) -> None:
    """Read a run's records, so that a wrong folder is reported before TensorFlow loads."""
    from simplenn.runs.run_directory import RunDirectory

    RunDirectory(run_dir).read_records()
