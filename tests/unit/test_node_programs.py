"""What the lab hosts run is readable inside them wherever the checkout is: a host replaces
/root with its own empty directory, and a checkout under /root (a root user's ~/stackproof)
left Glance, Placement and nova-compute with "can't open file" (stackproof_lab.openstack
.programs). The state dir must then lie outside every directory a host replaces."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from stackproof_lab import hosts
from stackproof_lab.openstack import programs


def test_staging_copies_every_program_byte_for_byte(tmp_path):
    dest = programs.stage(tmp_path / "state" / "openstack" / "programs")
    for name in programs.NODE_PROGRAMS:
        assert (dest / name).read_bytes() == (programs.HERE / name).read_bytes()
    assert sorted(p.name for p in dest.iterdir()) == sorted(programs.NODE_PROGRAMS)
    programs.stage(dest)                                   # again: same files, no temp left
    assert sorted(p.name for p in dest.iterdir()) == sorted(programs.NODE_PROGRAMS)


def test_the_staged_programs_import_only_each_other_from_the_lab():
    """A staged program cannot import stackproof_lab (the checkout may be out of sight):
    only the standard library, the OpenStack venv's packages and its staged neighbours."""
    for name in programs.NODE_PROGRAMS:
        tree = ast.parse((programs.HERE / name).read_text())
        for node in ast.walk(tree):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for mod in mods:
                top = mod.split(".")[0]
                assert top not in ("stackproof", "stackproof_lab"), f"{name} imports {mod}"


def test_source_refuses_a_file_that_is_not_a_node_program():
    with pytest.raises(KeyError):
        programs.source("layout.py")
    assert "def install" in programs.source("sqlite_immediate.py")


@pytest.mark.parametrize("path, hidden", [
    ("/root/stackproof/.lab", "/root"),
    ("/root", "/root"),
    ("/run/stackproof-lab/x", "/run"),
    ("/etc/frr/lab", "/etc/frr"),
    ("/var/lib/nova/state", "/var/lib/nova"),
    ("/var/tmp/stackproof-lab/homelab", None),
    ("/tmp/pytest-of-root/pytest-1/state", None),
    ("/rootless/state", None),
    ("/var/lib/novalike/state", None),
])
def test_a_state_dir_under_a_directory_the_hosts_replace_is_named(path, hidden):
    assert hosts.hidden_in_hosts(Path(path)) == hidden
