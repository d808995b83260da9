@underlay
Feature: Cross-host reachability
  With the NAT networks up, BGP converged and libvirt's chains opened, every
  physical host reaches the other hosts' NAT networks and guests, and every host
  still has its way out. These pings run inside the site, host by host.

  Background:
    Given the host is reachable over SSH

  @role:physical @check:connectivity.nat-networks
  Scenario: Physical hosts reach each other's NAT networks
    Then it reaches every other host, their NAT gateways and guests, and the way out

  @role:guest @check:connectivity.guest-uplink
  Scenario: Guests have their way out through the NAT
    Then it reaches every other host, their NAT gateways and guests, and the way out
