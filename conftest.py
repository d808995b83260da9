"""stackproof's pytest wiring: the plugin, fixtures and step definitions."""
pytest_plugins = [
    "stackproof.report",
    "stackproof.plugin",
    "fixtures.site",
    "fixtures.reboot",
    "steps.common",
    "steps.baseline",
    "steps.time",
    "steps.libvirt",
    "steps.firewall",
    "steps.connectivity",
    "steps.bgp",
    "steps.overlay",
    "steps.floating_ip",
    "steps.kubernetes",
    "fixtures.openstack",
    "steps.openstack",
]
