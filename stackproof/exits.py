"""The `stackproof` command's exit codes and its usage error, apart from the command itself:
a plugged-in area (the lab) raises and returns these without importing the product's CLI."""
from __future__ import annotations

import os
import sys
from typing import Callable

EXIT_ERROR, EXIT_USAGE, EXIT_NOT_UP = 1, 2, 3


class CliError(Exception):
    """A usage error: one line on stderr, exit 2."""


def run_reporting(prog: str, run: Callable[[], int], errors: tuple[type[BaseException], ...],
                  ) -> int:
    """Run a command and turn what it raises into one line on stderr and an exit code:
    the product's CLI and `python -m stackproof_lab` say their errors the same way."""
    from stackproof.site import InventoryError
    try:
        return run()
    except InventoryError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except CliError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except errors as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`stackproof trace ... | head`): nothing more to say to it
        sys.stdout = open(os.devnull, "w")
        return 0
    except Exception as exc:          # a bug (ours or a plugin's): one line unless asked
        if os.environ.get("STACKPROOF_DEBUG"):
            raise
        print(f"{prog}: error: {type(exc).__name__}: {exc} "
              f"(STACKPROOF_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_ERROR
