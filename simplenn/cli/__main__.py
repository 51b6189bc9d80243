"""`python -m simplenn.cli ...`, the same as the `simplenn` command."""

from simplenn.cli.main import run_command

run_command()
