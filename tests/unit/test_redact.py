"""stackproof.redact: the field report's real secrets, generated keys and tokens, no false
positives on real lab output, idempotence, and log records through pytest's caplog."""
from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from stackproof.redact import (MASK, RedactingFilter, install_log_redaction, is_secret_key,
                               redact, redact_obj)

WRITEUP = Path("/work/shared/seed/scale-out-writeup.ko.txt")
DATA = Path(__file__).resolve().parents[1] / "data" / "redact"


# --- the field report ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def writeup() -> str:
    if not WRITEUP.exists():
        pytest.skip(f"{WRITEUP} not present")
    return WRITEUP.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def report_secrets(writeup):
    """The write-up's secrets, read from its own text (never retyped here)."""
    url_line = next(l for l in writeup.splitlines() if l.startswith("transport_url"))
    url = url_line.split("=", 1)[1].strip()
    rabbit_password = urlsplit(url).password
    join_line = next(l for l in writeup.splitlines() if l.startswith("kubeadm join"))
    token = re.search(r"--token\s+(\S+)", join_line).group(1)
    ca_hash = re.search(r"sha256:([0-9a-f]{64})", join_line).group(1)
    assert rabbit_password and token and ca_hash
    return {"url_line": url_line, "join_line": join_line, "rabbit_password": rabbit_password,
            "token": token, "ca_hash": ca_hash}


def test_report_secrets_are_gone(writeup, report_secrets):
    out = redact(writeup)
    for key in ("rabbit_password", "token", "ca_hash"):
        assert report_secrets[key] not in out, key
    # the token's 16-char secret half must not survive in any form either
    assert report_secrets["token"].split(".")[1] not in out


def test_report_secret_lines_stay_readable(writeup, report_secrets):
    out = redact(writeup).splitlines()
    s = report_secrets
    assert s["url_line"].replace(s["rabbit_password"], MASK) in out
    assert (s["join_line"].replace(s["token"], MASK).replace(s["ca_hash"], MASK)) in out


def test_report_changes_only_secret_lines(writeup, report_secrets):
    """900 lines of real ovs-vsctl/kubectl/ip/journal output: only the secret lines move."""
    before, after = writeup.splitlines(), redact(writeup).splitlines()
    assert len(before) == len(after)
    changed = {b for b, a in zip(before, after) if b != a}
    expected = {s for s in before
                if report_secrets["url_line"] == s or report_secrets["join_line"] == s
                or re.match(r"^\s*token:\s*\S", s)}
    assert changed == expected
    assert len(changed) == 3


def test_report_is_idempotent(writeup):
    once = redact(writeup)
    assert redact(once) == once


# --- generated private keys -------------------------------------------------------------

def _run(*cmd: str, cwd: Path | None = None, stdin: str | None = None) -> str:
    return subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True, text=True,
                          check=True, timeout=60).stdout


@pytest.fixture(scope="module")
def pem_keys(tmp_path_factory) -> dict[str, str]:
    """Private keys of every PEM flavour, generated now with ssh-keygen and openssl."""
    if not (shutil.which("ssh-keygen") and shutil.which("openssl")):
        pytest.skip("needs ssh-keygen and openssl")
    d = tmp_path_factory.mktemp("keys")
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lab", "-f", str(d / "id_ed25519"))
    _run("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
         "-out", str(d / "pkcs8.pem"))
    _run("openssl", "genrsa", "-traditional", "-out", str(d / "rsa.pem"), "2048")
    _run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout",
         "-out", str(d / "ec.pem"))
    _run("openssl", "genpkey", "-algorithm", "RSA", "-aes256", "-pass", "pass:lab",
         "-out", str(d / "enc.pem"))
    keys = {p.name: p.read_text() for p in sorted(d.iterdir()) if not p.name.endswith(".pub")}
    kinds = {re.search(r"-----BEGIN ([A-Z ]+)-----", k).group(1) for k in keys.values()}
    assert kinds == {"OPENSSH PRIVATE KEY", "PRIVATE KEY", "RSA PRIVATE KEY",
                     "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"}
    return keys


