"""Time steps: chrony on every host, served by the site's time server."""
from __future__ import annotations

from stackproof.checks import baseline as checks
from steps.common import then_ensures

then_ensures("chrony is configured with the time server and iburst",
             checks.chrony_uses_time_server)
then_ensures("chronyd runs with the time server selected as its source",
             checks.chrony_synced_to_time_server)
then_ensures("chronyd serves time from its local clock to the site's networks",
             checks.chrony_serves_time)
