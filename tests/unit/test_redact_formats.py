"""stackproof.redact on the secret formats of issue 8, each in the format its project writes
(ceph CryptoKey base64, castellan `fixed_key` hex, kubeadm's 32-byte hex certificate key,
libvirt graphics `passwd`, FRR `neighbor X password`, coreutils/openssl base64 wrapping),
with the secret generated now, never typed here; and the terminal summary."""
from __future__ import annotations

import base64
import os
import secrets
import shutil
import struct
import subprocess
import time
import types

import pytest

from fakes import TerminalRecorder  # noqa: E402  (tests/unit on the path)
from stackproof.redact import MASK, redact


def _secret_word() -> str:
    return "Pw" + secrets.token_urlsafe(12).replace("-", "x").replace("_", "y")


def _ceph_key() -> str:
    """A ceph secret as `ceph-authtool --gen-print-key` writes it: base64 of CryptoKey::encode
    (u16 type=1 AES, utime_t created {u32 sec, u32 nsec}, u16 len=16, 16 secret bytes)."""
    now = time.time()
    raw = struct.pack("<HIIH", 1, int(now), int(now % 1 * 1e9), 16) + os.urandom(16)
    key = base64.b64encode(raw).decode()
    assert len(key) == 40 and key.startswith("AQ") and key.endswith("==")
    return key


def _assert_idempotent(out: str) -> None:
    assert redact(out) == out


# --- nova / castellan fixed_key --------------------------------------------------------------

def test_nova_fixed_key():
    key = secrets.token_hex(32)          # castellan's ConfKeyManager: a hex-encoded key
    text = ("[key_manager]\nbackend = nova.keymgr.conf_key_mgr.ConfKeyManager\n"
            f"fixed_key = {key}\n[vnc]\nenabled = true\n")
    out = redact(text)
    assert key not in out
    assert f"fixed_key = {MASK}" in out.splitlines()
    assert "backend = nova.keymgr.conf_key_mgr.ConfKeyManager" in out
    _assert_idempotent(out)


# --- ceph ----------------------------------------------------------------------------------

def test_ceph_keyring_auth_list_and_libvirt_secret():
    k1, k2, k3 = _ceph_key(), _ceph_key(), _ceph_key()
    uuid = "457eb676-33da-42ec-9a8c-9293d545c337"
    text = (
        "[client.admin]\n\tkey = " + k1 + "\n\tcaps mds = \"allow *\"\n\tcaps mon = \"allow *\"\n"
        "# ceph auth list\nclient.cinder\n\tkey: " + k2 + "\n\tcaps: [mon] allow r\n"
        f"virsh secret-set-value --secret {uuid} --base64 {k3}\n"
        "ceph auth get-key client.cinder | tee client.cinder.key\n" + k2)
    out = redact(text)
    for k in (k1, k2, k3):
        assert k not in out
    lines = out.splitlines()
    assert f"\tkey = {MASK}" in lines and f"\tkey: {MASK}" in lines
    # (virsh's `--secret <uuid>` is masked too: a flag named secret is never printed)
    assert any(l.startswith("virsh secret-set-value") and l.endswith(f"--base64 {MASK}")
               for l in lines)
    assert '\tcaps mon = "allow *"' in lines and lines[-1] == MASK
    _assert_idempotent(out)


# --- kubeadm certificate key -------------------------------------------------------------------

def test_kubeadm_certificate_key_everywhere():
    key = secrets.token_hex(32)      # kubeadm CreateCertificateKey: 32 random bytes, hex
    text = (
        "[upload-certs] Storing the certificates in Secret \"kubeadm-certs\"\n"
        "[upload-certs] Using certificate key:\n" + key + "\n"
        "  kubeadm join 172.20.112.101:6443 --token abcdef.0123456789abcdef \\\n"
        "\t--control-plane --certificate-key " + key + "\n"
        "kubeadm join phase control-plane-prepare download-certs --certificate-key=" + key + "\n"
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\n"
        f"certificateKey: \"{key}\"\n---\nkind: JoinConfiguration\ncontrolPlane:\n"
        f"  certificateKey: {key}\n  localAPIEndpoint:\n    bindPort: 6443\n")
    out = redact(text)
    assert key not in out
    lines = out.splitlines()
    assert "[upload-certs] Using certificate key:" in lines and MASK in lines
    assert f"\t--control-plane --certificate-key {MASK}" in lines
    assert f'certificateKey: "{MASK}"' in lines and f"  certificateKey: {MASK}" in lines
    assert "    bindPort: 6443" in lines and "controlPlane:" in lines
    _assert_idempotent(out)


