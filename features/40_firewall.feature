@underlay
Feature: Firewall (iptables)
  libvirt's own chains reject forwarded traffic between the underlay and a NAT network
  unless an accept sits ahead of their REJECT, and libvirt puts its REJECT back on top
  whenever it restarts a network. The external network needs FORWARD accepts and
  MASQUERADE, the overlay's VXLAN traffic must get in (and through the host in front of a
  compute guest), and every rule must be saved, or it is gone after the next reboot.

  Background:
    Given the host is reachable over SSH

  @role:hypervisor @check:firewall.libvirt-accept
  Scenario: libvirt's chains let the underlay reach each NAT network and back
    Then libvirt's forward chains accept the underlay to and from each NAT network ahead of their REJECT

  @role:physical @check:firewall.external-forward
  Scenario: The external network is forwarded and masqueraded
    Then FORWARD accepts the external and compute NAT networks ahead of any rule that rejects, and nat POSTROUTING masquerades them

  @role:firewall @check:firewall.vxlan-accept
  Scenario: VXLAN between overlay nodes is accepted
    Then the overlay's VXLAN port is accepted in INPUT, and forwarded to and from compute guests behind this host

  @role:firewall @check:firewall.rules-saved
  Scenario: The firewall rules survive a reboot
    Then every expected rule is in the rules file the host loads at boot
