@underlay
Feature: BGP underlay
  The physical hosts reach each other's NAT networks through FRR: every BGP host peers with
  every other over the underlay (iBGP in one AS, or eBGP with an AS per host), announces
  its connected networks, and installs the others' as BGP routes. Static routes from before
  BGP must be gone, and FRR must hold the BGP settings rendered from the inventory, in memory
  and on disk. The operator's own FRR configuration (other route-maps and prefix-lists,
  static routes, logging, OSPF, BFD, VRFs, neighbor passwords) is kept and listed in the
  report as "unmanaged configuration (kept)"; neighbors the inventory does not have are
  stale and removed. A host routes only with IPv4 forwarding on: that is the kernel's
  setting, checked on its own.

  Background:
    Given the host is reachable over SSH

  @role:bgp @check:bgp.frr-running
  Scenario: FRR runs with bgpd enabled
    Then /etc/frr/daemons enables bgpd
    And FRR runs with watchfrr, zebra and bgpd

  @role:bgp @check:bgp.config-matches
  Scenario: FRR holds the BGP settings rendered from the inventory
    Then /etc/frr/frr.conf holds the BGP settings rendered from the inventory
    And the running FRR configuration holds the BGP settings rendered from the inventory

  @role:bgp @check:bgp.ip-forward
  Scenario: The host forwards IPv4 between the underlay and its networks
    Then the kernel forwards IPv4, and no sysctl file turns it off at boot

  @role:bgp @check:bgp.neighbors-established
  Scenario: Every BGP session is Established
    Then every BGP neighbor the inventory expects is Established

  @role:bgp @check:bgp.prefixes-learned
  Scenario: The other hosts' networks are learned over BGP
    Then every other BGP host's networks are kernel routes learned over BGP via that host's underlay address

  @role:bgp @check:bgp.no-static-shadow
  Scenario: No leftover static route overrides BGP
    Then no static route overrides a prefix that BGP provides
