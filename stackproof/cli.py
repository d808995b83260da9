"""`stackproof` command line.

    stackproof check|fix|plan --inventory FILE [--json FILE] [-- PYTEST ARGS]
    stackproof trace SRC DST --inventory FILE
    stackproof picture --inventory FILE [--json FILE]
    stackproof lab ...     (when the lab package, stackproof_lab, is installed)

More areas plug in through the entry point group `stackproof.commands`: each names an object
with `add_parser(subparsers)`, `run(args) -> int` and `errors` (exception types reported as
one line, exit 1). The product imports no plugin by name: it installs and runs without the lab.

--inventory defaults to $STACKPROOF_INVENTORY. Errors are one clear message, no traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from stackproof.exits import (EXIT_ERROR, EXIT_NOT_UP, EXIT_USAGE, CliError,  # noqa: F401
                              run_reporting)

COMMANDS_GROUP = "stackproof.commands"


def _plugins() -> dict:
    """The installed command areas (entry points of COMMANDS_GROUP), loaded once."""
    if _PLUGINS is None:
        from importlib.metadata import entry_points
        found = {}
        for ep in entry_points(group=COMMANDS_GROUP):
            try:
                found[ep.name] = ep.load()
            except ImportError:          # its package is not installed: the area is absent
                continue
        globals()["_PLUGINS"] = found
    return _PLUGINS


_PLUGINS: dict | None = None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stackproof", description="Prove a site is wired as "
                                "intended; rehearse it in a lab of namespaces.")
    areas = ["check", "fix", "plan", "trace", "picture", *_plugins()]
    top = p.add_subparsers(dest="area", required=True, metavar="{" + ",".join(areas) + "}")
    tr = top.add_parser("trace", help="follow a packet hop by hop; exit 0 arrives, 1 dies",
                        description="Walk the path the site model expects from SRC to DST "
                        "and read each hop's live route, firewall verdict and neighbor "
                        "state: names the first hop that differs. Exit 0 when the packet "
                        "arrives, 1 when it dies, 2 on a usage or inventory error.")
    tr.add_argument("--inventory", "-i", default=os.environ.get("STACKPROOF_INVENTORY"),
                    help="site inventory (default: $STACKPROOF_INVENTORY)")
    tr.add_argument("src", help="an inventory host")
    tr.add_argument("dst", help="an inventory host, an address or a floating IP")
    pic = top.add_parser("picture", help="draw the site (site.svg), coloured by a run",
                         description="Draw the site from its inventory with Graphviz: "
                         "hosts, guests, instances, underlay, NAT bridges, BGP sessions, "
                         "VXLAN tunnels, floating-IP paths; with --json (a compliance report "
                         "of `stackproof check --json`) coloured by that run.")
    pic.add_argument("--inventory", "-i", default=os.environ.get("STACKPROOF_INVENTORY"))
    pic.add_argument("--json", metavar="FILE", help="compliance report to colour by")
    pic.add_argument("--output", "-o", default="site.svg")
    for mode, text in (("check", "run the acceptance suite: red/green per fact"),
                       ("fix", "remediate what is broken, then re-verify"),
                       ("plan", "show the fixes the suite would apply, touch nothing")):
        sp = top.add_parser(mode, help=text, description=f"{text}. Exit: 0 healthy, 1 "
                            "findings left, 2 usage or inventory error, 3 remediated and "
                            "green now. Arguments after `--` go to pytest.")
        sp.add_argument("--inventory", "-i", default=os.environ.get("STACKPROOF_INVENTORY"),
                        help="site inventory (default: $STACKPROOF_INVENTORY)")
        sp.add_argument("--json", metavar="FILE",
                        help="write the compliance report (one record per check and host)")
        sp.add_argument("pytest_args", nargs=argparse.REMAINDER,
                        help="-- then pytest arguments (e.g. -- -m underlay --check 'bgp.*')")
    for plugin in _plugins().values():
        plugin.add_parser(top)
    return p


def _suite(args) -> int:
    from stackproof import suite
    extra = list(args.pytest_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    return suite.run(args.area, args.inventory, args.json, extra)


def _trace(args) -> int:
    from stackproof.checks.trace import trace
    from stackproof.paths import PathError, resolve_destination
    from stackproof.remote import Fleet
    from stackproof.site import load_site
    if not args.inventory:
        raise CliError("no inventory: pass --inventory FILE or set STACKPROOF_INVENTORY")
    site = load_site(args.inventory)
    fleet = Fleet(site)
    try:
        result = trace(site, fleet.__getitem__, args.src, resolve_destination(site, args.dst))
    except PathError as exc:
        raise CliError(str(exc)) from None
    finally:
        fleet.close()
    print(result.table())
    return 0 if result.arrives else 1


def _picture(args) -> int:
    from stackproof.picture import render_svg
    from stackproof.site import load_site
    if not args.inventory:
        raise CliError("no inventory: pass --inventory FILE or set STACKPROOF_INVENTORY")
    site = load_site(args.inventory)
    report = json.loads(Path(args.json).read_text()) if args.json else None
    Path(args.output).write_text(render_svg(site, report))
    print(f"wrote {args.output}")
    return 0


def _cmd(args) -> int:
    if args.area in ("check", "fix", "plan"):
        return _suite(args)
    if args.area == "trace":
        return _trace(args)
    if args.area == "picture":
        return _picture(args)
    return _plugins()[args.area].run(args)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    plugin_errors = tuple(e for p in _plugins().values() for e in p.errors)
    return run_reporting("stackproof", lambda: _cmd(args), plugin_errors)


if __name__ == "__main__":
    # through the imported module: one copy of this module's state (its plugins), not a
    # second one in __main__
    from stackproof.cli import main as _main
    sys.exit(_main())
