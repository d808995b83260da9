#!/usr/bin/env bash
# `make demo`: build the seed site as a lab, inject the field report's faults, check it
# (red), fix it (green), fix it again (nothing to apply), reboot every host and check it once
# more (green: the fixes persist), and write the Allure HTML report with the site picture.
# The lab is taken down at the end, whatever happens.
# DEMO_STATE_DIR=DIR keeps the lab's state in DIR instead of the default state directory.
set -euo pipefail
cd "$(dirname "$0")/.."
inventory=${1:-inventories/seed.yml}
venv=${DEMO_VENV:-.venv}
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

rm -rf allure-results allure-report demo-out
mkdir -p demo-out
# the operator's commands (stackproof check/fix): their exit codes and compliance JSON say
# what happened; each run is its own Allure environment (--run-label), not a retry
run() {  # run EXPECTED_EXIT MODE LABEL
  local want=$1 mode=$2 label=$3 rc=0
  sp "$mode" --inventory "$lab_inventory" --json "demo-out/$label.json" -- \
    --alluredir allure-results --run-label "$label" -q -rN || rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "expected \`stackproof $mode\` to exit $want here, got $rc" >&2
    exit 1
  fi
}

say "acceptance run: expected RED (exit 1: findings left)"
run 1 check acceptance

say "remediation run: expected GREEN (exit 3: was red, remediated, green now)"
run 3 fix remediation

say "second remediation run: expected nothing to apply (exit 0: healthy)"
run 0 fix idempotence
"$venv/bin/python" - <<'PY'
import json, sys
again = json.load(open("demo-out/idempotence.json"))
applied = again["remediations"]["remediated"]
if applied:
    sys.exit(f"the second run applied {applied} remediation(s): not idempotent")
print(f"second run: {again['totals']}, nothing applied")
PY

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
run 0 check after-reboot

say "Allure report and the site picture"
./scripts/allure-report.sh
sp picture --inventory "$inventory" --json demo-out/acceptance.json -o allure-report/site-before.svg
sp picture --inventory "$inventory" --json demo-out/after-reboot.json -o allure-report/site.svg
