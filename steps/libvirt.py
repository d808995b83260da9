"""libvirt steps."""
from __future__ import annotations

from stackproof.checks import libvirt as checks
from steps.common import then_ensures

then_ensures("each NAT network is defined, active and autostarted", checks.networks_active)
then_ensures("each NAT network forwards with nat on the inventory's bridge, gateway and DHCP "
             "range", checks.networks_shaped)
then_ensures("every guest has its fixed DHCP reservation", checks.reservations_present)
then_ensures("every guest domain is running", checks.guests_running)
