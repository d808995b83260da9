#!/usr/bin/env bash
# Capture a LIVED-IN FRR 8.4 (operator configuration the inventory does not describe) for the
# FRR ownership-scope tests (tests/unit/test_frr_scope.py).
#
#   sudo tests/data/bgp/lived-in/capture.sh
#
# Builds the seed site's BGP hosts with ../capture.sh (`up`: namespaces, the intended
# frr.conf, FRR from its own init script), then writes an operator's additions into the first
# two hosts' frr.conf by text (comments and the operator's own order kept): `log file`, a
# static route to Null0, prefix-lists, a route-map, a VRF block, `router bgp N vrf X`, OSPF,
# a BFD peer, and inside the inventory's `router bgp`: a neighbor password (both ends of one
# inventory session), description and bfd. ospfd, bfdd and staticd are enabled, FRR is
# restarted from its init script, and what FRR itself prints is saved:
#
#   healthy/<host>/frr.conf                 cat /etc/frr/frr.conf
#   healthy/<host>/show-running-config      vtysh -c 'show running-config'
#   healthy/<host>/intended.conf            the inventory's rendering (the referee's input)
#   healthy/<host>/frr-reload-test          frr-reload.py --test intended.conf
#   healthy/<host>/frr-reload-test-input    frr-reload.py --test --input /etc/frr/frr.conf intended.conf
#   healthy/<host>/show-bgp-neighbors.json  vtysh -c 'show bgp neighbors json'
#   healthy/<host>/processes, daemons       FRR's pid files / the daemons file (COMMANDS: each
#                                           file's exact command, from stackproof.facts.frr)
#   drift/<host>/...                        the same after drift in the running config (a stale
#                                           neighbor, no next-hop-self, other timers) and in the
#                                           file (no redistribute connected, a stale neighbor),
#                                           with forwarding switched off in the kernel
#   ip-forward/<host>/forwarding            the ip_forward fact's command (forwarding off)
#
# Values are the lab's (the inventory's and the documentation ranges), not scrubbed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../../.." && pwd)
py="$repo/.venv/bin/python"
export PYTHONPATH="$repo"
up=$here/../capture.sh
dir=$(mktemp -d /tmp/spfrr-lived.XXXXXX)
rmdir "$dir"
trap "'$up' down '$dir'" EXIT
"$up" up "$dir"

inhost() { local h=$1; shift; nsenter -t "$(cat "$dir/$h.pid")" -m -u -n -p -- "$@"; }
mapfile -t names < <(cut -d' ' -f1 "$dir/hosts")
a=${names[0]} b=${names[1]}
addr() { awk -v n="$1" '$1 == n {split($3, x, "/"); print x[1]}' "$dir/hosts"; }
a_addr=$(addr "$a") b_addr=$(addr "$b")
asn=$(awk '/^router bgp/ {print $3}' "$dir/$a/etc/frr.conf")
cidr=$(awk -v n="$a" '$1 == n {print $3}' "$dir/hosts")
fact() { "$py" -c "import stackproof.facts.frr as f, stackproof.facts.forwarding as g; print($1)"; }

wait_for() {   # wait_for HOST SECS COND WHAT
  local h=$1 secs=$2 cond=$3 what=$4 i
  for i in $(seq $((secs * 10))); do
    inhost "$h" sh -c "$cond" >/dev/null 2>&1 && { echo "$h: $what"; return 0; }
    sleep 0.1
  done
  echo "$h: timed out waiting for: $what" >&2; return 1
}
established() { echo "[ \$(vtysh -c 'show bgp neighbors json' | grep -c '\"bgpState\":\"Established\"') -ge $1 ]"; }

# operator additions: $1 host, $2 its peer on the password session
operator() {
  local h=$1 peer=$2 conf="$dir/$1/etc/frr.conf" tmp
  tmp=$(mktemp)
  # inside the inventory's router bgp, after the peer's own lines (FRR refuses a neighbor
  # attribute before its remote-as): password, description, bfd
  awk -v p="$peer" '{print} $0 == " neighbor " p " update-source " $4 {
      print " ! operator: MD5 on this session (the peer has the same key)"
      print " neighbor " p " password lab-md5-key"
      print " neighbor " p " description operator note: rack uplink"
      print " neighbor " p " bfd" }
    /^ timers bgp/ { print " bgp log-neighbor-changes" }' "$conf" > "$tmp"
  cat >> "$tmp" <<CONF