def _body_lines(pem: str) -> list[str]:
    return [l for l in pem.strip().splitlines() if not l.startswith("-----")]


def test_pem_private_keys_masked_and_framed(pem_keys):
    for name, pem in pem_keys.items():
        text = f"cat /root/.ssh/{name}\n{pem}[root@controller ~]# echo done\n"
        out = redact(text)
        for line in _body_lines(pem):
            assert line not in out, name
        begin, end = pem.strip().splitlines()[0], pem.strip().splitlines()[-1]
        assert f"{begin}\n{MASK}\n{end}" in out, name
        assert out.startswith(f"cat /root/.ssh/{name}\n")
        assert out.endswith("[root@controller ~]# echo done\n")
        assert redact(out) == out


def test_pem_inside_json_keeps_json_valid(pem_keys):
    pem = pem_keys["rsa.pem"]
    doc = json.dumps({"name": "lab", "private_pem": pem, "note": "kept"})
    out = redact(doc)
    parsed = json.loads(out)
    assert parsed["note"] == "kept" and parsed["name"] == "lab"
    assert all(line not in out for line in _body_lines(pem))
    assert "-----BEGIN RSA PRIVATE KEY-----" in parsed["private_pem"]


def test_truncated_pem_is_masked_to_the_end(pem_keys):
    pem = pem_keys["pkcs8.pem"]
    cut = pem[: len(pem) // 2]
    out = redact("head -c 900 key.pem\n" + cut)
    assert all(line not in out for line in _body_lines(cut)[1:])
    assert out.startswith("head -c 900 key.pem\n-----BEGIN PRIVATE KEY-----")


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    """A CA made now (as kubeadm does): cert PEM, key PEM, and kubeadm's CA cert hash."""
    if not shutil.which("openssl"):
        pytest.skip("needs openssl")
    d = tmp_path_factory.mktemp("ca")
    _run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=kubernetes",
         "-days", "1", "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"))
    # the hash kubeadm prints: sha256 of the DER SubjectPublicKeyInfo
    der = subprocess.run(["openssl", "x509", "-in", str(d / "ca.crt"), "-pubkey", "-noout"],
                         capture_output=True, check=True).stdout
    spki = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=der,
                          capture_output=True, check=True).stdout
    digest = subprocess.run(["openssl", "dgst", "-sha256", "-r"], input=spki,
                            capture_output=True, check=True, text=False).stdout.split()[0]
    return {"crt": (d / "ca.crt").read_text(), "key": (d / "ca.key").read_text(),
            "hash": digest.decode()}


def test_kubeconfig_client_key_data_masked_certificate_kept(ca):
    key_b64 = base64.b64encode(ca["key"].encode()).decode()
    crt_b64 = base64.b64encode(ca["crt"].encode()).decode()
    sa_token = _jwt()
    kubeconfig = (
        "apiVersion: v1\nclusters:\n- cluster:\n"
        f"    certificate-authority-data: {crt_b64}\n"
        "    server: https://172.20.112.101:6443\n  name: kubernetes\n"
        "users:\n- name: kubernetes-admin\n  user:\n"
        f"    client-certificate-data: {crt_b64}\n    client-key-data: {key_b64}\n"
        f"- name: ci\n  user:\n    token: {sa_token}\n"
    )
    out = redact(kubeconfig)
    assert key_b64 not in out and key_b64[40:80] not in out
    assert sa_token not in out and sa_token.split(".")[2] not in out
    assert f"certificate-authority-data: {crt_b64}" in out
    assert f"client-certificate-data: {crt_b64}" in out
    assert "    client-key-data: ***\n" in out
    assert "    token: ***\n" in out
    assert "server: https://172.20.112.101:6443" in out
    # the same key, base64 inside a JSON Secret without a telling key name
    secret = json.dumps({"kind": "Secret", "data": {"x": key_b64, "ca.crt": crt_b64}})
    out = json.loads(redact(secret))
    assert out["data"] == {"x": MASK, "ca.crt": crt_b64}


