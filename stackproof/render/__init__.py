"""Renderers: the intended configuration files of a host, as pure functions of (site, host).

The lab writes them to build a site; remediations write them to restore the intended state.
Nothing here reads or touches a host.
"""
