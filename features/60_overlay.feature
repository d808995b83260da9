@overlay
Feature: Open vSwitch overlay
  Every node with the Neutron Open vSwitch agent carries tenant traffic to every other such
  node through VXLAN: the agent's ini names the node's tunnel address, the tunnel bridge and
  the tunnel types; br-tun exists and is patched to br-int (without it, patch-tun reports
  "No usable peer 'patch-int' exists in 'system' datapath."); and br-tun holds one VXLAN
  port, from this node's address, to each node Neutron tunnels it to. Without l2_population
  that is every other node (a full mesh: the agent takes every endpoint the server knows).
  With l2_population it is every node that hosts a port on a network this node also hosts
  (the server sends tunnels only with forwarding entries for shared networks), read from the
  port bindings in Neutron's API. A missing tunnel is the agent's to build: the fix is its
  configuration, a restart, or the missing port binding, never a port added by hand.

  Background:
    Given the host is reachable over SSH

  @role:ovs_agent @check:overlay.agent-config
  Scenario: The OVS agent is configured for the overlay
    Then openvswitch_agent.ini sets local_ip, tunnel_bridge and tunnel_types from the inventory

  @role:l2_population @check:overlay.l2-population
  Scenario: The OVS agent uses l2_population where the inventory asks for it
    Then openvswitch_agent.ini enables l2_population

  @role:ovs_agent @check:overlay.tunnel-bridge
  Scenario: The tunnel bridge exists and is patched to the integration bridge
    Then Open vSwitch answers
    And the tunnel bridge exists next to the integration bridge
    And the patch ports of the integration and tunnel bridges name each other as peers

  @role:ovs_agent @check:overlay.interfaces-healthy
  Scenario: No Open vSwitch interface reports an error
    Then no Open vSwitch interface reports an error

  @role:ovs_agent @check:overlay.vxlan-mesh
  Scenario: A VXLAN tunnel to every overlay endpoint Neutron tunnels to
    Then every overlay endpoint Neutron tunnels to has exactly one VXLAN port with this host's local_ip and the endpoint's remote_ip
