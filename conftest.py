"""stackproof's pytest wiring: the plugin, fixtures and step definitions."""
pytest_plugins = [
    "stackproof.plugin",
    "fixtures.site",
    "steps.baseline",
]
