"""One lab host: a network namespace plus a holder process with its own mount, UTS and PID
namespaces, whose init bind-mounts the host's private directories over the system paths.

Layout of a host's private directory (`root`, on the root side):

    root/etc/frr, root/etc/ssh, root/run/libvirt, root/var/lib/nova, root/root, ...
        bind-mounted inside the host at the same path without the `root` prefix, so
        `shell.root / "etc/frr/frr.conf"` is the host's /etc/frr/frr.conf;
    root/.overlay/<tree>/{upper,work}
        copy-on-write layers over the machine's /etc, /var/lib, /var/log, /srv, /opt: any
        other write under those trees (a remediation editing /etc/fstab with `sed -i`,
        creating /srv/nova/instances, saving /etc/sysconfig/iptables) stays in the host;
    root/.lab/{init.sh,init.log,ready,hostname,hosts,fstab,resolv.conf}
        the init script, its log, its readiness marker and the files it installs.

/etc/hostname, /etc/hosts, /etc/fstab and /etc/resolv.conf are installed by copying into the
/etc overlay, not by bind-mounting single files: a file bind mount cannot be replaced by
rename, which is how `sed -i` and every atomic writer edit files (EBUSY). Without overlayfs
(not the case on this machine) the lab falls back to file bind mounts and notes it.
"""
from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from stackproof_lab.shell import NsShell
from stackproof_lab.state import HostRecord, LabState
from stackproof_lab.wait import wait_until
from stackproof.site import Site


class HostError(RuntimeError):
    pass


# Trees made copy-on-write per host (when the machine has them and overlayfs works).
# /var/backups: the suite keeps its per-run backups there, per host
OVERLAY_TREES = ("/etc", "/var/lib", "/var/log", "/var/backups", "/srv", "/opt")


@dataclass(frozen=True)
class Bind:
    target: str                        # path inside the host
    seed: str = "empty"                # "empty" | "copy" (machine's tree) | "dirs" (its dirs only)
    owner: str | None = None           # "user:group" for the directory itself
    mode: int = 0o755
    under_run: bool = False            # lives in the host's /run tmpfs


BINDS: tuple[Bind, ...] = (
    Bind("/etc/frr", "copy", "frr:frr", 0o750),
    Bind("/var/log/frr", "empty", "frr:frr", 0o750),
    Bind("/etc/ssh", "empty", None, 0o755),           # moduli + our own keys, never the machine's
    Bind("/root", "empty", None, 0o700),
    Bind("/etc/chrony", "copy"),
    Bind("/var/lib/chrony", "empty", "_chrony:_chrony", 0o750),
    Bind("/etc/default", "copy"),
    Bind("/etc/openvswitch", "empty"),
    Bind("/var/lib/openvswitch", "empty"),
    Bind("/run/openvswitch", "empty", under_run=True),
    Bind("/etc/libvirt", "copy"),
    Bind("/var/lib/libvirt", "dirs"),
    Bind("/run/libvirt", "empty", under_run=True),
    Bind("/var/log/libvirt", "dirs"),
    Bind("/var/cache/libvirt", "dirs"),
    Bind("/etc/neutron", "empty"),
    Bind("/etc/nova", "empty"),
    Bind("/var/lib/nova", "empty"),
    Bind("/etc/systemd/system", "copy"),
    Bind("/etc/kubernetes", "empty"),
    Bind("/etc/sysconfig", "empty"),
)

# Directories created in the host's /run tmpfs (owner, mode): what the daemons expect.
RUN_DIRS = (("/run/sshd", None, 0o755), ("/run/lock", None, 0o1777),
            ("/run/frr", "frr:frr", 0o755), ("/run/chrony", "_chrony:_chrony", 0o750))

# Files the lab writes into each host's /etc.
ETC_FILES = ("hostname", "hosts", "fstab", "resolv.conf", "default/chrony")

