@baseline
Feature: Host baseline
  Every host answers to its inventory name and keeps swap off across reboots
  (kubelet and nova-compute refuse to run with swap).

  Background:
    Given the host is reachable over SSH

  @role:all @check:baseline.hostname
  Scenario: The hostname is the inventory name
    Then the running hostname is the inventory name
    And /etc/hostname holds the inventory name

  @role:all @check:baseline.swap-fstab
  Scenario: Swap stays off after a reboot
    Then /etc/fstab has no active swap entry

  @role:all @check:baseline.swap-off
  Scenario: No swap is in use
    Then no swap device is in use
