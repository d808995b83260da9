#!/usr/bin/env bash
# Capture real `iptables-save` outputs for tests/unit/test_firewall.py.
#
# Each host is a throwaway network namespace (spfw-<host>-<pid>) with private mount and PID
# namespaces: a real libvirtd (libvirt 9, private /etc/libvirt, /var/lib/libvirt, /run)
# starts the host's NAT network and writes its own LIBVIRT_* chains, then the field report's
# own iptables commands are applied and the ruleset is saved at each stage. The root
# namespace's firewall is never read or touched; every namespace and process (libvirtd,
# dnsmasq: they live in the host's PID namespace) is gone when the script exits.
#
#   sudo tests/data/firewall/capture.sh          # rewrites tests/data/firewall/*.txt
set -euo pipefail

ipt() { echo "+ iptables $*" >&2; iptables "$@"; }

start_libvirtd() {
  # private libvirt state: the machine's config, no networks, nothing of the machine's /run
  local d=$1
  mkdir -p "$d/etc" "$d/varlib" "$d/log" "$d/cache"
  cp -a /etc/libvirt/. "$d/etc/"
  rm -rf "$d/etc/qemu/networks" && mkdir -p "$d/etc/qemu/networks"
  (cd /var/lib/libvirt && find . -type d) | (cd "$d/varlib" && xargs mkdir -p)
  mount --bind "$d/etc" /etc/libvirt
  mount --bind "$d/varlib" /var/lib/libvirt
  mount --bind "$d/log" /var/log/libvirt
  mount --bind "$d/cache" /var/cache/libvirt
  mount -t tmpfs tmpfs /run                    # no dbus here: libvirt drives iptables itself
  mkdir -p /run/libvirt /run/lock
  libvirtd --daemon --pid-file=/run/libvirt/libvirtd.pid
  local deadline=$((SECONDS + 30))
  until virsh -c qemu:///system version >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { echo "libvirtd did not answer in 30 s" >&2; exit 1; }
    sleep 0.1
  done
}

nat_network() {   # name bridge gateway prefix-len dhcp-start dhcp-end
  cat > /tmp/net.xml <<XML
<network><name>$1</name><forward mode="nat"/><bridge name="$2" stp="on" delay="0"/>
<ip address="$3" prefix="$4"><dhcp><range start="$5" end="$6"/></dhcp></ip></network>
XML
  virsh -c qemu:///system net-define /tmp/net.xml >/dev/null
  virsh -c qemu:///system net-start "$1" >/dev/null
}

save() {   # file [iptables-save options]; stderr (its warnings) kept next to it when any
  local err="$out/${1%.txt}.stderr.txt"
  iptables-save "${@:2}" > "$out/$1" 2> "$err"
  [ -s "$err" ] || rm -f "$err"
  echo "captured $1" >&2
}