# chronyd in a lab host must never steer the machine's clock: every way of starting it
# (init script, `service chrony restart` from a remediation) reads DAEMON_OPTS from here.
CHRONY_DEFAULTS = 'DAEMON_OPTS="-x"\n'


# Files from the machine copied into a host's private /etc/ssh (never the machine's keys).
SSH_SEED = ("moduli", "ssh_config")


def overlay_supported() -> bool:
    try:
        return any(line.split()[-1] == "overlay"
                   for line in Path("/proc/filesystems").read_text().splitlines())
    except OSError:
        return False


def overlay_trees(state_dir: Path) -> list[str]:
    """Trees to overlay: those the machine has, minus any holding the state dir (overlayfs
    refuses an upper directory inside its own lower tree)."""
    if not overlay_supported():
        return []
    state = str(state_dir.resolve())
    if any(c in state for c in ",:\n"):
        raise HostError(f"state dir {state}: ',' and ':' cannot appear in overlayfs options")
    return [t for t in OVERLAY_TREES if Path(t).is_dir()
            and not (state == t or state.startswith(t + "/"))]


def _chown(path: Path, owner: str | None) -> None:
    if owner:
        user, _, group = owner.partition(":")
        shutil.chown(path, user, group or None)


def _copy_tree(src: Path, dst: Path, dirs_only: bool = False) -> None:
    """Copy a tree keeping modes, owners and symlinks (what `cp -a` does), optionally dirs only."""
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copystat(src, dst)
    st = src.lstat()
    os.chown(dst, st.st_uid, st.st_gid)
    for entry in os.scandir(src):
        s, d = Path(entry.path), dst / entry.name
        if entry.is_symlink():
            if not dirs_only:
                os.symlink(os.readlink(s), d)
                os.lchown(d, entry.stat(follow_symlinks=False).st_uid,
                          entry.stat(follow_symlinks=False).st_gid)
        elif entry.is_dir():
            _copy_tree(s, d, dirs_only)
        elif entry.is_file() and not dirs_only:
            shutil.copy2(s, d)
            est = entry.stat()
            os.chown(d, est.st_uid, est.st_gid)


def fstab_text(lab_id: str, name: str) -> str:
    """What a freshly installed host has: one root file system line, no swap."""
    digest = hashlib.sha1(f"{lab_id}/{name}".encode()).hexdigest()
    uuid = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
    return ("# /etc/fstab: static file system information.\n"
            "# <file system> <mount point> <type> <options> <dump> <pass>\n"
            f"UUID={uuid} / ext4 defaults 0 1\n")


def hosts_text(site: Site) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{site.address_of(n)}\t{n}" for n in site.hosts]
    return "\n".join(lines) + "\n"


RESOLV_CONF = """\
# stackproof lab host: no DNS in the lab (the machine's resolver is outside it); names of the
# inventory come from /etc/hosts. Without a nameserver line the resolver asks 127.0.0.1,
# which refuses at once instead of timing out.
options timeout:1 attempts:1
"""


def prepare(site: Site, lab_id: str, name: str, root: Path, trees: list[str]) -> list[str]:
    """Create and seed the host's private directory and write its init script.

    Returns notes about bind targets that had to be skipped.
    """
    notes: list[str] = []
    lab = root / ".lab"
    lab.mkdir(parents=True, exist_ok=True)
    (lab / "ready").unlink(missing_ok=True)
    for b in BINDS:
        src = root / b.target.lstrip("/")
        machine = Path(b.target)
        if b.seed == "copy" and machine.is_dir():
            _copy_tree(machine, src)
        elif b.seed == "dirs" and machine.is_dir():
            _copy_tree(machine, src, dirs_only=True)
        else:
            src.mkdir(parents=True, exist_ok=True)
        if b.seed == "empty" or not machine.is_dir():
            os.chmod(src, b.mode)
            _chown(src, b.owner)
    etc_ssh = root / "etc/ssh"
    for f in SSH_SEED:
        if (Path("/etc/ssh") / f).is_file():
            shutil.copy2(Path("/etc/ssh") / f, etc_ssh / f)
    (lab / "hostname").write_text(name + "\n")
    (lab / "hosts").write_text(hosts_text(site))
    (lab / "fstab").write_text(fstab_text(lab_id, name))
    (lab / "resolv.conf").write_text(RESOLV_CONF)
    (lab / "default").mkdir(exist_ok=True)
    (lab / "default" / "chrony").write_text(CHRONY_DEFAULTS)
    script, skipped = init_script(name, root, trees)
    for target in skipped:
        notes.append(f"{name}: {target} not made private: the machine has no {target} and "
                     f"its parent is not copy-on-write in the lab (no overlayfs)")
    (lab / "init.sh").write_text(script)
    return notes


