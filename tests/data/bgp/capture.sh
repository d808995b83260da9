#!/usr/bin/env bash
# Capture real FRR 8.4 outputs for tests/unit/test_bgp.py from the seed site's BGP hosts.
#
#   sudo tests/data/bgp/capture.sh            # build, capture every case, tear down
#   sudo tests/data/bgp/capture.sh up DIR     # only build (for poking around), state in DIR
#   sudo tests/data/bgp/capture.sh down DIR   # tear down what `up DIR` built
#
# Each BGP host of inventories/seed.yml becomes a network namespace plus a private mount/UTS/
# PID namespace (own /etc/frr, /run, /tmp, hostname), wired to a switch namespace by veth; its NAT
# networks are bridges with a veth port. FRR runs from the stock init script with the
# INTENDED frr.conf rendered by stackproof.render.frr. Commands are the exact commands of
# stackproof/facts/frr.py and routes.py and the reload of remediations/frr_config.py (read
# from the modules). Nothing touches the root namespace's routes or firewall; every namespace
# and process is removed on exit, even on failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
py="$repo/.venv/bin/python"
export PYTHONPATH="$repo"
inv="$repo/inventories/seed.yml"

hosts_json() {   # name iface addr/len and "bridge gw/len ..." per BGP host, one per line
  "$py" - "$inv" <<'PY'
import sys
from stackproof.site import load_site
from stackproof.expect import bgp_hosts
s = load_site(sys.argv[1])
for n in bgp_hosts(s):
    h = s.hosts[n]
    nets = [f"{nw.bridge} {nw.gateway}/{nw.cidr.prefixlen}" for nw in h.nat_networks]
    ext = s.openstack.external_network if s.openstack else None
    if ext and ext.gateway_on.host == n:
        nets.append(f"{ext.gateway_on.bridge} {ext.gateway}/{ext.cidr.prefixlen}")
    print(n, h.underlay.interface, f"{h.underlay.address}/{s.underlay_cidr.prefixlen}",
          *[x for pair in nets for x in pair.split()])
PY
}

CMDS=$(mktemp -d /tmp/spbgp-cmds.XXXXXX)     # each command string computed once
value_of() {   # value_of MODULE EXPR: the value of MODULE.EXPR
  local f; f="$CMDS/$(printf '%s %s' "$1" "$2" | md5sum | cut -c1-16)"
  [ -e "$f" ] || "$py" -c "import $1 as m; print(m.$2)" > "$f"
  cat "$f"
}
fact_cmd() { value_of "stackproof.facts.${2:-frr}" "$1"; }  # fact_cmd EXPR [MODULE (frr)]
fix_cmd() { value_of remediations.frr_config "$1"; }  # a command of the frr_config fix

ns_of() { echo "spbgp-$(cat "$1/tag")-$2"; }
pid_of() { cat "$1/$2.pid"; }
inhost() { local dir=$1 h=$2; shift 2; nsenter -t "$(pid_of "$dir" "$h")" -m -u -n -p -- "$@"; }