inside() {   # runs as PID 1 of the scratch host's PID namespace
  local host=$1
  out=$2
  # global: the EXIT trap runs after this function returned
  d=$(mktemp -d /tmp/spfw-root.XXXXXX)
  trap 'rm -rf "$d"' EXIT
  hostname "$host"
  ip link set lo up
  case "$host" in
    compute-2-host)
      start_libvirtd "$d"
      nat_network k3snat virbr10 45.120.120.1 24 45.120.120.100 45.120.120.200
      save compute-2-host.libvirt.txt
      # the report's commands for compute-2-host, verbatim (its closing list)
      ipt -I LIBVIRT_FWI 1 -s 10.10.10.0/24 -d 45.120.120.0/24 -j ACCEPT
      ipt -I LIBVIRT_FWO 1 -s 45.120.120.0/24 -d 10.10.10.0/24 -j ACCEPT
      ipt -I LIBVIRT_FWI 1 -s 10.10.10.0/24 -d 192.168.200.0/24 -j ACCEPT
      ipt -I FORWARD -s 192.168.200.0/24 -j ACCEPT
      ipt -I FORWARD -d 192.168.200.0/24 -m state --state RELATED,ESTABLISHED -j ACCEPT
      ipt -t nat -A POSTROUTING -s 192.168.200.0/24 -j MASQUERADE
      ipt -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
      ipt -A FORWARD -s 45.120.120.0/24 -j ACCEPT
      ipt -A FORWARD -d 45.120.120.0/24 -j ACCEPT
      ipt -t nat -A POSTROUTING -s 45.120.120.0/24 ! -d 10.10.10.0/24 -j MASQUERADE
      ipt -I INPUT -p udp --dport 4789 -j ACCEPT
      ipt -I FORWARD -p udp --dport 4789 -d 45.120.120.154 -j ACCEPT
      ipt -I FORWARD -p udp --sport 4789 -s 45.120.120.154 -j ACCEPT
      save compute-2-host.report.txt
      save compute-2-host.report-counters.txt -c
      # libvirt re-adds its own rules when the network restarts
      virsh -c qemu:///system net-destroy k3snat >/dev/null
      virsh -c qemu:///system net-start k3snat >/dev/null
      save compute-2-host.net-restarted.txt
      ;;
    openstack-host)
      start_libvirtd "$d"
      nat_network default virbr10 192.168.100.1 24 192.168.100.100 192.168.100.200
      ip addr add 192.168.200.1/24 dev virbr10      # the external network's gateway
      save openstack-host.libvirt.txt
      # the report's commands for openstack-host, verbatim (its closing list)
      ipt -I LIBVIRT_FWI 1 -s 10.10.10.0/24 -d 192.168.100.0/24 -j ACCEPT
      ipt -I LIBVIRT_FWI 1 -s 10.10.10.0/24 -d 192.168.200.0/24 -j ACCEPT
      ipt -I LIBVIRT_FWO 1 -s 192.168.100.0/24 -d 10.10.10.0/24 -j ACCEPT
      ipt -I FORWARD -s 192.168.200.0/24 -j ACCEPT
      ipt -I FORWARD -d 192.168.200.0/24 -m state --state RELATED,ESTABLISHED -j ACCEPT
      ipt -t nat -A POSTROUTING -s 192.168.200.0/24 -j MASQUERADE
      ipt -I INPUT -p udp --dport 4789 -j ACCEPT
      save openstack-host.report.txt
      # an operator who appends instead of inserting lands behind libvirt's REJECT
      ipt -D LIBVIRT_FWO -s 192.168.100.0/24 -d 10.10.10.0/24 -j ACCEPT
      ipt -A LIBVIRT_FWO -s 192.168.100.0/24 -d 10.10.10.0/24 -j ACCEPT
      save openstack-host.fwo-appended.txt
      ;;
    kubernetes-host)
      start_libvirtd "$d"
      nat_network default virbr0 172.20.112.1 24 172.20.112.100 172.20.112.200
      # the report's commands for kubernetes-host, verbatim
      ipt -I LIBVIRT_FWI 1 -s 10.10.10.0/24 -d 172.20.112.0/24 -j ACCEPT
      ipt -I LIBVIRT_FWO 1 -s 172.20.112.0/24 -d 10.10.10.0/24 -j ACCEPT
      save kubernetes-host.report.txt
      ;;
    compute2)
      save guest.empty.txt                          # a fresh host: no table loaded yet
      ipt -I INPUT -p udp --dport 4789 -j ACCEPT    # the report's command for the KVMs
      save guest.report.txt
      ipt -D INPUT -p udp --dport 4789 -j ACCEPT
      # Rocky's iptables-services default ruleset, then the VXLAN rule appended behind it
      ipt -A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT
      ipt -A INPUT -p icmp -j ACCEPT
      ipt -A INPUT -i lo -j ACCEPT
      ipt -A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT
      ipt -A INPUT -j REJECT --reject-with icmp-host-prohibited
      ipt -A FORWARD -j REJECT --reject-with icmp-host-prohibited
      ipt -A INPUT -p udp --dport 4789 -j ACCEPT
      save guest.rhel-appended.txt
      # a rule added with iptables-legacy is invisible to iptables(-nft)-save, which warns
      ipt -F INPUT && ipt -F FORWARD
      echo "+ iptables-legacy -I INPUT -p udp --dport 4789 -j ACCEPT" >&2
      iptables-legacy -I INPUT -p udp --dport 4789 -j ACCEPT
      save guest.legacy-warning.txt
      ;;
  esac
}

if [ "${1:-}" = "--inside" ]; then
  shift
  inside "$@"
  exit 0
fi

[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces)" >&2; exit 1; }
out=$(cd "$(dirname "$0")" && pwd)
self="$out/$(basename "$0")"
current=""
trap '[ -z "$current" ] || ip netns del "$current" 2>/dev/null || true' EXIT
for host in compute-2-host openstack-host kubernetes-host compute2; do
  current="spfw-${host}-$$"
  ip netns add "$current"
  ip netns exec "$current" unshare --mount --uts --pid --fork --mount-proc \
    --propagation private -- bash "$self" --inside "$host" "$out"
  ip netns del "$current"
  current=""
done
echo "captured into $out" >&2