def hidden_in_hosts(path: Path) -> str | None:
    """The directory that every lab host replaces with its own (its /run tmpfs or one of
    BINDS) and under which `path` lies, or None. The hosts read their configs and the lab's
    programs from the state dir, so the state dir must not lie under one."""
    resolved = path.resolve()
    for target in ("/run", *(b.target for b in BINDS)):
        if resolved == Path(target) or Path(target) in resolved.parents:
            return target
    return None


def state_dir_problem(path: Path) -> str | None:
    """Why the lab cannot keep its state in `path`, or None."""
    hidden = hidden_in_hosts(path)
    if hidden is None:
        return None
    return (f"state dir {path} lies under {hidden}, which every lab host replaces with its "
            f"own directory: the hosts could not read their files there; give another "
            f"--state-dir (the default is under /var/tmp/stackproof-lab)")


def _creatable(target: str, trees: list[str], under_run: bool) -> bool:
    """A mount point can be made without touching the machine: it exists already, or it
    lives in the host's /run tmpfs or in one of its copy-on-write trees."""
    if under_run or Path(target).is_dir():
        return True
    return any(target.startswith(t + "/") for t in trees)


def init_script(name: str, root: Path, trees: list[str],
                seed_etc: bool = True) -> tuple[str, list[str]]:
    """The host's init (PID 1 of its PID namespace) as a /bin/sh script, and the skipped
    bind targets. seed_etc=False (a reboot, stackproof_lab.reboot): the /etc files and the
    hostname stay as the host left them; its boot sets the hostname from /etc/hostname."""
    q = shlex.quote
    lab = root / ".lab"
    lines = ["set -eu", "exec >>" + q(str(lab / "init.log")) + " 2>&1",
             "echo \"init $$ starting\"",
             # nsfs mounts of the machine's /run/netns copied into this mount namespace
             # would keep other labs' network namespaces alive: drop them
             "umount -R -l /run/netns 2>/dev/null || true"]
    for t in trees:
        ov = root / ".overlay" / t.strip("/").replace("/", "_")
        up, work = ov / "upper", ov / "work"
        lines.append(f"mkdir -p {q(str(up))} {q(str(work))}")
        lines.append(f"mount -t overlay overlay -o "
                     f"{q(f'lowerdir={t},upperdir={up},workdir={work}')} {q(t)}")
    lines.append("mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run")
    for path, owner, mode in RUN_DIRS:
        lines.append(f"mkdir -p {q(path)} && chmod {mode:o} {q(path)}")
        if owner:
            lines.append(f"chown {q(owner)} {q(path)}")
    skipped = []
    for b in BINDS:
        if not _creatable(b.target, trees, b.under_run):
            skipped.append(b.target)
            continue
        src = root / b.target.lstrip("/")
        lines.append(f"mkdir -p {q(b.target)}")
        lines.append(f"mount --bind {q(str(src))} {q(b.target)}")
    if "/etc" in trees and not seed_etc:
        pass                           # a reboot: the host's /etc is its disk, kept
    elif "/etc" in trees:
        # files into the /etc overlay: replaceable by rename, private to this host
        for f in ETC_FILES:
            # rm first: /etc/resolv.conf may be a symlink into the machine's /run
            lines.append(f"rm -f /etc/{f} && cp {q(str(lab / f))} /etc/{f}")
    else:
        for f in ETC_FILES:
            lines.append(f"mount --bind {q(str(lab / f))} /etc/{f}")
    lines += [f"hostname {q(name)}"] if seed_etc else []
    lines += ["ip link set lo up",
              f"touch {q(str(lab / 'ready'))}",
              "echo \"init $$ ready\"",
              # PID 1 of the namespace: `wait` also reaps daemons orphaned to us
              "trap 'exit 0' TERM INT",
              "while :; do sleep 3600 & wait $! || true; done"]
    return "\n".join(lines) + "\n", skipped


