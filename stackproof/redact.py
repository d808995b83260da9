"""The one redaction filter: every report attachment and every log line passes through here.

`redact(text)` masks the secret part of what a site's outputs carry and keeps the rest
readable (`rabbit://openstack:***@controller:5672/`, `--token ***`, `sha256:***`):

- passwords in URLs, any scheme, also every host of a multi-host URL
  (`rabbit://u:***@h1:5672,u:***@h2:5672/`);
- `key = value`, `key: value`, `"key": "value"`, `KEY=value`, `--key value` where the key
  ends in password/passwd/passphrase/secret/token/api key/access key/private key/
  key-data (`admin_password`, `metadata_proxy_shared_secret`, `OS_PASSWORD`, `client-key-data`,
  `X-Auth-Token`, `token:` in a kubeconfig or a kubeadm JoinConfiguration);
- HTTP credentials (`Authorization: Bearer ***`, `X-Auth-Token: ***`, `X-Subject-Token: ***`);
- FRR/Cisco-style secrets (`neighbor X password ***`, `password ***`, `md5 ***`);
- nova `fixed_key`, kubeadm `certificateKey` / `--certificate-key` and the key kubeadm prints
  after `Using certificate key:`, ceph secrets (`key = AQ...`), libvirt `passwd=...` and
  `<password>...</password>`, `mysql -pX`, `sshpass -p X`, and a YAML secret whose value
  is on the next lines (plain or a `|`/`>` block scalar);
- kubeadm bootstrap tokens (`abcdef.***`: the public token id stays), `sha256:<64 hex>`
  CA cert hashes (`@sha256:` image digests stay), keystone fernet tokens, JWTs;
- PEM private keys of every kind (RSA, EC, OPENSSH, PKCS#8, encrypted, PGP), also inside
  JSON strings and also base64-encoded (a kubeconfig's `client-key-data`), also when
  `base64`/`openssl base64` wrapped that over lines.

`redact` is idempotent: `redact(redact(t)) == redact(t)`.

Logs: `install_log_redaction()` installs a log *record factory* (see its docstring for why a
`logging.Filter` alone cannot cover pytest's capture handlers) plus a `RedactingFilter` on
the root logger's handlers.
"""
from __future__ import annotations

import base64
import binascii
import logging
import re
import traceback
from typing import Any, Callable

__all__ = ["MASK", "redact", "redact_obj", "is_secret_key", "RedactingFilter",
           "install_log_redaction"]

MASK = "***"

# A key whose value is a secret: it must END in one of these words (so `in_key=flow`,
# `token_ttl`, `auth_type = password`, `password_hash_rounds` stay visible).
_SECRET_KEY_END = (
    r"(?:pass(?:word|wd|phrase)|secret|token|authorization"
    r"|api[_-]?key|access[_-]?key|secret[_-]?key|private[_-]?key|privatekey"
    r"|auth[_-]?key|key[_-]data|[_-]pass|\.key|credentials?"
    r"|fixed[_-]?key|certificate[_-]?key)"   # nova/castellan [key_manager]; kubeadm
)
_KEY = r"[A-Za-z0-9_.\-]{0,64}" + _SECRET_KEY_END  # bounded: no quadratic backtracking
_SECRET_KEY_RE = re.compile(r"^[A-Za-z0-9_.\-]*" + _SECRET_KEY_END + r"$", re.IGNORECASE)


def is_secret_key(key: str) -> bool:
    """True when a mapping key names a secret (`password`, `OS_PASSWORD`, `tls.key`, ...)."""
    return bool(_SECRET_KEY_RE.match(key.strip().strip("\"'")))


_AUTH_SCHEME = re.compile(r"^(?:Bearer|Basic|Token|Negotiate|Digest)\s+", re.IGNORECASE)


