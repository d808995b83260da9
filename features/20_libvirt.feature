@underlay
Feature: libvirt NAT networks and guests
  Each physical host keeps its libvirt NAT network up as the inventory defines it,
  hands every guest its reserved address, and runs its guests.

  @role:hypervisor
  Scenario: The NAT networks are up
    Given the host is reachable over SSH
    Then each NAT network is defined, active and autostarted

  @role:hypervisor
  Scenario: The NAT networks are defined as the inventory says
    Given the host is reachable over SSH
    Then each NAT network forwards with nat on the inventory's bridge, gateway and DHCP range

  @role:hypervisor
  Scenario: Every guest keeps its address
    Given the host is reachable over SSH
    Then every guest has its fixed DHCP reservation

  @role:hypervisor
  Scenario: The guests are running
    Given the host is reachable over SSH
    Then every guest domain is running

  @needs:openstack
  Scenario: The external gateway address is on the host bridge
    Then the external gateway address is on the inventory's host bridge
