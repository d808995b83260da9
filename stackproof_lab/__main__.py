"""`python -m stackproof_lab up|down|status|break|heal|faults|reboot ...`: the lab's commands
without the product's entry point (a source checkout that was never `pip install`ed), and
without the product's CLI module (which reaches the expectation code the lab must not use)."""
import argparse
import sys

from stackproof.exits import run_reporting
from stackproof_lab import cli as lab_cli


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m stackproof_lab")
    lab_cli.add_parser(parser.add_subparsers(dest="area", required=True))
    args = parser.parse_args(["lab", *argv])
    return run_reporting("stackproof lab", lambda: lab_cli.run(args), lab_cli.errors)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
