"""The `simplenn` command: a thin layer of argparse over functions a notebook can call.

`build_parser` registers every command, one line each, from the module of its family
(`training`, `explaining`, `bench`, `serving`, `doctor`); each module has, per command, an
`add_<name>_parser` that declares its flags, with two examples, and a `_<name>` handler
that calls the package and prints. The flags they share are in `flags`. `main` sets the
process up (`simplenn.set_up()`) and maps errors: a `SimplennError` anywhere becomes a
message on stderr (`errors.error_text`: one line, or a short first line and indented
details) and exit status 2; argparse's own usage errors exit 2 as well.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from simplenn.cli import bench, doctor, explaining, serving, training
from simplenn.cli.flags import ArgumentParser, HelpFormatter, refuse_overwrites
from simplenn.errors import SimplennError, SimplennWarning, error_text
from simplenn.machine.quiet_tensorflow import set_up
from simplenn.machine.safe_text import terminal_text


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="simplenn",
        description="The blog post's MNIST network, built from TensorFlow's low-level pieces. "
                    "`simplenn COMMAND --help` lists a command's flags, with examples.",
        epilog="examples:\n  simplenn train --preset fixed --dataset digits\n  simplenn diagnose --preset blog",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action=doctor.VersionAction, help="show simplenn's and TensorFlow's versions and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    training.add_train_parser(commands)
    training.add_show_parser(commands)
    training.add_data_parser(commands)
    explaining.add_diagnose_parser(commands)
    explaining.add_ablate_parser(commands)
    bench.add_bench_parser(commands)
    explaining.add_evaluate_parser(commands)
    explaining.add_plot_parser(commands)
    explaining.add_report_parser(commands)
    explaining.add_compare_parser(commands)
    serving.add_predict_parser(commands)
    serving.add_export_parser(commands)
    serving.add_serve_parser(commands)
    serving.add_lab_parser(commands)
    doctor.add_doctor_parser(commands)
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

    set_up(one_command=True)  # TensorFlow, when a command needs it, loads quietly, with XLA's cache
    with warnings.catch_warnings():  # the caller's warning display comes back afterwards
        warnings.showwarning = show_warning
        try:
            raise_on_sigterm()  # SIGTERM ends like Ctrl-C: a line, the status, and files left whole
            parser = build_parser()
            args = parser.parse_args(argv)
            if args.command is None:  # `simplenn` alone: what it can do, and exit 2 as for any missing argument
                parser.print_help()
                return 2
            refuse_overwrites(args)
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