up() {
  local dir=$1 tag i=0
  mkdir -p "$dir"; tag=$(printf '%x' $$); echo "$tag" > "$dir/tag"
  hosts_json > "$dir/hosts"
  local sw; sw=$(ns_of "$dir" switch)
  ip netns add "$sw"; echo "$sw" >> "$dir/netns"
  ip -n "$sw" link add br0 type bridge; ip -n "$sw" link set br0 up
  while read -r name iface addr rest; do
    i=$((i + 1))
    local ns; ns=$(ns_of "$dir" "$name")
    ip netns add "$ns"; echo "$ns" >> "$dir/netns"
    local r="$dir/$name"; mkdir -p "$r/etc" "$r/log"
    cp -a /etc/frr/. "$r/etc/"
    sed -i 's/^bgpd=.*/bgpd=yes/' "$r/etc/daemons"
    "$py" -c "import sys; from stackproof.site import load_site; from stackproof.render.frr import render_frr_conf; sys.stdout.write(render_frr_conf(load_site(sys.argv[1]), sys.argv[2]))" "$inv" "$name" > "$r/etc/frr.conf"
    chown -R frr:frr "$r/etc" "$r/log"; chmod 640 "$r/etc/frr.conf"
    ip -n "$sw" link add "p$i" type veth peer name "$iface" netns "$ns"
    ip -n "$sw" link set "p$i" master br0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$addr" dev "$iface"; ip -n "$ns" link set "$iface" up
    set -- $rest
    while [ $# -ge 2 ]; do
      ip -n "$ns" link show "$1" >/dev/null 2>&1 || {
        ip -n "$ns" link add "$1" type bridge
        ip -n "$ns" link add "v$1" type veth peer name "v$1-p"   # a port gives the bridge carrier
        ip -n "$ns" link set "v$1" master "$1" up; ip -n "$ns" link set "v$1-p" up
        ip -n "$ns" link set "$1" up; }
      ip -n "$ns" addr add "$2" dev "$1"; shift 2
    done
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
    # the host's init: private /etc/frr, /run, /var/log/frr and hostname, then wait
    cat > "$r/init.sh" <<EOF
mount --bind '$r/etc' /etc/frr
mount -t tmpfs -o mode=755 tmpfs /run
mount --bind '$r/log' /var/log/frr
mount -t tmpfs tmpfs /var/tmp/frr
mount -t tmpfs tmpfs /tmp
hostname '$name'
touch /run/.ready
# PID 1 of the namespace: \`wait\` reaps the daemons orphaned to it (like the lab's init)
trap 'exit 0' TERM INT
while :; do sleep 3600 & wait \$! || true; done
EOF
    ip netns exec "$ns" unshare --mount --uts --pid --fork --mount-proc --propagation private \
      -- sh "$r/init.sh" </dev/null >"$r/init.log" 2>&1 &
    echo $! > "$dir/$name.holder"
  done < "$dir/hosts"
  while read -r name _; do           # the namespace's init is the holder's only child
    local holder; holder=$(cat "$dir/$name.holder") child=""
    for _ in $(seq 100); do
      child=$(cat /proc/"$holder"/task/*/children 2>/dev/null | tr -d ' ')
      [ -n "$child" ] && nsenter -t "$child" -m -- test -e /run/.ready 2>/dev/null && break
      sleep 0.05
    done
    echo "$child" > "$dir/$name.pid"
    inhost "$dir" "$name" /usr/lib/frr/frrinit.sh start >"$dir/$name/frr-start.log" 2>&1
  done < "$dir/hosts"
}

down() {
  local dir=$1
  [ -d "$dir" ] || return 0
  for f in "$dir"/*.pid; do [ -e "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true; done
  for f in "$dir"/*.holder; do [ -e "$f" ] && wait "$(cat "$f")" 2>/dev/null || true; done
  if [ -e "$dir/netns" ]; then
    while read -r ns; do ip netns del "$ns" 2>/dev/null || true; done < "$dir/netns"
  fi
  rm -rf "$dir"
}

# wait_for DIR HOST SECS COND WHAT: poll COND (shell, run inside HOST) every 0.1 s
wait_for() {
  local dir=$1 h=$2 secs=$3 cond=$4 what=$5 t0; t0=$(date +%s%N)
  while [ $(( ($(date +%s%N) - t0) / 1000000000 )) -lt "$secs" ]; do
    if inhost "$dir" "$h" sh -c "$cond" >/dev/null 2>&1; then
      echo "$h: $what after $(( ($(date +%s%N) - t0) / 1000000 )) ms"; return 0
    fi
    sleep 0.1
  done
  echo "$h: timed out after $secs s waiting for: $what" >&2; return 1
}

# shell conditions for wait_for
n_established() { echo "vtysh -c 'show bgp neighbors json' | grep -c '\"bgpState\":\"Established\"'"; }
converged() {    # N neighbors Established and at least M BGP routes in the kernel
  echo "[ \$($(n_established)) -eq $1 ] && [ \$(ip -4 route show proto bgp | wc -l) -ge $2 ]"; }

# capture DIR CASE HOST NAME COMMAND: stdout to CASE/HOST/NAME, stderr and rc beside it
capture() {
  local dir=$1 case=$2 h=$3 name=$4 cmd=$5 o="$here/$2/$3" rc=0
  mkdir -p "$o"
  inhost "$dir" "$h" sh -c "$cmd" >"$o/$name" 2>"$o/$name.stderr" || rc=$?
  [ -s "$o/$name.stderr" ] || rm -f "$o/$name.stderr"
  [ "$rc" = 0 ] || echo "$rc" > "$o/$name.rc"
  printf '%s: %s\n' "$name" "$cmd" >> "$o/COMMANDS"
}

capture_fast() {  # the moving facts first: the sessions and the daemons' pids and ages
  local dir=$1 case=$2 h=$3
  capture "$dir" "$case" "$h" show-bgp-neighbors.json "$(fact_cmd NEIGHBORS_CMD)"
  capture "$dir" "$case" "$h" processes "$(fact_cmd PROCESSES_CMD)"
}

# capture_all DIR CASE HOST [rest]: every fact command of stackproof/facts/frr.py (and the
# kernel routes) on one host; with `rest`, all but capture_fast's (already captured)
capture_all() {
  local dir=$1 case=$2 h=$3
  if [ "${4:-}" != rest ]; then
    rm -rf "${here:?}/$case/$h"
    capture_fast "$dir" "$case" "$h"
  fi
  capture "$dir" "$case" "$h" daemons "$(fact_cmd DAEMONS_CMD)"
  capture "$dir" "$case" "$h" ip-route.json "$(fact_cmd KERNEL_ROUTES_CMD routes)"
  capture "$dir" "$case" "$h" show-ip-route-bgp.json "$(fact_cmd BGP_RIB_CMD)"
  capture "$dir" "$case" "$h" show-running-config "$(fact_cmd RUNNING_CONFIG_CMD)"
  capture "$dir" "$case" "$h" frr.conf "$(fact_cmd CONFIG_FILE_CMD)"
  # frr-reload's view against the intended file (the check writes it to a temp file too)
  inhost "$dir" "$h" sh -c "cat > /tmp/intended.conf" < "$dir/$h/intended.conf"
  capture "$dir" "$case" "$h" frr-reload-test "$(fact_cmd "reload_test_command('/tmp/intended.conf')")"
  # and against frr.conf (`--input`): the same referee for the file
  capture "$dir" "$case" "$h" frr-reload-test-input "$(fact_cmd "reload_test_command('/tmp/intended.conf', running='/etc/frr/frr.conf')")"
}

learned_count() {
  "$py" -c "import sys; from stackproof.site import load_site; from stackproof.expect import learned_prefixes; print(len(learned_prefixes(load_site(sys.argv[1]), sys.argv[2])))" "$inv" "$1"
}

main() {
  local dir; dir=$(mktemp -d /tmp/spbgp.XXXXXX)
  trap "down '$dir'; rm -rf '$CMDS'" EXIT
  local t0; t0=$(date +%s%N)
  up "$dir"
  mapfile -t names < <(cut -d' ' -f1 "$dir/hosts")
  local a=${names[0]} b=${names[1]} c=${names[2]} peers=$(( ${#names[@]} - 1 ))
  declare -A routes
  for h in "${names[@]}"; do
    cp "$dir/$h/etc/frr.conf" "$dir/$h/intended.conf"; routes[$h]=$(learned_count "$h")
  done
  local asn; asn=$(awk '/^router bgp/ {print $3}' "$dir/$a/intended.conf")
  local b_addr; b_addr=$(awk -v n="$b" '$1 == n {split($3, x, "/"); print x[1]}' "$dir/hosts")

  # 1. healthy: the intended config everywhere, sessions Established, routes installed
  for h in "${names[@]}"; do
    wait_for "$dir" "$h" 30 "$(converged $peers "${routes[$h]}")" \
      "bring-up ($(( ($(date +%s%N) - t0) / 1000000 )) ms since start): $peers Established + ${routes[$h]} routes"
  done
  for h in "${names[@]}"; do capture_all "$dir" healthy "$h"; done

  # 2. bgpd=no in one host's daemons file + `frrinit.sh reload`: its peers go Active
  inhost "$dir" "$c" sed -i 's/^bgpd=.*/bgpd=no/' /etc/frr/daemons
  inhost "$dir" "$c" /usr/lib/frr/frrinit.sh reload >"$dir/reload.log" 2>&1
  # FRR cycles Idle -> Connect -> Active while the peer refuses; capture the steady Active
  wait_for "$dir" "$a" 20 "vtysh -c 'show bgp neighbors json' | grep -q '\"bgpState\":\"Active\"'" "a peer Active"
  capture_all "$dir" bgpd-off "$a"; capture_all "$dir" bgpd-off "$c"
  inhost "$dir" "$c" sed -i 's/^bgpd=.*/bgpd=yes/' /etc/frr/daemons
  inhost "$dir" "$c" /usr/lib/frr/frrinit.sh restart >"$dir/restart.log" 2>&1
  # 2b. right after that restart: bgpd seconds old, its sessions not Established yet
  rm -rf "${here:?}/bgpd-restarted"
  for h in "$c" "$a" "$b"; do capture_fast "$dir" bgpd-restarted "$h"; done
  for h in "$c" "$a" "$b"; do capture_all "$dir" bgpd-restarted "$h" rest; done
  wait_for "$dir" "$a" 30 "$(converged $peers "${routes[$a]}")" "bgpd=yes + frrinit.sh restart on $c: Established + routes"

  # 3. a wrong remote-as for one neighbor (vtysh, running config only): 'Bad Peer AS'
  inhost "$dir" "$a" vtysh -c 'configure terminal' -c "router bgp $asn" \
    -c "neighbor $b_addr remote-as $((asn + 99))"
  wait_for "$dir" "$b" 20 "vtysh -c 'show bgp neighbors json' | grep -q 'Bad Peer AS' && vtysh -c 'show bgp neighbors json' | grep -q '\"bgpState\":\"Idle\"'" "Idle after Bad Peer AS"
  capture_all "$dir" wrong-remote-as "$a"; capture_all "$dir" wrong-remote-as "$b"
  inhost "$dir" "$a" sh -c "$(fix_cmd 'reload_command()')" >"$dir/fix.log" 2>&1
  wait_for "$dir" "$b" 30 "$(converged $peers "${routes[$b]}")" "frr-reload.py --reload on $a: Established + routes on $b"

  # 4. drift: next-hop-self and redistribute connected removed by hand
  inhost "$dir" "$a" vtysh -c 'configure terminal' -c "router bgp $asn" \
    -c 'address-family ipv4 unicast' -c "no neighbor $b_addr next-hop-self" \
    -c 'no redistribute connected'
  capture_all "$dir" drift "$a"
  inhost "$dir" "$a" sh -c "$(fix_cmd 'reload_command()')" >"$dir/fix.log" 2>&1
  wait_for "$dir" "$b" 30 "$(converged $peers "${routes[$b]}")" "drift reloaded away: routes back on $b"

  # 5. a neighbor removed by hand
  inhost "$dir" "$a" vtysh -c 'configure terminal' -c "router bgp $asn" -c "no neighbor $b_addr"
  wait_for "$dir" "$b" 20 "vtysh -c 'show bgp neighbors json' | grep -q '\"bgpState\":\"Active\"'" "session to $a Active"
  capture_all "$dir" neighbor-removed "$a"; capture_all "$dir" neighbor-removed "$b"
  inhost "$dir" "$a" sh -c "$(fix_cmd 'reload_command()')" >"$dir/fix.log" 2>&1
  wait_for "$dir" "$b" 30 "$(converged $peers "${routes[$b]}")" "neighbor reloaded back: Established + routes on $b"

  # 6. a leftover static route for a prefix BGP provides (the report's old routes)
  local pfx via
  read -r pfx via < <("$py" -c "import sys; from stackproof.site import load_site; from stackproof.expect import learned_prefixes; p = learned_prefixes(load_site(sys.argv[1]), sys.argv[2])[0]; print(p.prefix, p.via)" "$inv" "$a")
  inhost "$dir" "$a" ip route add "$pfx" via "$via"
  wait_for "$dir" "$a" 10 "! ip -4 route show proto bgp | grep -q '^$pfx '" "zebra withdrew its $pfx from the kernel"
  capture_all "$dir" static-shadow "$a"
  local del; del=$("$py" -c "import sys, json; from remediations.static_route import delete_command; from stackproof.facts.routes import parse_kernel_routes; r = [x for x in parse_kernel_routes(open(sys.argv[1]).read()) if x.dst == sys.argv[2] and x.protocol == 'boot'][0]; print(delete_command({'dst': r.dst, 'gateways': list(r.gateways), 'dev': r.dev, 'protocol': r.protocol, 'metric': r.metric}))" "$here/static-shadow/$a/ip-route.json" "$pfx")
  inhost "$dir" "$a" sh -c "$del"
  wait_for "$dir" "$a" 10 "ip -4 route show proto bgp | grep -q '^$pfx '" "\`$del\`: BGP route back"

  # 7. FRR stopped altogether (`frrinit.sh stop`): vtysh reaches no daemon
  inhost "$dir" "$c" /usr/lib/frr/frrinit.sh stop >"$dir/stop.log" 2>&1
  capture_all "$dir" frr-stopped "$c"
  inhost "$dir" "$c" /usr/lib/frr/frrinit.sh start >"$dir/start.log" 2>&1
  wait_for "$dir" "$c" 30 "$(converged $peers "${routes[$c]}")" "frrinit.sh start on $c: Established + routes"

  # 8. a network down on its host (the external gateway address removed): nothing to announce
  local gh gbr gcidr gnet
  read -r gh gbr gcidr gnet < <("$py" -c "import sys; from stackproof.site import load_site; e = load_site(sys.argv[1]).openstack.external_network; print(e.gateway_on.host, e.gateway_on.bridge, f'{e.gateway}/{e.cidr.prefixlen}', e.cidr)" "$inv")
  inhost "$dir" "$gh" ip addr del "$gcidr" dev "$gbr"
  wait_for "$dir" "$b" 10 "! ip -4 route show proto bgp | grep -q '^$gnet '" "$gnet withdrawn"
  capture_all "$dir" network-down "$gh"; capture_all "$dir" network-down "$b"
  inhost "$dir" "$gh" ip addr add "$gcidr" dev "$gbr"
  wait_for "$dir" "$b" 10 "ip -4 route show proto bgp | grep -q '^$gnet '" "$gnet back"

  # 9. frr.conf validation with `vtysh -C -f` (the frr_config remediation's check)
  rm -rf "${here:?}/validate"; mkdir -p "$here/validate"
  printf 'router bgp %s\n neighbor %s remote-az %s\n' "$asn" "$b_addr" "$asn" > "$here/validate/bad.conf"
  inhost "$dir" "$a" sh -c "cat > /tmp/bad.conf" < "$here/validate/bad.conf"
  capture "$dir" validate "$a" vtysh-C-bad "vtysh -C -f /tmp/bad.conf"
  capture "$dir" validate "$a" vtysh-C-intended "vtysh -C -f /etc/frr/frr.conf"
  echo "captured into $here in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
}

case "${1:-all}" in
  up) trap "rm -rf '$CMDS'" EXIT; up "$2";;
  down) trap "rm -rf '$CMDS'" EXIT; down "$2";;
  all) main;;
  *) echo "usage: $0 [up DIR | down DIR]" >&2; exit 2;;
esac
