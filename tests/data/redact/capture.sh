#!/usr/bin/env bash
# Capture real lab-style outputs for tests/unit/test_redact.py's no-false-positive checks.
# Runs as root. Everything happens in a throwaway network namespace + private mount
# namespace (its own /etc/frr and /run/frr): the root namespace's routes and firewall are
# only read by nobody and touched by nothing. Cleans up on exit, even on failure.
set -euo pipefail
out=$(cd "$(dirname "$0")" && pwd)
ns="spredact-$$"
ip netns add "$ns"
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
ip netns exec "$ns" unshare --mount --uts --propagation private -- bash -euo pipefail -c '
  out=$1
  d=$(mktemp -d)
  trap "kill \$(cat $d/run/zebra.pid $d/run/bgpd.pid 2>/dev/null) 2>/dev/null || true; umount /etc/frr /run/frr /var/run/frr 2>/dev/null || true; rm -rf $d" EXIT
  mkdir -p "$d/etc" "$d/run"
  hostname compute-2-host
  cat > "$d/etc/frr.conf" <<CONF
frr defaults traditional
hostname compute-2-host
log syslog informational
service integrated-vtysh-config
!
ip prefix-list UNDERLAY seq 5 permit 10.10.10.0/24 le 32
!
route-map PERMIT-ALL permit 10
!
router bgp 65003
 bgp router-id 10.10.10.3
 no bgp ebgp-requires-policy
 timers bgp 3 9
 neighbor 10.10.10.1 remote-as 65001
 neighbor 10.10.10.1 password Bgp-MD5-s3cret
 neighbor 10.10.10.2 remote-as 65002
 neighbor 10.10.10.2 description kubernetes-host
 !
 address-family ipv4 unicast
  network 45.120.120.0/24
  neighbor 10.10.10.1 route-map PERMIT-ALL in
  neighbor 10.10.10.1 route-map PERMIT-ALL out
  neighbor 10.10.10.2 route-map PERMIT-ALL in
  neighbor 10.10.10.2 route-map PERMIT-ALL out
 exit-address-family
exit
!
line vty
!
CONF
  printf "service integrated-vtysh-config\n" > "$d/etc/vtysh.conf"
  cp /etc/frr/daemons "$d/etc/daemons"
  chown -R frr:frr "$d/etc" "$d/run"
  mount --bind "$d/etc" /etc/frr
  mount --bind "$d/run" /run/frr
  [ /var/run/frr -ef /run/frr ] || mount --bind "$d/run" /var/run/frr
  ip link set lo up
  ip link add enp2s0 type veth peer name peer0
  ip addr add 10.10.10.3/24 dev enp2s0
  ip link add virbr10 type bridge
  ip link add vnet0 type veth peer name vnet0-p
  ip link set vnet0 master virbr10
  ip addr add 45.120.120.1/24 dev virbr10
  for l in enp2s0 peer0 virbr10 vnet0 vnet0-p; do ip link set "$l" up; done
  /usr/lib/frr/zebra -d -A 127.0.0.1 -i /run/frr/zebra.pid
  /usr/lib/frr/bgpd -d -A 127.0.0.1 -i /run/frr/bgpd.pid -f /etc/frr/frr.conf
  for _ in $(seq 50); do vtysh -c "show bgp summary json" >/dev/null 2>&1 && break; sleep 0.1; done
  vtysh -c "show running-config" > "$out/vtysh-show-running-config.txt"
  vtysh -c "show bgp neighbors json" > "$out/vtysh-show-bgp-neighbors.json"
  # the report'"'"'s iptables fixes on compute-2-host (NAT for the libvirt network, FORWARD)
  iptables -t nat -A POSTROUTING -s 45.120.120.0/24 ! -d 45.120.120.0/24 -j MASQUERADE
  iptables -A FORWARD -i enp2s0 -o virbr10 -d 45.120.120.0/24 -j ACCEPT
  iptables -A FORWARD -i virbr10 -o enp2s0 -s 45.120.120.0/24 -j ACCEPT
  iptables -A INPUT -p tcp -m tcp --dport 179 -m comment --comment "bgp from underlay" -j ACCEPT
  iptables -A INPUT -p udp -m udp --dport 4789 -j ACCEPT
  iptables-save > "$out/iptables-save.txt"
  ip -j addr show > "$out/ip-j-addr.json"
  ip -j route show > "$out/ip-j-route.json"
' _ "$out"
echo "captured into $out"
