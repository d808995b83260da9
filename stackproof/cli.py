"""`stackproof` command line.

    stackproof lab up      --inventory FILE [--state-dir DIR] [--no-daemons] [--bare]
    stackproof lab down    --inventory FILE [--state-dir DIR] [--keep-files]
    stackproof lab status  --inventory FILE [--state-dir DIR] [--json]
    stackproof lab break   FAULT [--host H] --inventory FILE
    stackproof lab heal    [FAULT] [--host H] --inventory FILE
    stackproof lab faults

--inventory defaults to $STACKPROOF_INVENTORY. Errors are one clear message, no traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from stackproof.site import InventoryError

EXIT_ERROR, EXIT_USAGE, EXIT_NOT_UP = 1, 2, 3


class CliError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stackproof", description="Prove a site is wired as "
                                "intended; rehearse it in a lab of namespaces.")
    top = p.add_subparsers(dest="area", required=True, metavar="{lab}")
    lab = top.add_parser("lab", help="build, break and heal a site on this machine")
    sub = lab.add_subparsers(dest="command", required=True,
                             metavar="{up,down,status,break,heal,faults}")

    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--inventory", "-i", default=os.environ.get("STACKPROOF_INVENTORY"),
                       help="inventory file (default: $STACKPROOF_INVENTORY)")
    where.add_argument("--state-dir", help="lab state directory "
                       "(default: /var/tmp/stackproof-lab/<lab id>)")

    up = sub.add_parser("up", parents=[where], help="create the lab")
    up.add_argument("--no-daemons", action="store_true",
                    help="hosts and wiring only: do not load stackproof.lab.daemons hooks")
    up.add_argument("--bare", action="store_true",
                    help="a clean lab: without the operator's items a real site has and the "
                         "inventory does not describe (stackproof.lab.lived_in)")
    down = sub.add_parser("down", parents=[where], help="remove everything the lab made")
    down.add_argument("--keep-files", action="store_true",
                      help="keep the state directory (logs, configs) after stopping")
    st = sub.add_parser("status", parents=[where], help="show the lab (exit 3 if not up)")
    st.add_argument("--json", action="store_true")
    br = sub.add_parser("break", parents=[where], help="inject a fault")
    br.add_argument("fault")
    br.add_argument("--host")
    he = sub.add_parser("heal", parents=[where], help="heal one fault, or all injected ones")
    he.add_argument("fault", nargs="?")
    he.add_argument("--host")
    sub.add_parser("faults", help="list the fault catalog")
    return p


def _lab(args, *, daemons: bool = True, bare: bool = False, for_down: bool = False):
    from stackproof.lab.lab import Lab
    if args.state_dir and not args.inventory:
        from stackproof.lab.state import LabState
        if LabState.exists(args.state_dir):
            return Lab.from_state(args.state_dir)
        raise CliError(f"no lab state in {args.state_dir}, and no --inventory given")
    if not args.inventory:
        raise CliError("no inventory: pass --inventory FILE or set STACKPROOF_INVENTORY")
    try:
        return Lab(args.inventory, args.state_dir, daemons=daemons, bare=bare)
    except InventoryError:
        # a lab must stay removable when its inventory was since broken or deleted
        if for_down:
            from stackproof.lab.state import LabState
            found = Path(args.state_dir) if args.state_dir and LabState.exists(
                args.state_dir) else Lab.find_state(args.inventory)
            if found:
                return Lab.from_state(found)
        raise


def _print_status(s: dict) -> None:
    state = "up" if s["up"] else f"not up ({s['phase']})"
    print(f"lab {s['lab_id']}: {state}; state {s['state_dir']}; inventory {s['inventory']}")
    if s["phase"] == "absent":
        return
    print(f"  lab inventory {s['lab_inventory']}")
    print(f"  ssh config    {s['ssh_config']}")
    width = max((len(n) for n in s["hosts"]), default=0)
    for name, h in s["hosts"].items():
        alive = "alive" if h["alive"] else "DEAD"
        print(f"  {name:<{width}}  pid {h['pid']}  {alive}  netns {h['netns']}")
    other = [ns for ns in s["netns"] if ns not in {h["netns"] for h in s["hosts"].values()}]
    for ns in other:
        print(f"  {'':<{width}}  netns {ns} {'present' if s['netns'][ns] else 'MISSING'}")
    for f in s["faults"]:
        print(f"  fault {f['name']} on {f['host'] or '(site)'}")
    for n in s["notes"]:
        print(f"  note: {n}")


def _cmd(args) -> int:
    from stackproof.lab import faults
    if args.command == "faults":
        reg = faults.load_layers()
        if not reg:
            print("no faults registered")
        for name in sorted(reg, key=lambda n: (reg[n].layer, n)):
            f = reg[name]
            print(f"{f.layer:<11} {f.name:<28} {f.description}")
        for layer, err in faults.LOAD_ERRORS.items():
            print(f"warning: fault layer {layer} failed to load: {err}", file=sys.stderr)
        return 0
    if args.command == "up":
        _lab(args, daemons=not args.no_daemons, bare=args.bare).up()
        return 0
    if args.command == "down":
        _lab(args, daemons=False, for_down=True).down(keep_files=args.keep_files)
        return 0
    if args.command == "status":
        s = _lab(args, daemons=False, for_down=True).status()
        print(json.dumps(s, indent=1)) if args.json else _print_status(s)
        return 0 if s["up"] else EXIT_NOT_UP
    lab = _lab(args)
    if args.command == "break":
        host = faults.inject(lab, args.fault, args.host)
        print(f"[lab] fault {args.fault} injected{f' on {host}' if host else ''}")
        return 0
    if args.command == "heal":
        healed = faults.heal(lab, args.fault, args.host)
        for name, host in healed:
            print(f"[lab] fault {name} healed{f' on {host}' if host else ''}")
        if not healed:
            print("[lab] no injected faults to heal")
        return 0
    raise CliError(f"unknown command {args.command}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from stackproof.lab.faults import FaultError
    from stackproof.lab.hosts import HostError
    from stackproof.lab.lab import LabError
    from stackproof.lab.ssh import SshSetupError
    from stackproof.lab.shell import LabCommandError
    from stackproof.lab.topology import TopologyError
    try:
        return _cmd(args)
    except InventoryError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except CliError as exc:
        print(f"stackproof: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (LabError, FaultError, HostError, TopologyError, SshSetupError,
            LabCommandError) as exc:
        print(f"stackproof: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("stackproof: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:          # a bug (ours or a plugin's): one line unless asked
        if os.environ.get("STACKPROOF_DEBUG"):
            raise
        print(f"stackproof: error: {type(exc).__name__}: {exc} "
              f"(STACKPROOF_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
