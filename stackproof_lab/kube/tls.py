"""The stand-in's serving certificate: a CA and a server certificate made per lab, as kubeadm
makes /etc/kubernetes/pki/ca.crt and apiserver.crt.

Why TLS at all: kubectl (client-go's clientcmd) sends a kubeconfig's bearer token only over
https; over plain http it sends no credentials and the API answers 401. A real API server is
https-only too, so the lab's kubeconfig carries `certificate-authority-data` as kubeadm's
admin.conf does, and both the Python client and kubectl verify the server.

Files (in the lab's kube directory): ca.crt, apiserver.crt, apiserver.key (0600). The CA key
is not kept: nothing signs anything else later.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

CA_CERT = "ca.crt"
SERVER_CERT = "apiserver.crt"
SERVER_KEY = "apiserver.key"
VALID_DAYS = 365


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def files(directory: Path) -> TlsFiles:
    d = Path(directory)
    return TlsFiles(d / CA_CERT, d / SERVER_CERT, d / SERVER_KEY)


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def ensure(directory: Path, cluster_name: str = "kubernetes") -> TlsFiles:
    """The CA and serving certificate in `directory`, made once (kept across restarts)."""
    out = files(directory)
    if out.ca.exists() and out.cert.exists() and out.key.exists():
        return out
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                       crl_sign=True, key_encipherment=True,
                                       content_commitment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False,
                                       decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    # the names kubeadm puts on apiserver.crt that mean something on loopback
    sans = [x509.DNSName(n) for n in ("localhost", "kubernetes", "kubernetes.default",
                                      "kubernetes.default.svc",
                                      f"kubernetes.default.svc.{cluster_name}")]
    sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                        "kube-apiserver")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True,
                                         key_cert_sign=False, crl_sign=False,
                                         content_commitment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    _write(out.key, key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()), 0o600)
    _write(out.cert, cert.public_bytes(pem), 0o644)
    _write(out.ca, ca.public_bytes(pem), 0o644)
    return out


def server_context(tls: TlsFiles) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(tls.cert), str(tls.key))
    ctx.set_alpn_protocols(["http/1.1"])     # no h2: the stand-in speaks HTTP/1.1 only
    return ctx


def client_context(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))
