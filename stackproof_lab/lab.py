"""`Lab`: an inventory materialized as Linux namespaces on this machine.

    with Lab("inventories/seed.yml") as lab:      # up() on enter, down() on exit, always
        lab.shell("controller").run(["hostname"])  # nsenter into the host
        lab.inventory_path                          # the lab inventory: ssh through the lab

Every inventory host (physical, guest, instance) becomes a host (see hosts.py); physical
hosts are wired to an underlay switch (topology.py); guests are plugged into their NAT
bridge. Daemons plug in through hook lists, so the lab core never needs editing:

    Lab.daemon_hooks   run after hosts + underlay exist, before guests are attached
    Lab.guest_hooks    run after guests are attached
    each hook: `hook(lab, site) -> None`

`stackproof_lab.daemons`, if it exists, is imported when a Lab is made (unless
`daemons=False`): it may append to those lists at import, or define DAEMON_HOOKS /
GUEST_HOOKS lists that the Lab picks up. Root-side processes a hook starts must be recorded
with `lab.record_process(pid, label)` so `down` ends them (processes inside a host end with
the host).

Two labs never collide: the lab id is the site name plus a hash of the inventory's absolute
path (and of a custom state dir), and every network namespace is named `sp-<lab_id>-...`.
"""
from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable

import yaml

from stackproof_lab import hosts as hostmod
from stackproof_lab import pool
from stackproof_lab import ssh as sshmod
from stackproof_lab import topology
from stackproof_lab.shell import NsShell
from stackproof_lab.state import LabState, proc_start_time, signal_if
from stackproof_lab.wait import WaitTimeout, wait_until
from stackproof.site import Site, load_site, parse_site

DEFAULT_ROOT = Path("/var/tmp/stackproof-lab")
LAB_COMMAND_TIMEOUT = 180.0
READY_TIMEOUT = 30.0
READY_PER_HOST = 0.5        # more hosts start on the same CPUs: a longer wait for them all
STOP_TIMEOUT = 10.0

Hook = Callable[["Lab", Site], None]


class LabError(RuntimeError):
    pass


def lab_id_for(site: Site, inventory: Path, state_dir: Path | None = None) -> str:
    key = str(inventory.resolve())
    if state_dir is not None:
        key += "|" + str(state_dir.resolve())
    return f"{site.site}-{hashlib.sha1(key.encode()).hexdigest()[:6]}"


def _current(rec) -> bool:
    """The recorded init of a host is still the process it was (pid and start time)."""
    from stackproof_lab.state import proc_start_time
    return bool(rec.init_pid) and proc_start_time(rec.init_pid) == rec.init_start


def _ns_list() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _ns_pids(ns: str) -> list[int]:
    proc = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
    return [int(p) for p in proc.stdout.split()] if proc.returncode == 0 else []


def _in_netns(pid: int, ns: str) -> bool:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{ns}").st_ino
    except OSError:
        return False


