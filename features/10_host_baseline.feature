Feature: Host baseline
  Every host answers to its inventory name, keeps swap off across reboots
  (kubelet and nova-compute refuse to run with swap), and keeps time from the
  site's time server.

  @role:all
  Scenario: The hostname is the inventory name
    Given the host is reachable over SSH
    Then the running hostname is the inventory name
    And /etc/hostname holds the inventory name

  @role:all
  Scenario: Swap stays off after a reboot
    Given the host is reachable over SSH
    Then /etc/fstab has no active swap entry

  @role:all
  Scenario: No swap is in use
    Given the host is reachable over SSH
    Then no swap device is in use

  @role:time_client
  Scenario: chrony takes its time from the time server
    Given the host is reachable over SSH
    Then chrony is configured with the time server and iburst
    And chronyd runs with the time server selected as its source

  @role:time_server
  Scenario: The time server serves the site
    Given the host is reachable over SSH
    Then chronyd serves time from its local clock to the site's networks
