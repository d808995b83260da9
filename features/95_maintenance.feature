@maintenance
Feature: Node maintenance
  Before its host goes down, a node is cordoned and drained: no new pods land on it,
  and every pod a controller would recreate elsewhere has been evicted through the
  API, honouring PodDisruptionBudgets, leaving DaemonSet pods (they stop with the
  node) and deleting emptyDir data. The report did this with `kubectl cordon` and
  `kubectl drain --ignore-daemonsets --delete-emptydir-data`.

  Deselected by default: run it with `-m maintenance --node NAME`; with `--remediate`
  (and `--allow-destructive` when pods would lose emptyDir data) it does the drain.
  Afterwards the regular run reports the node cordoned, and its remediation uncordons it.

  @check:maintenance.drain
  Scenario: The node is ready to shut down
    Given the Kubernetes API answers
    And the node chosen with --node
    Then the node is cordoned
    And only DaemonSet pods are left on it