! --- operator configuration, not in the inventory ---
log file /var/log/frr/frr.log informational
ip route 203.0.113.0/24 Null0
ip prefix-list OPERATOR-IN seq 10 permit 198.51.100.0/24
ip prefix-list OPERATOR-IN seq 20 deny any
route-map OPERATOR-IN permit 10
 match ip address prefix-list OPERATOR-IN
 set local-preference 200
exit
!
vrf tenant-red
 ip route 192.0.2.0/24 Null0
exit-vrf
!
router bgp 64512 vrf tenant-red
 bgp router-id 192.0.2.1
exit
!
router ospf
 ospf router-id $(addr "$h")
 network $cidr area 0
exit
!
bfd
 peer $peer
 exit
exit
!
CONF
  cat "$tmp" > "$conf"; rm -f "$tmp"
  sed -i 's/^ospfd=.*/ospfd=yes/; s/^bfdd=.*/bfdd=yes/; s/^staticd=.*/staticd=yes/' "$dir/$h/etc/daemons"
  inhost "$h" /usr/lib/frr/frrinit.sh restart >"$dir/$h/restart.log" 2>&1
}

operator "$a" "$b_addr"
operator "$b" "$a_addr"
peers=$(( ${#names[@]} - 1 ))
wait_for "$a" 60 "$(established $peers)" "$peers sessions Established (password session included)"
wait_for "$b" 60 "$(established $peers)" "$peers sessions Established"

capture_case() {   # capture_case CASE HOST: stdout of each fact command, named in COMMANDS
  local o="$here/$1/$2"; rm -rf "$o"; mkdir -p "$o"
  "$py" -c "import sys; from stackproof.site import load_site; from stackproof.render.frr import render_frr_conf; sys.stdout.write(render_frr_conf(load_site(sys.argv[1]), sys.argv[2]))" "$repo/inventories/seed.yml" "$2" > "$o/intended.conf"
  inhost "$2" sh -c 'cat > /tmp/intended.conf' < "$o/intended.conf"
  cap() { inhost "$2" sh -c "$4" > "$o/$3" 2>/dev/null; printf '%s: %s\n' "$3" "$4" >> "$o/COMMANDS"; }
  cap "$1" "$2" frr.conf "$(fact f.CONFIG_FILE_CMD)"
  cap "$1" "$2" show-running-config "$(fact f.RUNNING_CONFIG_CMD)"
  cap "$1" "$2" show-bgp-neighbors.json "$(fact f.NEIGHBORS_CMD)"
  cap "$1" "$2" processes "$(fact f.PROCESSES_CMD)"
  cap "$1" "$2" daemons "$(fact f.DAEMONS_CMD)"
  cap "$1" "$2" frr-reload-test "$(fact "f.reload_test_command('/tmp/intended.conf')")"
  cap "$1" "$2" frr-reload-test-input "$(fact "f.reload_test_command('/tmp/intended.conf', running='/etc/frr/frr.conf')")"
}
capture_case healthy "$a"; capture_case healthy "$b"

# drift: running config (vtysh) and file (text), and forwarding off in the kernel
stale=$("$py" -c "import ipaddress, sys; print(ipaddress.ip_network(sys.argv[1], strict=False)[99])" "$cidr")
inhost "$a" vtysh -c 'configure terminal' -c "router bgp $asn" -c "neighbor $stale remote-as $asn" \
  -c 'timers bgp 5 15' -c 'address-family ipv4 unicast' -c "no neighbor $b_addr next-hop-self" \
  -c "neighbor $stale next-hop-self"
inhost "$a" sysctl -qw net.ipv4.ip_forward=0
sed -i "/^  redistribute connected/d; s/^ timers bgp .*/&\n neighbor $stale remote-as $asn/" "$dir/$a/etc/frr.conf"
wait_for "$a" 10 "vtysh -c 'show running-config' | grep -q '^no ip forwarding'" "zebra shows no ip forwarding"
capture_case drift "$a"
o="$here/ip-forward/$a"; rm -rf "$o"; mkdir -p "$o"
inhost "$a" sh -c "$(fact g.FORWARDING_CMD)" > "$o/forwarding"
echo "captured into $here"
