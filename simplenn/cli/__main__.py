"""`python -m simplenn.cli ...`, the same as the `simplenn` command."""

from simplenn.cli.program import run_command

run_command()
