@time @needs:time
Feature: Time
  Every host keeps time from the site's time server (the report's
  `server controller iburst`), which serves the site from its own clock. Time
  comes after the network layers: a client reaches its server across them.

  Background:
    Given the host is reachable over SSH

  @role:time_client @check:time.chrony-source
  Scenario: chrony takes its time from the time server
    Then chrony is configured with the time server and iburst
    And chronyd runs with the time server selected as its source

  @role:time_server @check:time.server-serving
  Scenario: The time server serves the site
    Then chronyd serves time from its local clock to the site's networks
