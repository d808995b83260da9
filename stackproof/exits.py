"""The `stackproof` command's exit codes and its usage error, apart from the command itself:
a plugged-in area (the lab) raises and returns these without importing the product's CLI."""
from __future__ import annotations

EXIT_ERROR, EXIT_USAGE, EXIT_NOT_UP = 1, 2, 3


class CliError(Exception):
    """A usage error: one line on stderr, exit 2."""
