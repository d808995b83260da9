"""Root-side OpenStack processes that read nothing of the machine's OpenStack configuration.

oslo.config reads more than the files it is given: `<project>.conf.d` directories under
~/.<project>/, ~/, /etc/<project>/ and /etc/, and it looks up policy and paste files in the
same places; it also takes any option from `OS_<GROUP>__<OPTION>` environment variables.
A leftover /etc/keystone or ~/.config/openstack on the machine would then change the lab,
or the lab would pass only because of it.

So every root-side OpenStack process (the API servers, keystone-manage, the schema builds)
runs through `command()`:
- in a private mount namespace (`unshare --mount --propagation private`) whose /etc is a
  copy-on-write overlay of the machine's, with every /etc entry of an OpenStack project
  removed in it (the machine's /etc is not touched: the removal is a whiteout in the
  overlay's upper directory, under the lab's state dir);
- without the overlay (no overlayfs), existing such directories get an empty tmpfs and
  files /dev/null instead;
- with `env()`: no OS_* variables, HOME and XDG_CONFIG_HOME in an empty lab directory.

Standard library only: templates.py imports it when run by the OpenStack venv's python.
"""
from __future__ import annotations

import os
from pathlib import Path

# Projects whose configuration the lab's processes must never pick up from the machine.
PROJECTS = ("keystone", "nova", "neutron", "glance", "placement", "openstack")
# /etc files any oslo service finds by name in /etc/ (CONF.find_file searches it last)
ETC_FILES = ("policy.yaml", "policy.json", "api-paste.ini")

_SCRIPT = r"""
set -eu
scratch=$1; shift
mkdir -p "$scratch/upper" "$scratch/work"
hide=""
for p in {globs}; do
  if [ -e "$p" ] || [ -L "$p" ]; then hide="$hide $p"; fi
done
if mount -t overlay stackproof-etc -o "lowerdir=/etc,upperdir=$scratch/upper,workdir=$scratch/work" /etc 2>/dev/null; then
  for p in $hide; do rm -rf "$p"; done
else
  for p in $hide; do
    if [ -d "$p" ]; then mount -t tmpfs -o size=1m,mode=755 stackproof-etc "$p"
    else mount --bind /dev/null "$p"; fi
  done
fi
exec "$@"
"""


def glob_list() -> str:
    """The /etc entries to hide, as shell globs (unquoted: the shell expands them)."""
    return _globs()


def _globs() -> str:
    names = [f"/etc/{p}" for p in PROJECTS] + [f"/etc/{p}[._-]*" for p in PROJECTS]
    return " ".join(names + [f"/etc/{f}" for f in ETC_FILES])


def command(argv: list[str], scratch: Path | str) -> list[str]:
    """`argv` wrapped to run in its own mount namespace with the OpenStack parts of /etc
    hidden; `scratch` is a directory of the lab's own (one per process) for the overlay."""
    Path(scratch).mkdir(parents=True, exist_ok=True)
    return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
            _SCRIPT.replace("{globs}", _globs()), "stackproof-hermetic", str(scratch),
            *argv]


def env(home: Path | str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The machine's environment without OS_* (oslo.config and openstacksdk read those) and
    KUBECONFIG, with HOME in an empty lab directory (no ~/.config/openstack, ~/.<project>)."""
    home = Path(home)
    (home / ".config").mkdir(parents=True, exist_ok=True)
    out = {k: v for k, v in os.environ.items()
           if not k.startswith("OS_") and k not in ("KUBECONFIG", "XDG_CONFIG_HOME",
                                                     "XDG_CONFIG_DIRS")}
    out.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               PYTHONWARNINGS="ignore")
    out.update(extra or {})
    return out
