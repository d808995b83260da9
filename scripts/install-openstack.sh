#!/usr/bin/env bash
# Install the lab's OpenStack services (Keystone, Neutron, Nova, gunicorn) at the exact
# versions of requirements-openstack.lock into their own venv, separate from the suite's
# (.venv): their dependency pins conflict with the suite's.
#
#   scripts/install-openstack.sh            # venv at $STACKPROOF_OPENSTACK_VENV or /opt/stackproof-openstack
#
# The venv is made with the system's /usr/bin/python3 (Debian: python3-venv): lab nodes run
# nova-compute from it inside their namespaces, where a python under /root (pyenv) is hidden
# by the node's private /root.
#
# Idempotent and fast when already done: the venv keeps a stamp with the lock's hash and the
# run stops there (well under a second) when the stamp matches and keystone-manage runs.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
lock="$here/requirements-openstack.lock"
venv="${STACKPROOF_OPENSTACK_VENV:-/opt/stackproof-openstack}"
stamp="$venv/.stackproof-lock.sha256"
want=$(sha256sum "$lock" | cut -d' ' -f1)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/keystone-manage" ] \
   && [ -x "$venv/bin/nova-manage" ] && [ -x "$venv/bin/neutron-db-manage" ] \
   && [ "$(readlink -f "$venv/bin/python")" = "$(readlink -f /usr/bin/python3)" ]; then
    exit 0
fi
echo "[install-openstack] installing Keystone, Neutron, Nova, Glance, Placement into $venv (about 90 s)"
base=/usr/bin/python3
if [ -x "$venv/bin/python" ] && [ "$(readlink -f "$venv/bin/python")" != "$(readlink -f "$base")" ]; then
    echo "[install-openstack] $venv was made with another python: making it again"
    rm -rf "$venv"
fi
[ -x "$venv/bin/python" ] || "$base" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$lock"
PYTHONWARNINGS=ignore "$venv/bin/python" -c "import keystone, neutron, nova, glance, placement, gunicorn" 2>/dev/null \
    || { echo "[install-openstack] import check failed in $venv" >&2; exit 1; }
"$venv/bin/python" "$here/stackproof_lab/openstack/templates.py" "$venv" >/dev/null
echo "$want" > "$stamp"
echo "[install-openstack] done: $("$venv/bin/pip" --disable-pip-version-check list 2>/dev/null | grep -E "^(keystone|neutron|nova|glance|openstack-placement) " | tr -s ' ' | tr '\n' ' ')"
