"""Shared fixtures for the site-model and expectation unit tests: the two inventories."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INVENTORIES = ROOT / "inventories"
if str(ROOT) not in sys.path:      # the root conftest normally puts it there
    sys.path.insert(0, str(ROOT))

from stackproof.site import load_site  # noqa: E402

INVENTORY_FILES = ("seed.yml", "four-host-ebgp.yml")


@pytest.fixture(scope="session")
def seed_site():
    return load_site(INVENTORIES / "seed.yml")


@pytest.fixture(scope="session")
def four_site():
    return load_site(INVENTORIES / "four-host-ebgp.yml")


@pytest.fixture(scope="session", params=INVENTORY_FILES)
def inventory(request):
    """(raw YAML data, Site) for each inventory."""
    path = INVENTORIES / request.param
    return yaml.safe_load(path.read_text()), load_site(path)


@pytest.fixture
def seed_raw():
    """A fresh, mutable copy of the seed inventory's data."""
    return yaml.safe_load((INVENTORIES / "seed.yml").read_text())


@pytest.fixture
def four_raw():
    return yaml.safe_load((INVENTORIES / "four-host-ebgp.yml").read_text())
