@openstack @needs:openstack
Feature: OpenStack services and networks
  Every compute host runs nova-compute, enabled, up and mapped to a cell; every Neutron
  agent the site needs is alive; the external network is the flat provider network the
  inventory names, clear of every libvirt NAT range (its gateway on the host bridge is
  checked with the libvirt networks);
  the router leaves through it; Glance and Placement answer at their catalog endpoints
  (every server operation needs both); and every instance has its port bound to its compute host
  (binding:host_id, which makes that host's agent wire it) and its floating IP.

  @role:nova_compute @check:openstack.nova-compute-up
  Scenario: nova-compute is enabled and up on every compute host
    Given the cloud answers
    Then nova-compute is enabled and up on the host
    And the host is mapped to a cell as a hypervisor

  @role:neutron_agent @check:openstack.neutron-agents-alive
  Scenario: Every expected neutron agent is alive and UP
    Given the cloud answers
    Then every expected neutron agent on the host is alive and UP

  @check:openstack.external-network
  Scenario: The external network is flat and external with the expected addresses
    Given the cloud answers
    Then the external network is flat and external with the expected CIDR, gateway and pool

  @check:openstack.no-nat-overlap
  Scenario: No OpenStack subnet overlaps a libvirt NAT range
    Given the cloud answers
    Then no external or tenant subnet overlaps a libvirt NAT network

  @check:openstack.server-services
  Scenario: The image and placement services answer, so servers can be booted
    Given the cloud answers
    Then the catalog's image and placement services answer

  @check:openstack.router-gateway
  Scenario: The router leaves through the external network
    Given the cloud answers
    Then the router's external gateway is the external network

  @role:instance @check:openstack.floating-ip-attached
  Scenario: Every expected floating IP is attached to its instance
    Given the cloud answers
    Then the instance's port is bound to its compute host
    And the instance's floating IP is attached to its port