# --- YAML values on the next line / in block scalars -----------------------------------------

def test_yaml_secret_on_next_line_and_in_block_scalars():
    a, b, c, d = (_secret_word() for _ in range(4))
    text = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n"
        f"  password: |\n    {a}\n    {b}\n  username: admin\n"
        f"  db_password: >-\n    {c}\n\n  host: db.local\n"
        f"auth:\n  token:\n    {d}\n  user: ops\n")
    out = redact(text)
    for s in (a, b, c, d):
        assert s not in out
    lines = out.splitlines()
    assert lines[lines.index("  password: |") + 1] == f"    {MASK}"
    assert "  db_password: >-" in lines
    assert "  username: admin" in lines and "  host: db.local" in lines
    assert "  user: ops" in lines and "  token:" in lines
    assert len(lines) == len(text.splitlines())
    _assert_idempotent(out)


def test_yaml_nested_mapping_under_a_secret_key_is_structure():
    text = "discovery:\n  bootstrapToken:\n    apiServerEndpoint: 10.0.0.1:6443\n"
    assert redact(text) == text


# --- libvirt XML -------------------------------------------------------------------------

def test_libvirt_xml_passwords():
    a, b, c = (_secret_word() for _ in range(3))
    text = (
        "<domain type='kvm'>\n  <devices>\n"
        f"    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1' passwd='{a}'>\n"
        "      <listen type='address' address='127.0.0.1'/>\n    </graphics>\n"
        f"    <graphics type=\"spice\" autoport=\"yes\" passwd=\"{b}\" keymap=\"en-us\"/>\n"
        "  </devices>\n</domain>\n"
        f"<auth><username>nova</username><password>{c}</password></auth>\n")
    out = redact(text)
    for s in (a, b, c):
        assert s not in out
    assert f"passwd='{MASK}'>" in out and f'passwd="{MASK}" keymap="en-us"/>' in out
    assert f"<password>{MASK}</password>" in out and "<username>nova</username>" in out
    assert "<listen type='address' address='127.0.0.1'/>" in out
    _assert_idempotent(out)


# --- command lines -----------------------------------------------------------------------------

def test_mysql_and_sshpass_passwords():
    a, b, c, d = (_secret_word() for _ in range(4))
    text = (
        f"mysql -u root -p{a} nova -e 'select host from services'\n"
        f"/usr/bin/mysqldump -uroot -p'{b}' --all-databases > all.sql\n"
        f"sshpass -p {c} ssh -p 2222 root@10.10.10.1 uptime\n"
        f"sshpass -f /root/.pw -e -p{d} scp a b\n"
        "mysql -h db -P 3306 -p nova\n"
        "sshpass -f /root/.pw ssh -p 2222 root@10.10.10.1\n"
        "rsync -av /var/lib/mysql -p /backup\n")
    out = redact(text)
    for s in (a, b, c, d):
        assert s not in out
    lines = out.splitlines()
    assert lines[0] == f"mysql -u root -p{MASK} nova -e 'select host from services'"
    assert lines[1] == f"/usr/bin/mysqldump -uroot -p'{MASK}' --all-databases > all.sql"
    assert lines[2] == f"sshpass -p {MASK} ssh -p 2222 root@10.10.10.1 uptime"
    assert lines[3] == f"sshpass -f /root/.pw -e -p{MASK} scp a b"
    assert lines[4:] == text.splitlines()[4:]       # a port, a prompt, another tool's -p
    _assert_idempotent(out)


# --- bootstrap tokens ------------------------------------------------------------------

@pytest.mark.parametrize("after", [".", ",", ";", ")", "'", "-", ".\n", ":"])
def test_bootstrap_token_followed_by_punctuation(after):
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    tid = "".join(secrets.choice(alphabet) for _ in range(6))
    sec = "".join(secrets.choice(alphabet) for _ in range(16))
    out = redact(f"join with (token {tid}.{sec}{after} then wait")
    assert sec not in out and f"{tid}.{MASK}{after}" in out


