"""A failed command in a lab host is reported without the secrets on its command line: the
lab seeds an operator's BGP password with vtysh, and its error once printed it whole."""
from __future__ import annotations

import os
import shutil

import pytest

from stackproof_lab.shell import LabCommandError, NsShell


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nsenter"),
                    reason="nsenter into namespaces needs root")
def test_a_failed_command_names_itself_but_not_its_password(tmp_path):
    shell = NsShell("h1", os.getpid(), tmp_path)      # our own namespaces stand in for a host
    with pytest.raises(LabCommandError) as err:
        shell.run(["sh", "-c", "echo refused >&2; exit 3", "vtysh", "-c",
                   "neighbor 192.0.2.1 password ops-md5-s3cret"])
    text = str(err.value)
    assert text.startswith("[h1] sh -c") and "-> rc 3: refused" in text
    assert "neighbor 192.0.2.1 password" in text and "s3cret" not in text
