#!/usr/bin/env bash
# `make demo`: build the seed site as a lab, inject the field report's faults, run the
# acceptance suite (red), run it with --remediate (green), run it once more (nothing to
# apply), and write the Allure HTML report. The lab is taken down at the end, whatever happens.
# DEMO_STATE_DIR=DIR keeps the lab's state in DIR instead of the default state directory.
set -euo pipefail
cd "$(dirname "$0")/.."
inventory=${1:-inventories/seed.yml}
venv=${DEMO_VENV:-.venv}
pytest=$venv/bin/pytest
where=(--inventory "$inventory")
if [ -n "${DEMO_STATE_DIR:-}" ]; then where+=(--state-dir "$DEMO_STATE_DIR"); fi
sp() { "$venv/bin/stackproof" "$@"; }
# The report's faults, one layer after another (names from `stackproof lab faults`;
# `name@host` picks the host, otherwise the fault's default host).
faults=${DEMO_FAULTS:-"hostname-drift swap-in-fstab dhcp-reservation-missing bgpd-off
  frr-config-drift@kubernetes-host static-route-shadow@compute-2-host libvirt-fwi-accept-missing
  chrony-default-pool ovs-br-tun-missing nova-instances-path-missing neutron-ovs-agent-stopped
  external-gateway-missing dvr-front-route-missing kubelet-ip-off-lo"}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "lab up: $inventory"
sp lab up "${where[@]}"
trap 'say "lab down"; sp lab down "${where[@]}"' EXIT
lab_inventory=$(sp lab status "${where[@]}" --json |
  "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["lab_inventory"])')

say "inject the report's faults"
for fault in $faults; do
  name=${fault%@*}
  if [ "$name" != "$fault" ]; then
    sp lab break "$name" --host "${fault#*@}" "${where[@]}"
  else
    sp lab break "$name" "${where[@]}"
  fi
done

rm -rf allure-results allure-report
say "acceptance run: expected RED"
set +e
$pytest features/ --inventory "$lab_inventory" --alluredir allure-results -q -rN
red=$?
set -e
if [ "$red" -ne 1 ]; then
  echo "expected the acceptance run to fail on the injected faults (pytest rc 1), got rc $red" >&2
  exit 1
fi

say "remediation run: expected GREEN"
$pytest features/ --inventory "$lab_inventory" --remediate --alluredir allure-results -q -rN

say "second remediation run: expected nothing to apply"
out=$($pytest features/ --inventory "$lab_inventory" --remediate -q -rN 2>&1) || { echo "$out"; exit 1; }
echo "$out" | tail -n 3
if grep -q "stackproof remediations" <<<"$out"; then
  echo "the second run applied remediations: not idempotent" >&2
  exit 1
fi

say "reboot every host of the lab (stop, flush, boot from its files), then acceptance: expected GREEN"
# as an operator would: the time server's host first (its clients' chronyd start after it
# and sync with iburst), then the other physical hosts (a hypervisor takes its guests with
# it), then the instances
hosts=$("$venv/bin/python" - "$lab_inventory" <<'PY'
import sys
from stackproof.site import load_site
site = load_site(sys.argv[1])
first = site.time.server if site.time else None
first = site.hypervisor_of(first) or first if first else None
physical = sorted(site.physical_hosts(), key=lambda h: h != first)
print(" ".join([*physical, *site.instances()]))
PY
)
sp lab reboot $hosts "${where[@]}"
$pytest features/ --inventory "$lab_inventory" -q -rN

say "Allure report"
./scripts/allure-report.sh