def test_bootstrap_shape_inside_a_hostname_is_kept():
    text = "node1a.0123456789abcdef.example.org"
    assert redact(text) == text


# --- base64 private keys wrapped over lines ---------------------------------------------------

@pytest.fixture(scope="module")
def keypair(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("needs openssl")
    d = tmp_path_factory.mktemp("b64")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                    "/CN=lab", "-days", "1", "-keyout", str(d / "k.pem"), "-out",
                    str(d / "c.pem")], check=True, capture_output=True, timeout=60)
    return d / "k.pem", d / "c.pem"


@pytest.mark.parametrize("tool", [["base64"], ["openssl", "base64", "-in"]])
def test_wrapped_base64_private_key(keypair, tool):
    key, cert = keypair
    if not shutil.which(tool[0]):
        pytest.skip(f"needs {tool[0]}")
    blob = subprocess.run([*tool, str(key)], check=True, capture_output=True, text=True,
                          timeout=30).stdout
    assert len(blob.splitlines()) > 10          # really wrapped
    cert_blob = subprocess.run([*tool, str(cert)], check=True, capture_output=True,
                               text=True, timeout=30).stdout
    text = f"$ {' '.join(tool)} k.pem\n{blob}$ {' '.join(tool)} c.pem\n{cert_blob}done\n"
    out = redact(text)
    for line in blob.splitlines():
        assert line not in out
    assert out.startswith(f"$ {' '.join(tool)} k.pem\n{MASK}\n$ ")
    assert cert_blob in out and out.endswith("done\n")     # certificates are public
    _assert_idempotent(out)


# --- FRR -------------------------------------------------------------------------------

def test_frr_neighbor_password():
    pw = _secret_word()
    text = ("router bgp 65000\n neighbor fabric peer-group\n neighbor fabric remote-as 65000\n"
            f" neighbor fabric password {pw}\n neighbor 10.10.10.2 password {pw}\n"
            " neighbor 10.10.10.2 peer-group fabric\n")
    out = redact(text)
    assert pw not in out
    lines = out.splitlines()
    assert f" neighbor fabric password {MASK}" in lines
    assert f" neighbor 10.10.10.2 password {MASK}" in lines
    assert " neighbor 10.10.10.2 peer-group fabric" in lines
    _assert_idempotent(out)


# --- the terminal summary ----------------------------------------------------------------------

def test_terminal_summary_redacts_every_line(inventory):
    _, site = inventory
    from stackproof import plugin
    from stackproof.remedy import Finding, Outcome, Plan, Remedy, Run
    from stackproof.remote import Fleet
    host = next(iter(site.hosts))
    fleet = Fleet(site)
    fleet[host]                  # listed in the per-host counts (no connection is made)
    remedy = Remedy(site, fleet, {}, remediate=True, plan_only=False, allow_destructive=False)
    pw, key = _secret_word(), _ceph_key()
    finding = Finding("nova_transport_url", host, "wrong url")
    plan = Plan("nova_transport_url", "set the url", (
        Run(host, f"crudini --set nova.conf DEFAULT transport_url rabbit://u:{pw}@c:5672/",
            "the broker"),))
    remedy.outcomes += [
        Outcome(finding, None, "failed", f"restart failed: mysql -uroot -p{pw} said no\n"
                                         f"key = {key}"),
        Outcome(finding, plan, "planned", f"would set transport_url=rabbit://u:{pw}@c/")]
    config = types.SimpleNamespace(stash=pytest.Stash())
    config.stash[plugin.REMEDY_KEY] = remedy
    config.stash[plugin.STARTED_KEY] = time.monotonic()
    tr = TerminalRecorder()
    plugin.pytest_terminal_summary(tr, config)
    printed = "\n".join(tr.lines)
    assert pw not in printed and key not in printed
    assert "== stackproof remediations" in tr.lines
    assert any(l.startswith("FAILED") and f"-p{MASK}" in l for l in tr.lines)
    assert any(l == f"key = {MASK}" for l in tr.lines)          # the detail's second line
    assert any(f"rabbit://u:{MASK}@c:5672/" in l for l in tr.lines)   # the plan
    assert any(l.startswith(host) for l in tr.lines)