def launch(state: LabState, name: str, netns: str, root: Path) -> subprocess.Popen:
    """Create the network namespace and start the host's holder process (not waiting)."""
    state.add_netns(netns)
    state.add_host(HostRecord(name=name, netns=netns, root=str(root)))
    proc = subprocess.run(["ip", "netns", "add", netns], capture_output=True, text=True)
    if proc.returncode != 0:
        raise HostError(f"{name}: ip netns add {netns}: {proc.stderr.strip()}")
    log = open(root / ".lab" / "holder.log", "ab")
    try:
        holder = subprocess.Popen(
            ["ip", "netns", "exec", netns, "unshare", "--mount", "--uts", "--pid", "--fork",
             "--mount-proc", "--propagation", "private", "--", "/bin/sh",
             str(root / ".lab" / "init.sh")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd="/",
            start_new_session=True)    # the host outlives a Ctrl-C or the CLI's exit
    finally:
        log.close()
    state.add_process(holder.pid, f"holder:{name}")
    state.update_host(name, holder_pid=holder.pid)
    return holder


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def wait_ready(state: LabState, name: str, holder: subprocess.Popen,
               deadline: float) -> NsShell:
    """Find the host's init (unshare's forked child) and wait for its readiness marker."""
    rec = state.hosts[name]
    root = Path(rec.root)
    ready = root / ".lab" / "ready"
    init_pid: list[int] = []

    def up() -> NsShell | None:
        if not init_pid:
            kids = _children(holder.pid)
            if kids:
                init_pid.append(kids[0])
                pr = state.add_process(kids[0], f"init:{name}")
                if pr is not None:
                    state.update_host(name, init_pid=kids[0], init_start=pr.start)
        if ready.exists():
            if not init_pid:          # cannot be: init writes the marker
                raise HostError(f"{name}: ready but no init process found")
            return NsShell(name=name, pid=init_pid[0], root=root)
        if holder.poll() is not None:
            raise HostError(f"{name}: init exited (rc {holder.returncode}): "
                            f"{_tail(root / '.lab' / 'init.log')}")
        return None
    return wait_until(up, max(0.0, deadline - time.monotonic()), f"{name} to be ready",
                      interval=0.005, error=HostError,
                      describe=lambda: f"init {'found' if init_pid else 'not started'}; "
                                       f"{_tail(root / '.lab' / 'init.log')}")


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text().strip().splitlines()[-lines:]) or "(empty log)"
    except OSError:
        return "(no log)"


def create(state: LabState, site: Site, name: str, netns: str, root: Path,
           trees: list[str] | None = None, timeout: float = 30.0) -> NsShell:
    """Create one host start to finish (the Lab launches many, then waits for all)."""
    trees = overlay_trees(Path(state.state_dir)) if trees is None else trees
    for note in prepare(site, state.lab_id, name, root, trees):
        state.note(note)
    holder = launch(state, name, netns, root)
    return wait_ready(state, name, holder, time.monotonic() + timeout)


def shell_for(rec: HostRecord) -> NsShell:
    if rec.init_pid is None:
        raise HostError(f"{rec.name}: host has no init process recorded")
    return NsShell(name=rec.name, pid=rec.init_pid, root=Path(rec.root))
