@kubernetes
Feature: Kubernetes nodes
  The control plane lists every inventory node, Ready, with the INTERNAL-IP the
  inventory gives it. A worker that lives on an OpenStack instance uses its floating
  IP as node IP: kubeadm's JoinConfiguration hands it to kubelet as node-ip, and
  since kubelet refuses a node IP that is on none of the host's interfaces, the
  floating IP sits on lo as a /32, put back at every boot by add-kubelet-ip.service.

  @check:kubernetes.nodes-known
  Scenario: The cluster knows every inventory node
    Given the Kubernetes API answers
    Then every inventory node is registered with the API server

  @role:kube_node @check:kubernetes.node-ready
  Scenario: The node is Ready with its inventory INTERNAL-IP
    Given the Kubernetes API answers
    Then the node is Ready
    And its INTERNAL-IP is the inventory's internal_ip

  @role:kube_node @check:kubernetes.not-cordoned
  Scenario: No node is left cordoned
    Given the Kubernetes API answers
    Then it takes workloads unless the inventory says otherwise

  @role:kube_floating_ip @check:kubernetes.join-node-ip
  Scenario: The worker joined with its floating IP as node IP
    Given the host is reachable over SSH
    Then kubelet is given the floating IP as node-ip

  @role:kube_floating_ip @check:kubernetes.lo-address-persisted
  Scenario: The floating IP stays on lo across reboots
    Given the host is reachable over SSH
    Then the floating IP is on lo as a /32
    And add-kubelet-ip.service re-adds it at boot
    And add-kubelet-ip.service is enabled
