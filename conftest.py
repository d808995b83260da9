"""stackproof's pytest wiring: the plugin, fixtures and step definitions."""
pytest_plugins = [
    "stackproof.report",
    "stackproof.plugin",
    "fixtures.site",
    "steps.baseline",
    "steps.firewall",
]
