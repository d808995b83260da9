@underlay
Feature: libvirt NAT networks and guests
  Each physical host keeps its libvirt NAT network up as the inventory defines it,
  hands every guest its reserved address, and runs its guests.

  @role:hypervisor @check:libvirt.networks-active
  Scenario: The NAT networks are up
    Given the host is reachable over SSH
    Then each NAT network is defined, active and autostarted

  @role:hypervisor @check:libvirt.networks-defined
  Scenario: The NAT networks are defined as the inventory says
    Given the host is reachable over SSH
    Then each NAT network forwards with nat on the inventory's bridge, gateway and DHCP range

  @role:hypervisor @check:libvirt.dhcp-reservations
  Scenario: Every guest keeps its address
    Given the host is reachable over SSH
    Then every guest has its fixed DHCP reservation

  @role:hypervisor @check:libvirt.guests-running
  Scenario: The guests are running
    Given the host is reachable over SSH
    Then every guest domain is running

  @check:libvirt.external-gateway-address
  Scenario: The external gateway address is on the host bridge
    Then the external gateway address is on the inventory's host bridge
