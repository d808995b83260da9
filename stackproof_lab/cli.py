"""The `lab` area of the `stackproof` command, plugged in through the entry point group
`stackproof.commands` (pyproject.toml), so the product installs and runs without the lab:

    stackproof lab up      --inventory FILE [--state-dir DIR] [--no-daemons] [--bastion HOST] [--bare]
    stackproof lab down    --inventory FILE [--state-dir DIR] [--keep-files]
    stackproof lab status  --inventory FILE [--state-dir DIR] [--json]
    stackproof lab break   FAULT [--host H] --inventory FILE
    stackproof lab heal    [FAULT] [--host H] --inventory FILE
    stackproof lab faults
    stackproof lab reboot  HOST [HOST...] --inventory FILE [--state-dir DIR]

`python -m stackproof_lab ...` runs the same commands without the product's entry point.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from stackproof.exits import EXIT_NOT_UP, CliError
from stackproof.site import InventoryError
from stackproof_lab.faults import FaultError
from stackproof_lab.hosts import HostError, state_dir_problem
from stackproof_lab.lab import LabError
from stackproof_lab.shell import LabCommandError
from stackproof_lab.ssh import SshSetupError
from stackproof_lab.topology import TopologyError

errors = (LabError, FaultError, HostError, TopologyError, SshSetupError, LabCommandError)


def add_parser(subparsers) -> None:
    lab = subparsers.add_parser("lab", help="build, break and heal a site on this machine")
    sub = lab.add_subparsers(dest="command", required=True,
                             metavar="{up,down,status,break,heal,faults,reboot}")

    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--inventory", "-i", default=os.environ.get("STACKPROOF_INVENTORY"),
                       help="inventory file (default: $STACKPROOF_INVENTORY)")
    where.add_argument("--state-dir", help="lab state directory "
                       "(default: /var/tmp/stackproof-lab/<lab id>)")

    up = sub.add_parser("up", parents=[where], help="create the lab")
    up.add_argument("--bastion", metavar="HOST",
                    help="bastion mode: the lab inventory reaches every other host through "
                         "`bastion: HOST` (OpenSSH -W; sshd listening on the lab hosts)")
    up.add_argument("--no-daemons", action="store_true",
                    help="hosts and wiring only: do not load stackproof_lab.daemons hooks")
    up.add_argument("--bare", action="store_true",
                    help="a clean lab: without the operator's items a real site has and the "
                         "inventory does not describe (stackproof_lab.lived_in)")
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
    rb = sub.add_parser("reboot", parents=[where], help="reboot hosts: stop, flush, boot "
                        "from their persisted files (a hypervisor's guests too)")
    rb.add_argument("hosts", nargs="+", metavar="HOST")


def _lab(args, *, daemons: bool = True, bare: bool = False, for_down: bool = False):
    from stackproof_lab.lab import Lab
    if args.state_dir and not args.inventory:
        from stackproof_lab.state import LabState
        if not LabState.exists(args.state_dir):
            raise CliError(f"no lab state in {args.state_dir}, and no --inventory given")
        if for_down:
            return Lab.from_state(args.state_dir)
        # break, heal, reboot need the site: the inventory the lab was made from
        made_from = LabState.load(args.state_dir).inventory
        if not Path(made_from).is_file():
            raise CliError(f"the lab in {args.state_dir} was made from {made_from}, which is "
                           f"gone: pass --inventory FILE")
        args.inventory = made_from
    if not args.inventory:
        raise CliError("no inventory: pass --inventory FILE or set STACKPROOF_INVENTORY")
    problem = args.state_dir and not for_down and state_dir_problem(Path(args.state_dir))
    if problem:
        raise CliError(problem)
    try:
        return Lab(args.inventory, args.state_dir, daemons=daemons,
                   bastion=getattr(args, "bastion", None), bare=bare)
    except InventoryError:
        # a lab must stay removable when its inventory was since broken or deleted
        if for_down:
            from stackproof_lab.state import LabState
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


def _reboot(args) -> int:
    import time
    from stackproof_lab.reboot import wait_settled
    lab = _lab(args, daemons=False)
    t0 = time.monotonic()
    for host in args.hosts:
        r = lab.reboot(host)
        guests = f" with {', '.join(r.rebooted[1:])}" if r.rebooted[1:] else ""
        print(f"[lab] {host} rebooted{guests} in {r.seconds:.1f} s")
        for g in r.down:
            print(f"[lab]   guest {g} stays down: its domain is not autostarted")
        for name, steps in r.boot.items():
            for s in steps:
                print(f"[lab]   {name}: boot step {s['step']} failed: "
                      f"{s.get('cmd', '')} -> rc {s['rc']} {s.get('err', '')}")
    pending = wait_settled(lab)
    for line in pending:
        print(f"[lab]   not settled: {line}")
    print(f"[lab] {len(args.hosts)} reboot(s), services started and BGP settled in "
          f"{time.monotonic() - t0:.1f} s" if not pending else
          f"[lab] {len(args.hosts)} reboot(s) in {time.monotonic() - t0:.1f} s")
    return 0


# What init gives the daemons it starts. The lab's hosts have no init of their own: they
# inherit ours, and with an operator's umask 077 the files the lab writes for its daemons
# (FRR's log, configs read by their service users) were unreadable to them.
HOST_UMASK = 0o022


def run(args) -> int:
    from stackproof_lab import faults
    os.umask(HOST_UMASK)
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
    if args.command == "reboot":
        return _reboot(args)
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
