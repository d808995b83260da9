"""`python -m stackproof_lab up|down|status|break|heal|faults|reboot ...`: the lab's commands
without the product's entry point (a source checkout that was never `pip install`ed)."""
import sys

from stackproof import cli
from stackproof_lab import cli as lab_cli

if __name__ == "__main__":
    cli._PLUGINS = {"lab": lab_cli}
    sys.exit(cli.main(["lab", *sys.argv[1:]]))
