@floating_ip @needs:openstack
Feature: Floating IPs across hosts (DVR)
  A floating IP lives on the external network, which sits on one hypervisor's NAT bridge,
  while its instance may run on a compute node behind another hypervisor. The hypervisor
  that fronts the external network routes the floating IP's /32 over the underlay to the
  compute's hypervisor; that one routes it on to the compute guest (more specific than the
  external /24 BGP brings, which points back where the packet came from); the compute node
  holds the floating IP on its external bridge, so its kernel accepts the packet and NAT
  hands it to the instance. The instance's own copy on lo is the Kubernetes layer's.

  Background:
    Given the host is reachable over SSH

  @role:fip_route @check:floating_ip.routes
  Scenario: Each floating IP is routed on towards its instance
    Then every floating IP routed through this host has its /32 route towards the next hop
    And those routes are kept for the next boot

  @role:fip_address @check:floating_ip.compute-address
  Scenario: The compute node accepts the floating IPs of its instances
    Then every floating IP of an instance on this compute node is on its external bridge

  @role:openstack_controller @check:floating_ip.controller-reach
  Scenario: The controller reaches every floating IP
    Then every floating IP of the site answers a ping

  @role:fip_front @check:floating_ip.front-reach
  Scenario: The host fronting the external network reaches every floating IP
    Then every floating IP of the site answers a ping
