"""The lab's own source of a healthy site: small builders, one concern each, that write the
files and rules an operator keeps on each host (frr.conf, chrony.conf, iptables rules,
libvirt network XML, route files, kubelet files, openvswitch_agent.ini).

They read the site model (stackproof.site: the inventory) and follow the field report
(/work/shared/seed/DIGEST.md), and never import the suite's expectation code
(stackproof.render, stackproof.expect, stackproof.checks, stackproof.remediations): if the
lab and the checks shared the code that decides what is right, a wrong expectation would
pass. tests/unit/test_lab_independence.py enforces the separation; the unit tests of these
builders compare both sides with facts read straight from the inventory YAML.
"""
