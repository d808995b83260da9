"""Where a lab's OpenStack lives: the venv, the state directory layout, ports and passwords.

Everything is under <lab.state_dir>/openstack/ (mode 0700):

    lab.json                   ports, URLs and paths (no passwords)
    clouds.yaml                the admin's cloud entry (password inside, mode 0600)
    keystone/ neutron/ nova/   each service's config (passwords inside, mode 0600), SQLite
                               DBs, fernet and credential keys
    logs/                      one log per service
    nodes/<host>/              per-node lab files (the nova-compute lab override config,
                               the agent heartbeat spec)
    programs/                  the lab's programs that the hosts run (programs.py)
"""
from __future__ import annotations

import json
import os
import secrets
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path

VENV_ENV = "STACKPROOF_OPENSTACK_VENV"
DEFAULT_VENV = Path("/opt/stackproof-openstack")
REPO = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO / "scripts" / "install-openstack.sh"
SERVICES = ("keystone", "neutron", "nova", "glance", "placement")


class OpenStackLabError(RuntimeError):
    pass


def venv() -> Path:
    return Path(os.environ.get(VENV_ENV) or DEFAULT_VENV)


def venv_bin(name: str) -> str:
    return str(venv() / "bin" / name)


def require_venv() -> None:
    """The services must be installed (scripts/install-openstack.sh): say how if not."""
    missing = [b for b in ("python", "keystone-manage", "nova-manage", "neutron-db-manage",
                           "glance-manage", "placement-manage")
               if not (venv() / "bin" / b).exists()]
    if missing:
        raise OpenStackLabError(f"OpenStack venv {venv()} lacks {', '.join(missing)}: run "
                                f"{INSTALL_SCRIPT} (or `make install`) first")


def free_port() -> int:
    """A port free on 127.0.0.1 right now (the kernel picks it; two labs never share one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def password() -> str:
    # hex: a urlsafe token may start with '-', which rabbitmqctl add_user takes for an option
    return secrets.token_hex(16)


@dataclass
class Ports:
    keystone: int
    neutron: int
    nova: int
    glance: int = 0
    placement: int = 0
    bus: int = 0            # root-side end of the relay to RabbitMQ in the bus node (relay.py)

    @classmethod
    def pick(cls) -> Ports:
        chosen: list[int] = []
        while len(chosen) < 6:
            p = free_port()
            if p not in chosen:
                chosen.append(p)
        return cls(*chosen)


@dataclass
class Secrets:
    """Generated per lab; written only into configs and clouds.yaml, never logged."""
    admin: str = field(default_factory=password)
    neutron: str = field(default_factory=password)
    nova: str = field(default_factory=password)
    rabbit: str = field(default_factory=password)   # nova's RabbitMQ user (transport_url)
    glance: str = field(default_factory=password)
    placement: str = field(default_factory=password)


@dataclass
class Layout:
    root: Path                 # <state_dir>/openstack
    ports: Ports

    @classmethod
    def new(cls, state_dir: Path) -> Layout:
        return cls(Path(state_dir) / "openstack", Ports.pick())

    @classmethod
    def load(cls, state_dir: Path) -> Layout | None:
        f = Path(state_dir) / "openstack" / "lab.json"
        if not f.is_file():
            return None
        data = json.loads(f.read_text())
        return cls(Path(data["root"]), Ports(**data["ports"]))

    def save(self) -> None:
        data = {"root": str(self.root), "ports": asdict(self.ports),
                "venv": str(venv()), "urls": {s: self.url(s) for s in SERVICES},
                "clouds_yaml": str(self.clouds_yaml)}
        (self.root / "lab.json").write_text(json.dumps(data, indent=1) + "\n")

    def make_dirs(self) -> None:
        for d in (self.root, self.logs, *(self.dir(s) for s in SERVICES),
                  self.dir("keystone") / "fernet-keys", self.dir("keystone") / "credential-keys",
                  self.dir("neutron") / "plugins" / "ml2", self.root / "nodes",
                  self.dir("glance") / "images",
                  self.root / "locks"):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)

    def dir(self, service: str) -> Path:
        return self.root / service

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    @property
    def programs(self) -> Path:
        return self.root / "programs"

    def node_dir(self, host: str) -> Path:
        d = self.root / "nodes" / host
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def clouds_yaml(self) -> Path:
        return self.root / "clouds.yaml"

    def api_ports(self) -> list[int]:
        """The ports of every API in the catalog (what a node reaches through relays)."""
        return [getattr(self.ports, s) for s in SERVICES]

    def db(self, name: str) -> Path:
        service = "nova" if name.startswith("nova") else name
        return self.dir(service) / f"{name}.sqlite"

    def db_url(self, name: str) -> str:
        return f"sqlite:///{self.db(name)}"

    def url(self, service: str) -> str:
        port = getattr(self.ports, service)
        path = {"keystone": "/v3", "neutron": "", "nova": "/v2.1", "glance": "",
                "placement": ""}[service]
        return f"http://127.0.0.1:{port}{path}"
