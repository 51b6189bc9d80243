"""The `simplenn` command: argparse over the library, one module per command family."""

from simplenn.cli.program import main, run_command

__all__ = ["main", "run_command"]