class Lab:
    daemon_hooks: list[Hook] = []
    guest_hooks: list[Hook] = []

    def __init__(self, inventory_path: str | Path, state_dir: str | Path | None = None, *,
                 daemons: bool = True, bare: bool = False,
                 log: Callable[[str], None] | None = None, bastion: str | None = None):
        # bare: skip the operator's items a lived-in lab carries (stackproof_lab.lived_in)
        self.bare = bare
        self.source_inventory = Path(inventory_path).resolve()
        self.site: Site = load_site(self.source_inventory)      # InventoryError if bad
        if bastion is not None and bastion not in self.site.hosts:
            raise LabError(f"--bastion {bastion}: not a host of {self.source_inventory}")
        self.bastion = bastion     # bastion mode: the other hosts are reached through it
        custom = Path(state_dir).resolve() if state_dir is not None else None
        self.lab_id = lab_id_for(self.site, self.source_inventory, custom)
        self.state_dir = custom or DEFAULT_ROOT / self.lab_id
        self.prefix = f"sp-{self.lab_id}-"
        # the lab builds the site as its own inventory describes it (Debian hosts, no
        # systemd, a shared kernel), so hooks and the suite agree on paths and services
        self.site = parse_site(self._lab_inventory_data(), str(self.source_inventory))
        self._log = log or (lambda line: print(line, flush=True))
        self._holders: dict[str, subprocess.Popen] = {}
        self._state: LabState | None = None
        # daemons=False: hosts and wiring only, whatever hooks were registered elsewhere
        if daemons:
            self._load_daemon_plugins()
        self.daemon_hooks: list[Hook] = list(type(self).daemon_hooks) if daemons else []
        self.guest_hooks: list[Hook] = list(type(self).guest_hooks) if daemons else []

    @classmethod
    def from_state(cls, state_dir: str | Path, *, log: Callable[[str], None] | None = None,
                   ) -> Lab:
        """A Lab known only from its state file (its inventory may be gone or broken):
        enough for `down` and `status`."""
        st = LabState.load(state_dir)
        lab = cls.__new__(cls)
        lab.source_inventory = Path(st.inventory)
        lab.site = None
        lab.lab_id = st.lab_id
        lab.state_dir = Path(st.state_dir)
        lab.prefix = f"sp-{lab.lab_id}-"
        lab._log = log or (lambda line: print(line, flush=True))
        lab._holders = {}
        lab._state = st
        lab.bastion = None
        lab.daemon_hooks, lab.guest_hooks = [], []
        return lab

    @staticmethod
    def find_state(inventory: str | Path) -> Path | None:
        """The default-located state dir of a lab made from `inventory`, found by scanning
        (for when the inventory no longer loads)."""
        want = str(Path(inventory).resolve())
        for f in sorted(DEFAULT_ROOT.glob("*/state.json")):
            try:
                if LabState.load(f.parent).inventory == want:
                    return f.parent
            except (OSError, ValueError, TypeError, KeyError):
                continue
        return None

    @staticmethod
    def _load_daemon_plugins() -> None:
        try:
            mod = importlib.import_module("stackproof_lab.daemons")
        except ModuleNotFoundError as exc:
            if exc.name in ("stackproof_lab.daemons",):
                return
            raise
        for attr, target in (("DAEMON_HOOKS", Lab.daemon_hooks),
                             ("GUEST_HOOKS", Lab.guest_hooks)):
            for hook in getattr(mod, attr, []):
                if hook not in target:
                    target.append(hook)

    # --- paths -------------------------------------------------------------------------------
    @property
    def inventory_path(self) -> Path:
        """The lab inventory: the source inventory plus per-host ssh settings into the lab."""
        return self.state_dir / "inventory.yml"

    @property
    def ansible_inventory_path(self) -> Path:
        """The lab inventory again, with connection details from an Ansible inventory the lab
        writes beside it (ansible-hosts.yml): the Ansible path an operator's site takes."""
        return self.state_dir / "inventory-ansible.yml"

    @property
    def ssh_config(self) -> Path:
        return sshmod.ssh_dir(self.state_dir) / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return sshmod.ssh_dir(self.state_dir) / "known_hosts"

    @property
    def identity_file(self) -> Path:
        return sshmod.ssh_dir(self.state_dir) / "id_ed25519"

    def netns_of(self, host: str) -> str:
        return f"{self.prefix}{host}"

    def host_root(self, host: str) -> Path:
        return self.state_dir / "hosts" / host

    # --- state -------------------------------------------------------------------------------
    @property
    def state(self) -> LabState | None:
        if self._state is None and LabState.exists(self.state_dir):
            self._state = LabState.load(self.state_dir)
        return self._state

    def say(self, line: str) -> None:
        self._log(f"[lab] {line}")

    def shell(self, host: str) -> NsShell:
        st = self.state
        if st is not None and host in st.hosts and not _current(st.hosts[host]):
            self._state = None          # rebooted by another process: the file is the record
            st = self.state
        if st is None or host not in st.hosts:
            raise LabError(f"host {host} is not up in lab {self.lab_id} (state: {self.state_dir})")
        return hostmod.shell_for(st.hosts[host])

    def shells(self) -> dict[str, NsShell]:
        st = self.state
        return {n: self.shell(n) for n in (st.hosts if st is not None else {})}

    def record_process(self, pid: int | subprocess.Popen, role: str) -> None:
        """Record a root-side process a hook started, so `down` ends it (start time checked)."""
        pid = pid.pid if isinstance(pid, subprocess.Popen) else pid
        if self.state is None:
            raise LabError("record_process: the lab has no state (not up)")
        self.state.add_process(pid, role)

    # --- up ----------------------------------------------------------------------------------
    def up(self) -> Lab:
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network, mount and PID namespaces)")
        problem = hostmod.state_dir_problem(self.state_dir)
        if problem:
            raise LabError(problem)
        t0 = time.monotonic()
        self._clear_leftovers()
        try:
            self._up(t0)
        except BaseException as exc:
            self.say(f"up failed: {exc}; taking down what was made")
            try:
                self.down(keep_files=True)
            except Exception as exc2:      # keep the first error; say what is left
                self.say(f"down after the failed up also failed: {exc2}")
            self._save_failure_logs()
            if isinstance(exc, (LabError, KeyboardInterrupt)):
                raise
            raise LabError(f"lab up failed: {exc}") from exc
        return self

    def _save_failure_logs(self) -> None:
        from stackproof_lab import failure_logs
        dest = failure_logs.wanted()
        if dest is None:
            return
        try:
            self.say(f"logs of the failed up kept in "
                     f"{failure_logs.save(self.state_dir, self.lab_id, dest)}")
        except OSError as exc:
            self.say(f"could not keep the logs of the failed up: {exc}")

    def _clear_leftovers(self) -> None:
        st = self.state
        if st is not None:
            if st.phase == "up" and st.hosts and all(
                    h.init_pid and proc_start_time(h.init_pid) == h.init_start
                    for h in st.hosts.values()):
                raise LabError(f"lab {self.lab_id} is already up (state {self.state_dir}); "
                               f"run `stackproof lab down` first")
            self.say(f"found an earlier run of {self.lab_id} ({st.phase}): taking it down")
            self.down()
        clash = sorted(n for n in _ns_list() if n.startswith(self.prefix))
        if clash:
            raise LabError(f"network namespaces {clash} exist but are not in this lab's "
                           f"record ({self.state_dir}): another lab with the same id?")
        self._remove_files()

    def _up(self, t0: float) -> None:
        site = self.site
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = LabState(lab_id=self.lab_id, inventory=str(self.source_inventory),
                      state_dir=str(self.state_dir))
        st.save()
        self._state = st
        self.say(f"{self.lab_id}: {len(site.hosts)} hosts, state in {self.state_dir}")
        trees = hostmod.overlay_trees(self.state_dir)
        if "/etc" not in trees:
            st.note("no overlayfs: /etc/hostname, /etc/hosts, /etc/fstab are file bind "
                    "mounts (rename over them fails with EBUSY)")
        key = sshmod.client_key(self.state_dir, self.lab_id)
        client_pub = key.with_name("id_ed25519.pub").read_text()

        phases = pool.Phases(self.say)

        def prepare(name: str) -> str:
            root = self.host_root(name)
            for note in hostmod.prepare(site, self.lab_id, name, root, trees):
                st.note(note)
            return sshmod.setup_host(name, root, client_pub)
        host_keys = dict(zip(site.hosts, pool.each(site.hosts, prepare)))

        def launch(name: str) -> None:
            self._holders[name] = hostmod.launch(st, name, self.netns_of(name),
                                                 self.host_root(name))
        pool.each(site.hosts, launch)
        phases.done("hosts prepared and launched", f"{len(site.hosts)} hosts, "
                    f"{pool.workers(len(site.hosts))} at a time")

        # the underlay while the hosts start
        plan = topology.plan_underlay(site, self.prefix,
                                      {n: self.netns_of(n) for n in site.physical_hosts()})
        for ns in (plan.switch_netns, plan.uplink_netns):
            st.add_netns(ns)
            proc = subprocess.run(["ip", "netns", "add", ns], capture_output=True, text=True)
            if proc.returncode != 0:
                raise LabError(f"ip netns add {ns}: {proc.stderr.strip()}")
        topology.build_switch(plan)
        topology.build_uplink(plan)
        pool.each(plan.ports, lambda port: topology.connect_host(plan, port))
        self.say(f"underlay {plan.cidr}: switch with {len(plan.ports)} hosts, uplink "
                 f"{plan.uplink_address}")

        phases.done("underlay")
        deadline = time.monotonic() + READY_TIMEOUT + READY_PER_HOST * len(site.hosts)

        def ready(name: str) -> NsShell:
            shell = hostmod.wait_ready(st, name, self._holders[name], deadline)
            self.say(f"host {name} up (pid {shell.pid})")
            return shell
        shells = dict(zip(site.hosts, pool.each(site.hosts, ready)))
        sshmod.write_client_files(self.state_dir, shells, host_keys)
        phases.done("hosts ready")

        self._run_hooks("daemon", self.daemon_hooks)
        phases.done("daemon hooks")
        self._attach_guests(shells)
        phases.done("guests attached")
        self._run_hooks("guest", self.guest_hooks)
        phases.done("guest hooks")
        if self.bastion:
            from stackproof_lab import bastion as bastionmod
            bastionmod.write_bastion_config(self.state_dir, self.bastion,
                                            shells[self.bastion].pid)
            listeners = bastionmod.start_listeners(shells, site, self.bastion)
            self.say(f"bastion mode: {len(listeners)} hosts reached through {self.bastion} "
                     f"(sshd listening on their lab addresses)")
        self._write_lab_inventory()
        st.set_phase("up")
        for note in st.notes:
            self.say(f"note: {note}")
        self.say(f"{self.lab_id} up in {time.monotonic() - t0:.1f} s; "
                 f"inventory {self.inventory_path}")

    def _run_hooks(self, kind: str, hooks: list[Hook]) -> None:
        for hook in hooks:
            t = time.monotonic()
            label = getattr(hook, "__qualname__", repr(hook))
            self.say(f"{kind} hook {label} ...")
            hook(self, self.site)
            self.say(f"{kind} hook {label} done ({time.monotonic() - t:.1f} s)")

    def _attach_guests(self, shells: dict[str, NsShell]) -> None:
        site = self.site
        by_hv: dict[str, list[str]] = {}
        for name, g in site.guests().items():
            by_hv.setdefault(g.hypervisor, []).append(name)
        # hypervisors in parallel; one hypervisor's guests in turn (one bridge each)
        pool.each(by_hv.values(), lambda names: [self._attach_guest(shells, n) for n in names])

    def _attach_guest(self, shells: dict[str, NsShell], name: str) -> None:
        site = self.site
        g = site.hosts[name]
        nw = site.nat_network(g.hypervisor, g.network)
        hv = shells[g.hypervisor]
        if topology.ensure_nat_bridge(hv, nw.bridge,
                                      f"{nw.gateway}/{nw.cidr.prefixlen}"):
            self.state.note(f"{g.hypervisor}: NAT bridge {nw.bridge} made by the lab core "
                            f"(no daemon hook made it)")
        vnet = topology.attach_guest(hv, shells[name], nw.bridge, g.interface,
                                     f"{g.address}/{nw.cidr.prefixlen}", str(nw.gateway),
                                     g.mac)
        self.say(f"guest {name}: {g.interface} {g.address} on {g.hypervisor}/{nw.bridge} "
                 f"({vnet})")

    def _lab_inventory_data(self) -> dict:
        data = yaml.safe_load(self.source_inventory.read_text())
        # command_timeout: the lab's hosts share this machine's cores with every other lab
        # host, and a real agent's restart (its stop, then its start until it has reached its
        # bus) took over a minute under the test suite's load; sites keep the default 60 s
        ssh = {"user": "root", "ssh_config": str(self.ssh_config),
               "known_hosts": str(self.known_hosts), "identity_file": str(self.identity_file),
               "verify_host_key": True, "command_timeout": LAB_COMMAND_TIMEOUT}
        # production connection details (an Ansible inventory, bastion, port) do not apply
        data.pop("ansible_inventory", None)
        for name, h in data["hosts"].items():
            h["ssh"] = dict(ssh)
            if self.bastion and name != self.bastion:
                from stackproof_lab.bastion import bastion_ssh_config
                h["ssh"].update(bastion=self.bastion,
                                ssh_config=str(bastion_ssh_config(self.state_dir)))
            h["kernel"] = "shared"
            h["init"] = "sysv"
            h["os_family"] = "debian"   # lab hosts run this machine's Debian binaries
        from stackproof_lab.openstack import clouds_yaml_of
        if data.get("openstack") and clouds_yaml_of(self.state_dir):
            data["openstack"]["clouds_yaml"] = clouds_yaml_of(self.state_dir)
        kubeconfig = self.state_dir / "kube" / "kubeconfig"   # the Kubernetes API stand-in's
        if data.get("kubernetes") is not None and kubeconfig.is_file():
            data["kubernetes"]["kubeconfig"] = str(kubeconfig)
        return data

    def _write_lab_inventory(self) -> None:
        data = self._lab_inventory_data()
        header = (f"# Lab inventory written by `stackproof lab up` for lab {self.lab_id}\n"
                  f"# from {self.source_inventory}: same site, ssh goes into the lab.\n")
        tmp = self.inventory_path.with_name(".inventory.yml.tmp")
        tmp.write_text(header + yaml.safe_dump(data, sort_keys=False))
        load_site(tmp)                   # the lab inventory must itself be valid
        os.replace(tmp, self.inventory_path)
        self._write_ansible_inventory(data, header)

    def _write_ansible_inventory(self, data: dict, header: str) -> None:
        ansible = sshmod.ansible_inventory_data(list(data["hosts"]), self.ssh_config,
                                                self.known_hosts, self.identity_file)
        (self.state_dir / "ansible-hosts.yml").write_text(
            header + yaml.safe_dump(ansible, sort_keys=False))
        via = {**data, "ansible_inventory": "ansible-hosts.yml",
               "hosts": {n: {k: v for k, v in h.items() if k != "ssh"}
                         for n, h in data["hosts"].items()}}
        self.ansible_inventory_path.write_text(header + yaml.safe_dump(via, sort_keys=False))

    # --- down --------------------------------------------------------------------------------
    def down(self, keep_files: bool = False) -> None:
        """Kill exactly the recorded processes (start time checked), delete exactly the
        recorded namespaces, then the lab's files. Idempotent; needs only the state file."""
        t0 = time.monotonic()
        self._state = None                 # the file is the record: another process may
        st = self.state                    # have added to it (a fault, a daemon)
        if st is None:
            self.say(f"{self.lab_id}: nothing to take down (no state in {self.state_dir})")
            self._remove_files() if not keep_files else None
            return
        st.set_phase("stopping")
        # processes others recorded (root-side daemons) get a chance to exit cleanly
        others = [p for p in st.processes if not p.role.startswith(("holder:", "init:"))]
        for p in others:
            p.kill_group(signal.SIGTERM)
        try:
            wait_until(lambda: not any(p.alive() or p.members() for p in others), 3,
                       "a clean exit", interval=0.02)
        except WaitTimeout:
            pass                            # SIGKILL below
        for p in st.processes:
            p.kill(signal.SIGKILL)          # a host's init takes its whole PID namespace
        for p in others:
            p.kill_group(signal.SIGKILL)    # workers a root-side daemon forked
        # anything still inside one of our network namespaces is ours too (a crash between
        # starting and recording a process)
        for ns in st.netns:
            for pid in _ns_pids(ns):
                signal_if(pid, signal.SIGKILL, lambda pid=pid, ns=ns: _in_netns(pid, ns))
        existing = _ns_list()

        def busy() -> list:
            for h in self._holders.values():
                h.poll()                   # reap our own children
            return [p for p in st.processes if p.alive()] + \
                [m for p in others for m in p.members()] + \
                [pid for ns in st.netns if ns in existing for pid in _ns_pids(ns)]
        wait_until(lambda: not busy(), STOP_TIMEOUT, "down: every lab process to exit",
                   interval=0.02, error=LabError, describe=lambda: f"still alive: {busy()}")
        for ns in st.netns:
            if ns in existing:
                proc = subprocess.run(["ip", "netns", "delete", ns], capture_output=True,
                                      text=True)
                if proc.returncode != 0 and ns in _ns_list():
                    raise LabError(f"down: ip netns delete {ns}: {proc.stderr.strip()}")
        left_ns = sorted(set(st.netns) & _ns_list())
        left_pids = [p.pid for p in st.processes if p.alive()]
        if left_ns or left_pids:
            raise LabError(f"down: left behind netns {left_ns}, pids {left_pids}")
        self._holders.clear()
        st.set_phase("down")
        if not keep_files:
            self._remove_files()
            self._state = None
        self.say(f"{self.lab_id} down in {time.monotonic() - t0:.1f} s "
                 f"({len(st.netns)} netns, {len(st.processes)} processes recorded)")

    def _remove_files(self) -> None:
        """Delete only what the lab writes; never a directory it did not make."""
        d = self.state_dir
        if not d.is_dir():
            return
        from stackproof_lab.openstack.relay import remove_relay_dir
        remove_relay_dir(d / "openstack")             # its sockets live outside the state dir
        for sub in ("hosts", "ssh", "kube", "openstack"):
            if (d / sub).is_dir():
                shutil.rmtree(d / sub)
        for f in ("inventory.yml", ".inventory.yml.tmp", "state.json", "lived-in.json",
                  "ansible-hosts.yml", "inventory-ansible.yml"):
            (d / f).unlink(missing_ok=True)
        for stray in d.glob(".state.json.*"):
            stray.unlink()
        try:
            d.rmdir()
            if d.parent == DEFAULT_ROOT:
                DEFAULT_ROOT.rmdir()
        except OSError:
            pass                           # not empty: someone else's files, or other labs

    # --- reboot ------------------------------------------------------------------------------
    def reboot(self, host: str):
        """Reboot one host (and a hypervisor's guests): stop, flush, boot from its files
        (stackproof_lab.reboot). Returns a RebootReport."""
        from stackproof_lab import reboot as rebootmod
        self._state = None                 # the file is the record
        if self.site is None:
            self.site = load_site(self.inventory_path)
        return rebootmod.reboot(self, host)

    # --- status ------------------------------------------------------------------------------
    def status(self) -> dict:
        self._state = None                 # always what the state file says now
        st = self.state
        base = {"lab_id": self.lab_id, "state_dir": str(self.state_dir),
                "inventory": str(self.source_inventory)}
        if st is None:
            return {**base, "phase": "absent", "up": False, "hosts": {}}
        existing = _ns_list()
        hosts = {}
        for name, h in st.hosts.items():
            alive = bool(h.init_pid) and proc_start_time(h.init_pid) == h.init_start
            hosts[name] = {"netns": h.netns, "pid": h.init_pid, "alive": alive,
                           "root": h.root, "netns_exists": h.netns in existing}
        expected = len(self.site.hosts) if self.site is not None else len(hosts)
        all_up = (st.phase == "up" and len(hosts) == expected
                  and all(h["alive"] and h["netns_exists"] for h in hosts.values()))
        return {**base, "phase": st.phase, "up": all_up,
                "lab_inventory": str(self.inventory_path), "ssh_config": str(self.ssh_config),
                "hosts": hosts,
                "netns": {ns: ns in existing for ns in st.netns},
                "processes": [{"pid": p.pid, "role": p.role, "alive": p.alive()}
                              for p in st.processes],
                "faults": [{"name": f.name, "host": f.host} for f in st.faults],
                "notes": list(st.notes)}

    # --- context manager ---------------------------------------------------------------------
    def __enter__(self) -> Lab:
        return self.up()

    def __exit__(self, *exc) -> None:
        self.down()