def _jwt() -> str:
    enc = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
    return ".".join([enc(b'{"alg":"RS256","kid":"x"}'),
                     enc(json.dumps({"sub": "system:serviceaccount:kube-system:ci",
                                     "n": secrets.token_hex(8)}).encode()),
                     enc(secrets.token_bytes(64))])


# --- kubeadm ------------------------------------------------------------------------------

def _bootstrap_token() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    pick = lambda n: "".join(secrets.choice(alphabet) for _ in range(n))  # noqa: E731
    return f"{pick(6)}.{pick(16)}"


def test_kubeadm_join_command_and_config(ca):
    token, ca_hash = _bootstrap_token(), ca["hash"]
    token_id, token_secret = token.split(".")
    text = (
        "[root@master ~]# kubeadm token create --print-join-command\n"
        f"kubeadm join 172.20.112.101:6443 --token {token} "
        f"--discovery-token-ca-cert-hash sha256:{ca_hash}\n"
        "[root@master ~]# kubeadm token list\n"
        "TOKEN                     TTL         EXPIRES                USAGES\n"
        f"{token}   23h         2025-08-14T03:36:10Z   authentication,signing\n"
        "discovery:\n  bootstrapToken:\n    apiServerEndpoint: \"172.20.112.101:6443\"\n"
        f"    token: \"{token}\"\n    caCertHashes:\n    - \"sha256:{ca_hash}\"\n"
        f"kubeadm join 172.20.112.101:6443 --token={token} --discovery-token-ca-cert-hash="
        f"sha256:{ca_hash.upper()}\n"
    )
    out = redact(text)
    assert token_secret not in out and ca_hash not in out and ca_hash.upper() not in out
    lines = out.splitlines()
    assert lines[1] == ("kubeadm join 172.20.112.101:6443 --token *** "
                        "--discovery-token-ca-cert-hash sha256:***")
    assert lines[4].startswith(f"{token_id}.*** ") and "authentication,signing" in lines[4]
    assert '    token: "***"' in lines and '    - "sha256:***"' in lines
    assert "  bootstrapToken:" in lines
    assert lines[-1].endswith("--token=*** --discovery-token-ca-cert-hash=sha256:***")
    assert redact(out) == out


def test_image_digests_are_not_ca_hashes(ca):
    line = f"image: registry.k8s.io/pause@sha256:{ca['hash']}"
    assert redact(line) == line


# --- the other forms --------------------------------------------------------------------

def _pw() -> str:
    return secrets.token_urlsafe(12).replace("-", "x").replace("_", "y")


@pytest.mark.parametrize("template, kept", [
    ("transport_url = rabbit://openstack:{s}@controller:5672/",
     "transport_url = rabbit://openstack:***@controller:5672/"),
    ("connection = mysql+pymysql://nova:{s}@controller/nova",
     "connection = mysql+pymysql://nova:***@controller/nova"),
    ("transport_url = rabbit://openstack:{s}@c1:5672,openstack:{s}@c2:5672/",
     "transport_url = rabbit://openstack:***@c1:5672,openstack:***@c2:5672/"),
    ("url=redis://:{s}@127.0.0.1:6379/0", "url=redis://:***@127.0.0.1:6379/0"),
    ("sql://keystone:{s}/x@y@db/keystone", "sql://keystone:***@db/keystone"),
    ("password = {s}", "password = ***"),
    ("admin_password={s}", "admin_password=***"),
    ("#admin_password = {s}", "#admin_password = ***"),
    ("metadata_proxy_shared_secret = {s}", "metadata_proxy_shared_secret = ***"),
    ("memcache_secret_key = {s}", "memcache_secret_key = ***"),
    ("export OS_PASSWORD={s}", "export OS_PASSWORD=***"),
    ("      password: {s}", "      password: ***"),
    ("  application_credential_secret: '{s}'", "  application_credential_secret: '***'"),
    ("auth: {{username: admin, password: {s}, project_name: admin}}",
     "auth: {username: admin, password: ***, project_name: admin}"),
    ('{{"user": "nova", "password": "{s}", "token": "{s}"}}',
     '{"user": "nova", "password": "***", "token": "***"}'),
    ("{{'X-Auth-Token': '{s}', 'Accept': 'application/json'}}",
     "{'X-Auth-Token': '***', 'Accept': 'application/json'}"),
    ("> X-Auth-Token: {s}", "> X-Auth-Token: ***"),
    ("< X-Subject-Token: {s}", "< X-Subject-Token: ***"),
    ('curl -H "Authorization: Bearer {s}" https://172.20.112.101:6443/api',
     'curl -H "Authorization: Bearer ***" https://172.20.112.101:6443/api'),
    ("Authorization: Basic {s}", "Authorization: Basic ***"),
    ("openstack --os-password {s} server list", "openstack --os-password *** server list"),
    ("k3s agent --token={s} --server https://10.10.10.2:6443",
     "k3s agent --token=*** --server https://10.10.10.2:6443"),
    (" neighbor 10.10.10.1 password {s}", " neighbor 10.10.10.1 password ***"),
    ("POST /v3/auth/tokens?nocatalog&password={s}&x=1",
     "POST /v3/auth/tokens?nocatalog&password=***&x=1"),
])
def test_secret_forms(template, kept):
    secret = _pw()
    text = template.format(s=secret)
    out = redact(text)
    assert secret not in out
    assert out == kept
    assert redact(out) == out


