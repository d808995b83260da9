# stackproof: `make demo` shows the field report's faults caught and fixed on a lab;
# `make test` runs the whole test suite. Both run as root on a fresh Debian 12 machine.
SHELL := /bin/bash
PY    := .venv/bin/python
PYTEST := .venv/bin/pytest
SEED  ?= inventories/seed.yml
APT_PACKAGES := frr frr-pythontools openssh-server iproute2 iptables openvswitch-switch \
	libvirt-daemon-system libvirt-clients dnsmasq-base chrony qemu-system-x86 iputils-ping \
	python3-venv sudo chromium graphviz rabbitmq-server socat

# kubectl for the lab tests and an operator's hands: the one on PATH if the machine has one
# (e.g. a vendor's kubectl package, which conflicts with Debian's); else Debian's, pinned.
KUBECTL_DEB := kubernetes-client=1.20.5+really1.20.2-1.1+deb12u1

.PHONY: install install-system install-kubectl install-python install-node install-openstack test test-all unit demo lab-up lab-down report clean

install: install-system install-kubectl install-python install-node install-openstack

install-system:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "[install] apt: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

install-kubectl:
	@command -v kubectl >/dev/null || { echo "[install] apt: $(KUBECTL_DEB)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(KUBECTL_DEB); }

install-python:
	@[ -x $(PY) ] || python3 -m venv .venv
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	@$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .

install-node:
	@command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }
	@[ -d node_modules/allure ] || npm ci --no-audit --no-fund --loglevel=error

# The lab's Keystone, Neutron and Nova, pinned, in their own venv (their pins conflict).
install-openstack: install-system
	./scripts/install-openstack.sh

unit: install-python
	$(PYTEST) tests/unit -q

# Unit tests first (fast, no lab), then the lab integration tests on two workers, each with
# its seed and four-host labs; every fault's round trip runs on one of the two labs
# (alternating), `make test-all` runs it on both; and the 28-host fleet lab (one worker).
test: install
	$(PYTEST) tests/unit -q -n 2
	$(PYTEST) tests/lab -q -n 2 --dist loadgroup -m "not slow"

# Everything, also the slow lab tests (each round trip on the other lab too, every
# persistence fault through reboots on both inventories): much longer than `make test`.
test-all: install
	$(PYTEST) tests/unit -q -n 2
	$(PYTEST) tests/lab -q -n 2 --dist loadgroup

# Red, then green: the seed site in a lab with the report's faults injected.
demo: install
	./scripts/demo.sh $(SEED)

lab-up: install
	.venv/bin/stackproof lab up --inventory $(SEED)

lab-down:
	.venv/bin/stackproof lab down --inventory $(SEED)

report:
	./scripts/allure-report.sh

clean: lab-down
	rm -rf allure-results allure-report
