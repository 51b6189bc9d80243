"""`simplenn doctor` and `simplenn --version`: what this machine has, and whether it can train."""

from __future__ import annotations

import argparse

from simplenn.cli.flags import add_command, add_force_flag, add_json_flag, write_json_output


def add_doctor_parser(commands) -> None:
    parser = add_command(
        commands, "doctor", "check that this machine can train: Python, TensorFlow, XLA, data, disk, memory",
        ("simplenn doctor", "simplenn doctor --json doctor.json"),
        description="Check that this machine can train, one line per check: ✓ ok, ! worth knowing, ✗ will "
                    "fail, each with its fix. Exit status 1 when a check fails. Paste its output into a bug report.",
    )
    add_json_flag(parser, "the checks as JSON", "none: lines on standard output")
    add_force_flag(parser, "json")
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
