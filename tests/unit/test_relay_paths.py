"""Relay sockets (stackproof_lab.openstack.relay) fit a unix socket's path limit wherever the
lab's state dir is: make test's pytest basetemp made them 121 bytes, and socat never listened."""
from __future__ import annotations

from stackproof_lab.openstack import relay


def test_a_deep_state_dir_still_gets_socket_paths_that_fit(tmp_path):
    root = tmp_path.joinpath(*["a-rather-long-directory-name"] * 6, "state", "openstack")
    root.mkdir(parents=True)
    sock = relay.out_socket(root, "h" * 63, 65535)      # the longest host name DNS allows
    assert len(str(sock).encode()) <= relay.SUN_PATH_MAX
    assert sock.parent.is_dir() and (root / "relay").resolve() == sock.parent
    assert relay.api_socket(root, 9696).parent == sock.parent
    other = tmp_path / "other" / "openstack"
    other.mkdir(parents=True)
    assert relay.relay_dir(other) != sock.parent        # one directory per lab
    relay.remove_relay_dir(root)
    relay.remove_relay_dir(other)
    assert not sock.parent.exists() and not (root / "relay").exists()
    relay.remove_relay_dir(root)                         # idempotent