def test_fernet_token_anywhere():
    # a real keystone token shape: base64url(0x80 | timestamp | iv | ciphertext | hmac)
    raw = b"\x80" + b"\x00\x00\x00\x00\x68\x9c\x0a\x1b" + secrets.token_bytes(80)
    token = base64.urlsafe_b64encode(raw).decode()
    assert token.startswith("gAAAAA")
    out = redact(f"keystone issued {token} for admin")
    assert token not in out and out == "keystone issued gAAAAA*** for admin"


@pytest.mark.parametrize("text", [
    "auth_type = password",
    "password_hash_rounds = 4",
    "token_ttl = 0",
    "[keystone_authtoken]",
    "www_authenticate_uri = http://controller:5000",
    "kubeadm token create --print-join-command",
    "kubeadm join 172.20.112.101:6443 --discovery-token-unsafe-skip-ca-verification",
    "options: {df_default=\"true\", in_key=flow, local_ip=\"192.168.100.102\", out_key=flow}",
    "k8s-worker-1 Ready <none> 3m v1.32.8 192.168.200.106 <none> Rocky cri-o://1.33.0",
    "git clone https://github.com/k3s-io/k3s.git && curl -sfL https://get.k3s.io | sh -",
    "see http://controller:8774/v2.1 and http://user@host/x",
    "5: veth0@if4: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500",
    "bypass = true",
    "the password is wrong",
    'password = ""',
])
def test_ordinary_text_is_untouched(text):
    assert redact(text) == text


# --- real lab outputs (captured by tests/data/redact/capture.sh) ---------------------------

@pytest.mark.parametrize("name", ["iptables-save.txt", "ip-j-addr.json", "ip-j-route.json",
                                  "vtysh-show-bgp-neighbors.json"])
def test_captured_lab_outputs_untouched(name):
    text = (DATA / name).read_text()
    assert redact(text) == text


def test_captured_running_config_only_bgp_password_masked():
    text = (DATA / "vtysh-show-running-config.txt").read_text()
    secret = re.search(r"neighbor \S+ password (\S+)", text).group(1)
    out = redact(text)
    assert secret not in out
    changed = [(b, a) for b, a in zip(text.splitlines(), out.splitlines()) if b != a]
    assert changed == [(f" neighbor 10.10.10.1 password {secret}",
                        " neighbor 10.10.10.1 password ***")]


def test_live_ip_json_untouched():
    """This machine's own `ip -j addr`/`ip -j link` (read-only, root namespace)."""
    if not shutil.which("ip"):
        pytest.skip("no iproute2")
    for cmd in (["ip", "-j", "addr", "show"], ["ip", "-j", "-d", "link", "show"]):
        text = _run(*cmd)
        assert json.loads(redact(text)) == json.loads(text)
        assert redact(text) == text


# --- redact_obj ---------------------------------------------------------------------------