def _mask_value(value: str) -> str:
    """Mask a value, keeping the quotes around it and an HTTP auth scheme (`Bearer ***`)."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        inner = value[1:-1]  # an empty value stays visible: it is a finding, not a secret
        return value if not inner else value[0] + _mask_value(inner) + value[0]
    scheme = _AUTH_SCHEME.match(value)
    return (scheme.group(0) if scheme else "") + MASK


# --- PEM private keys -----------------------------------------------------------------
# Lazy match to the END line, or to the end of the text when it was cut off (a truncated
# key is still a key). `sep` keeps the key's own line break: a real newline, or a literal
# `\n` inside a JSON string (a real newline there would break the JSON).
_PEM = re.compile(
    r"(?P<begin>-----BEGIN (?P<kind>[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----)"
    r"(?P<sep>\\r\\n|\\n|\r?\n)?"
    r".*?"
    r"(?:(?P<end>-----END (?P=kind)-----)|\Z)",
    re.DOTALL,
)


def _pem_sub(m: re.Match) -> str:
    sep = m.group("sep") or ""
    end = m.group("end") or f"-----END {m.group('kind')}-----"
    return f"{m.group('begin')}{sep}{MASK}{sep}{end}"


# base64 of "-----BEGIN" (kubeconfig client-key-data, k8s Secret data): decode the head and
# mask the whole blob only when it is a PRIVATE key (certificates are public).
_B64_PEM = re.compile(
    r"LS0tLS1CRUdJTi[A-Za-z0-9+/]{8,}={0,2}(?:\r?\n[ \t]*[A-Za-z0-9+/]{1,512}={0,2})*")


_B64_WRAP_WIDTHS = (64, 76)   # openssl base64, coreutils base64


def _b64_pem_sub(m: re.Match) -> str:
    """Mask a base64 PEM private key, also when `base64`/`openssl base64` wrapped it over
    lines (76 or 64 columns): a continuation line belongs to the blob while the line before
    it was as long as the first one (the wrap width); the rest is ordinary text, kept."""
    lines = m.group(0).splitlines(keepends=True)
    first = lines[0].rstrip("\r\n")
    blob_end = 1
    wrapped = len(first) in _B64_WRAP_WIDTHS
    while (wrapped and blob_end < len(lines) and
           len(lines[blob_end - 1].strip()) == len(first)):
        blob_end += 1
    head = first[: min(len(first), 96) // 4 * 4]
    try:
        decoded = base64.b64decode(head)
    except (binascii.Error, ValueError):
        return m.group(0)
    if b"PRIVATE KEY" not in decoded:
        return m.group(0)
    # keep the line break after the blob: it ends the blob's last line
    tail_nl = "\n" if blob_end < len(lines) else ""
    return MASK + tail_nl + "".join(lines[blob_end:])


# --- URLs --------------------------------------------------------------------------------
# `scheme://user:PASS@host` and, for multi-host URLs (oslo.messaging), `,user:PASS@host`.
# The password is the shortest run up to an `@` that is followed by a plain host and then
# the URL's end, a path, or `,next-host:`; so raw `@`, `/`, `,` and `:` inside a password
# are still masked.
_URL_USERINFO = re.compile(
    r"(?P<pre>\b[A-Za-z][A-Za-z0-9+.\-]{0,31}://|(?<=[\w\]]),)"
    r"(?P<user>[^\s:/?#@,'\"<>]*):(?P<pw>[^\s'\"<>]*?)@"
    r"(?P<host>[^\s/@,'\"<>?#]*)(?=[/?#\s'\"<>;)]|,[^\s:/@,'\"<>]*:|$)"
)


def _url_sub(m: re.Match) -> str:
    return f"{m.group('pre')}{m.group('user')}:{MASK}@{m.group('host')}"


# --- HTTP credentials ---------------------------------------------------------------------
_AUTH_HEADER = re.compile(
    r"(?P<pre>\bAuthorization[ \t]*:[ \t]*(?:(?:Bearer|Basic|Token|Negotiate|Digest)[ \t]+)?)"
    r"(?P<val>[^\s\"',;]+)",
    re.IGNORECASE,
)
_TOKEN_HEADER = re.compile(
    r"(?P<pre>\bX-(?:Auth|Subject|Service|Storage)-Token[ \t]*:[ \t]*)(?P<val>[^\s\"',;]+)",
    re.IGNORECASE,
)

# --- key/value forms --------------------------------------------------------------------
# "key": "value" / 'key': 'value' (JSON, Python reprs) anywhere on a line.
_QUOTED_KV = re.compile(
    r"(?P<pre>(?P<kq>[\"'])" + _KEY + r"(?P=kq)\s*:\s*)"
    r"(?P<vq>[\"'])(?P<val>(?:\\.|(?!(?P=vq)).)*)(?P=vq)",
    re.IGNORECASE,
)


def _quoted_kv_sub(m: re.Match) -> str:
    if not m.group("val"):
        return m.group(0)
    return f"{m.group('pre')}{m.group('vq')}{_mask_value(m.group('val'))}{m.group('vq')}"


# A whole line `key = value` / `key: value` (ini, yaml, env files, commented defaults too):
# the value is the rest of the line, because ini values may hold spaces.
_LINE_KV = re.compile(
    r"^(?P<pre>[ \t]*(?:[#;][ \t]*)?(?:-[ \t]+)?(?:export[ \t]+)?" + _KEY
    + r"[ \t]*(?:=|:(?=[ \t]))[ \t]*)(?![|>][-+0-9]{0,2}[ \t]*$)(?P<val>\S(?:.*\S)?)[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)

# Inline `key=value` (a command line, a query string, ovs-style option lists) and YAML
# flow mappings `{key: value, ...}`: the value is one token.
_INLINE_EQ = re.compile(
    # the lookahead skips, cheaply, every token that is not followed by `=`
    r"(?P<pre>(?<![A-Za-z0-9_.\-])(?=[A-Za-z0-9_.\-]{1,80}[ \t]*=)" + _KEY + r"[ \t]*=[ \t]*)"
    r"(?P<val>\"[^\"]*\"|'[^']*'|[^\s&;,'\"}{)=][^\s&;,'\"}{)]*)",
    re.IGNORECASE,
)
_FLOW_KV = re.compile(  # unquoted keys only: quoted (JSON) keys are _QUOTED_KV's
    r"(?P<pre>[{,][ \t]*" + _KEY + r"[ \t]*:[ \t]+)"
    r"(?P<val>\"[^\"]*\"|'[^']*'|[^\s,}]+)",
    re.IGNORECASE,
)

# `--password X`, `--os-password=X`, `--token X` (not `--token-ttl`,
# `--discovery-token-ca-cert-hash`: the key must end in the secret word).
_CLI_FLAG = re.compile(
    r"(?P<pre>(?<![\w-])--" + r"[A-Za-z0-9_\-]{0,64}" + _SECRET_KEY_END + r"(?:=|[ \t]+))"
    r"(?P<val>\"[^\"]*\"|'[^']*'|[^\s\"']+)",
    re.IGNORECASE,
)

# FRR / IOS-style configuration: `neighbor 10.0.0.2 password X`, `password X`,
# `enable password 8 X`, `ip ospf message-digest-key 1 md5 X`, `authentication-key X`.
_FRR = re.compile(
    r"(?P<pre>(?:^[ \t]*(?:enable[ \t]+)?password|\bneighbor[ \t]+\S+[ \t]+password"
    r"|\bmessage-digest-key[ \t]+\d+[ \t]+md5|\bauthentication-key)"
    r"[ \t]+(?:\d[ \t]+)?)(?P<val>[^\s=:]\S*)",
    re.IGNORECASE | re.MULTILINE,
)


def _value_sub(m: re.Match) -> str:
    return m.group("pre") + _mask_value(m.group("val"))


# --- free-standing token shapes -------------------------------------------------------
# kubeadm bootstrap token `[a-z0-9]{6}.[a-z0-9]{16}`: the 6-char id is public (it names the
# bootstrap-token-<id> Secret), the 16-char part is the secret.
# A trailing `.`/`-` that ends a sentence or a quote still ends the token (`...abcdef.`).
_BOOTSTRAP = re.compile(
    r"(?<![\w.\-])(?P<id>[a-z0-9]{6})\.[a-z0-9]{16}(?![\w]|[.\-][\w])")
# CA cert hashes; `name@sha256:...` is a container image digest, not a secret.
_SHA256 = re.compile(r"(?<!@)\b(?P<pre>sha256:)[0-9a-fA-F]{64}\b")
# keystone fernet tokens (base64url of 0x80 + timestamp: always `gAAAAA`).
_FERNET = re.compile(r"\bgAAAAA[A-Za-z0-9_\-]{20,}={0,2}")
# JWTs (kubernetes service-account tokens, keystone JWS): header.payload.signature.
_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*")

# --- more secret shapes -------------------------------------------------------------------
# A ceph secret (keyring `key = AQ...`, `ceph auth get-key`, libvirt's ceph secret value):
# base64 of a 28-byte CryptoKey (type 1 little-endian = `AQ`, created, len 16, 16 bytes).
_CEPH_KEY = re.compile(r"(?<![A-Za-z0-9+/])AQ[A-Za-z0-9+/]{36}==(?![A-Za-z0-9+/=])")
# kubeadm prints the certificate key on the line after `Using certificate key:`.
_CERT_KEY_OUTPUT = re.compile(r"(?P<pre>\bcertificate key:[ \t]*\r?\n[ \t]*)[0-9a-fA-F]{64}\b",
                              re.IGNORECASE)
# XML elements named like a secret: `<password>x</password>`, `<secret type='x'>v</secret>`.
_XML_ELEMENT = re.compile(
    r"(?P<pre><(?P<tag>" + _KEY + r")(?:[ \t][^<>]{0,512})?>)(?P<val>[^<]+)(?=</(?P=tag)>)",
    re.IGNORECASE)
# mysql/mariadb client `-pSECRET` (attached: a bare `-p` prompts, `-P` is the port).
_MYSQL_CMD = re.compile(
    r"(?<![\w./-])(?:/usr/(?:local/)?s?bin/|/s?bin/)?"
    r"(?:mysql|mysqldump|mysqladmin|mysqlcheck|mysqlimport|mysqlshow|mariadb(?:-dump|-admin)?)"
    r"(?=[ \t])[^\n|;&]*")
_MYSQL_P = re.compile(r"(?P<pre>(?<=[ \t])-p)(?P<val>'[^']*'|\"[^\"]*\"|[^\s'\"]+)")


def _mysql_sub(m: re.Match) -> str:
    return _MYSQL_P.sub(_value_sub, m.group(0))


# `sshpass [-f F|-d N|-P P|-e|-v] -p SECRET cmd ...`: only sshpass's own options come first.
_SSHPASS = re.compile(
    r"(?P<pre>(?<![\w.-])(?:\S*/)?sshpass(?:[ \t]+-(?:[fdP][ \t]*\S+|[ehvV]\S*))*[ \t]+-p[ \t]*)"
    r"(?P<val>'[^']*'|\"[^\"]*\"|[^\s'\"]+)")

# YAML: a secret-named key whose value starts on the next line (plain or a `|`/`>` block
# scalar): every more-indented line after it is the value.
_YAML_KEY_LINE = re.compile(
    r"^(?P<ind>[ \t]*(?:-[ \t]+)?)(?P<q>[\"']?)" + _KEY
    + r"(?P=q)[ \t]*:[ \t]*(?P<block>[|>][-+0-9]{0,2})?[ \t]*(?:#[^\n]*)?$",
    re.IGNORECASE | re.MULTILINE)
# a nested mapping or sequence under the key (`bootstrapToken:` then `token: ...`) is
# structure, not the secret: its own keys are redacted by the other rules
_YAML_STRUCTURE = re.compile(r"[ \t]*(?:-(?:[ \t]|$)|[\"']?[\w.\-/]+[\"']?[ \t]*:(?:[ \t]|$))")


def _yaml_blocks(text: str) -> str:
    out: list[str] = []
    pos = 0
    for m in _YAML_KEY_LINE.finditer(text):
        if m.start() < pos:          # inside a value already masked
            continue
        key_col = len(m.group("ind").expandtabs())
        i = m.end() + 1              # the line after the key
        if i > len(text):
            continue
        if not m.group("block") and _YAML_STRUCTURE.match(text, i):
            continue
        out.append(text[pos:i])
        pos = i
        while pos < len(text):
            nl = text.find("\n", pos)
            end = len(text) if nl < 0 else nl
            line = text[pos:end]
            body = line.lstrip(" \t")
            indent = line[: len(line) - len(body)]
            if body and len(indent.expandtabs()) <= key_col:
                break                # a sibling or parent key: the value ended
            out.append(indent + (MASK if body.strip() else body) + text[end:end + 1])
            pos = end + 1
    out.append(text[pos:])
    return "".join(out)


class _Func:
    """A rule that is a function of the whole text (same interface as a compiled regex)."""

    def __init__(self, fn: Callable[[str], str]):
        self.fn = fn

    def sub(self, _repl, text: str) -> str:
        return self.fn(text)


# Order: multi-line blocks first, then the most specific shapes, then the generic key forms.
# Each rule has trigger substrings (lower case): the rule runs only when the text holds one.
# Replacements only ever swap a value for `***`, so checking the triggers once, on the
# original text, is exact; and most log lines skip almost every regex.
_KEY_WORDS = ("pass", "secret", "token", "key", "authoriz", "credential")
_RULES: list[tuple[tuple[str, ...], re.Pattern, str | Callable[[re.Match], str]]] = [
    (("private key",), _PEM, _pem_sub),
    (("ls0tls1crudjti",), _B64_PEM, _b64_pem_sub),
    (_KEY_WORDS, _Func(_yaml_blocks), ""),
    (("://",), _URL_USERINFO, _url_sub),
    (("authorization",), _AUTH_HEADER, _value_sub),
    (("-token",), _TOKEN_HEADER, _value_sub),
    (_KEY_WORDS, _QUOTED_KV, _quoted_kv_sub),
    (_KEY_WORDS, _LINE_KV, _value_sub),
    (_KEY_WORDS, _FLOW_KV, _value_sub),
    (_KEY_WORDS, _INLINE_EQ, _value_sub),
    (_KEY_WORDS, _CLI_FLAG, _value_sub),
    (("password", "md5", "authentication-key"), _FRR, _value_sub),
    (("aq",), _CEPH_KEY, MASK),
    (("certificate key",), _CERT_KEY_OUTPUT, lambda m: f"{m.group('pre')}{MASK}"),
    (("</",), _XML_ELEMENT, _value_sub),
    (("mysql", "mariadb"), _MYSQL_CMD, _mysql_sub),
    (("sshpass",), _SSHPASS, _value_sub),
    ((".",), _BOOTSTRAP, lambda m: f"{m.group('id')}.{MASK}"),
    (("sha256:",), _SHA256, lambda m: f"{m.group('pre')}{MASK}"),
    (("gaaaaa",), _FERNET, lambda m: f"gAAAAA{MASK}"),
    (("eyj",), _JWT, lambda m: f"eyJ{MASK}"),
]


def redact(text: str) -> str:
    """Return `text` with every secret value replaced by `***` (see the module docstring)."""
    if not isinstance(text, str):
        raise TypeError(f"redact() takes str, not {type(text).__name__}")
    low = text.lower()
    for triggers, pattern, repl in _RULES:
        if any(t in low for t in triggers):
            text = pattern.sub(repl, text)
    return text


def redact_obj(obj: Any) -> Any:
    """A redacted copy of nested dicts/lists/tuples: strings go through `redact`, and a
    scalar under a secret-named key (`{"password": "x"}`) becomes `***` whatever it is.
    bytes that decode as UTF-8 are redacted as text; other values are returned as they are."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            new_key = redact(key) if isinstance(key, str) else key
            if (isinstance(key, str) and is_secret_key(key)
                    and not isinstance(value, (dict, list, tuple, bool)) and value is not None
                    and value != ""):
                out[new_key] = MASK
            else:
                out[new_key] = redact_obj(value)
        return out
    if isinstance(obj, list):
        return [redact_obj(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(redact_obj(v) for v in obj)
    if isinstance(obj, (bytes, bytearray)):
        try:
            return redact(bytes(obj).decode("utf-8")).encode("utf-8")
        except UnicodeDecodeError:
            return obj
    return obj


# --- logging ------------------------------------------------------------------------------

def _redact_record(record: logging.LogRecord) -> None:
    """Freeze the record's message as redacted text (msg = text, args = ())."""
    # Done already, and msg/args not replaced since (makeLogRecord runs the factory, then
    # overwrites msg and args from its dict): skip the second pass.
    if not record.args and getattr(record, "_stackproof_redacted", None) is record.msg:
        return
    try:
        message = record.getMessage()
    except Exception:  # bad %-args: logging would print msg and args raw in handleError
        message = f"{record.msg} (args: {record.args!r})"
    record.msg = redact(message)
    record.args = ()
    if record.exc_info and not record.exc_text:
        # Formatter.format() uses exc_text when it is set: the traceback text (with the
        # exception's message) is rendered once, here, and redacted.
        record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._stackproof_redacted = record.msg


class RedactingFilter(logging.Filter):
    """A `logging.Filter` that redacts a record in place and always lets it through.

    Attached to a *handler*, it covers every record that handler emits. Attached to a
    *logger*, it only sees records logged on that very logger, not those propagated from
    child loggers (`logging` runs logger filters in `Logger.handle` of the originating
    logger only); that is why `install_log_redaction` relies on a record factory."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


_FACTORY_MARK = "_stackproof_redacting"


def install_log_redaction() -> None:
    """Make every log record created from now on carry a redacted message. Idempotent.

    Why a record factory: pytest's capture (`LogCaptureHandler` behind caplog and the
    report's "Captured log" sections, the `log_cli` live-logging handler, the `log_file`
    handler) adds *new* handler objects to the root logger for every test phase, and a
    filter on the root logger itself does not see records propagated from child loggers.
    `logging.setLogRecordFactory` is the one place every `logger.info(...)` record is born,
    whatever logger and whichever handlers: the factory here wraps the current one and
    freezes `msg` as the redacted `getMessage()` (args become `()`), and pre-renders and
    redacts the traceback text (`exc_text`) so formatters print that. Records born before
    the call, or built with `logging.makeLogRecord`, bypass a factory: the root logger's
    existing handlers also get a `RedactingFilter` as a second line of defence.
    """
    current = logging.getLogRecordFactory()
    if not getattr(current, _FACTORY_MARK, False):
        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = current(*args, **kwargs)
            _redact_record(record)
            return record

        setattr(factory, _FACTORY_MARK, True)
        logging.setLogRecordFactory(factory)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