def test_redact_obj_nested():
    pw, tok = _pw(), _pw()
    obj = {
        "host": "controller",
        "password": pw,
        "nested": {"OS_PASSWORD": pw, "port": 5672, "in_key": "flow",
                   "auth": {"token": tok, "token_ttl": 0}},
        "lines": [f"transport_url = rabbit://openstack:{pw}@controller:5672/", 42, None],
        "pair": ("--token", f"abcdef.{tok[:16].lower()}"),
        "blob": f"password = {pw}".encode(),
        "binary": b"\xff\xfepassword = x",
        "empty_secret": "",
        f"rabbit://u:{pw}@h/": True,
    }
    frozen = json.dumps(obj, default=repr)
    out = redact_obj(obj)
    assert json.dumps(obj, default=repr) == frozen           # input not mutated
    flat = json.dumps(out, default=repr)
    assert pw not in flat and tok not in flat
    assert out["host"] == "controller" and out["password"] == MASK
    assert out["nested"]["port"] == 5672 and out["nested"]["in_key"] == "flow"
    assert out["nested"]["auth"] == {"token": MASK, "token_ttl": 0}
    assert out["lines"] == ["transport_url = rabbit://openstack:***@controller:5672/", 42, None]
    assert isinstance(out["pair"], tuple)
    assert out["blob"] == b"password = ***"
    assert out["binary"] == obj["binary"]                     # not text: left as it is
    assert out["empty_secret"] == ""
    assert "rabbit://u:***@h/" in out


def test_is_secret_key():
    yes = ["password", "admin_password", "OS_PASSWORD", "client-key-data", "X-Auth-Token",
           "metadata_proxy_shared_secret", "tls.key", "api_key", "RABBIT_PASS"]
    no = ["in_key", "token_ttl", "auth_type", "password_hash_rounds", "bypass", "keystone",
          "host", "ssh_key_file"]
    assert [k for k in yes if not is_secret_key(k)] == []
    assert [k for k in no if is_secret_key(k)] == []


def test_redact_rejects_non_text():
    with pytest.raises(TypeError):
        redact(b"password = x")  # type: ignore[arg-type]


# --- logging ------------------------------------------------------------------------------

@pytest.fixture
def fresh_log_redaction():
    """Start from logging's plain factory, install, then put back what was there."""
    saved = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)
    install_log_redaction()
    install_log_redaction()  # idempotent: must not wrap twice
    yield
    logging.setLogRecordFactory(saved)


def test_install_is_idempotent(fresh_log_redaction):
    factory = logging.getLogRecordFactory()
    install_log_redaction()
    assert logging.getLogRecordFactory() is factory
    record = factory("x", logging.INFO, __file__, 1, "password = %s", ("p",), None)
    assert record.getMessage() == "password = ***"


def test_log_records_redacted_through_caplog(fresh_log_redaction, caplog, report_secrets):
    log = logging.getLogger("stackproof.tests.child.logger")  # propagates to root: caplog
    url = report_secrets["url_line"].split("=", 1)[1].strip()
    secret = report_secrets["rabbit_password"]
    with caplog.at_level(logging.DEBUG):
        log.info("nova.conf has transport_url=%s", url)
        log.warning("join with %s", report_secrets["join_line"])
        log.error("bad format %s %s", url)                    # wrong arg count: still safe
        try:
            raise RuntimeError(f"cannot connect to {url}")
        except RuntimeError:
            log.exception("connect failed")
    assert caplog.records, "nothing captured"
    assert secret not in caplog.text
    assert report_secrets["ca_hash"] not in caplog.text
    assert report_secrets["token"] not in caplog.text
    assert "transport_url=rabbit://openstack:***@controller:5672/" in caplog.text
    assert "RuntimeError: cannot connect to rabbit://openstack:***@controller" in caplog.text
    assert all(secret not in r.getMessage() for r in caplog.records)
    assert caplog.records[0].args == ()


def test_filter_covers_records_that_bypass_the_factory():
    record = logging.makeLogRecord({"msg": "password = %s", "args": ("hunter2x",),
                                    "levelno": logging.INFO, "levelname": "INFO"})
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == "password = ***"
