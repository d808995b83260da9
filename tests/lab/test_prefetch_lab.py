"""Facts read ahead on a scenario's other hosts (stackproof.prefetch) against the real lab:
the same verdicts, and no host is asked anything twice that one host after another asks
once (a read ahead may ask a host for a fact its own scenario then does not need)."""
from __future__ import annotations

import json
import re
from collections import Counter

# Remote.run's debug line, after pytest's log prefix: "... stackproof.remote:remote.py:N [host] cmd -> rc R (T ms)"
_COMMAND = re.compile(r"stackproof\.remote:\S+ \[(?P<host>[^\]]+)\] (?P<cmd>.*) -> rc \d+ \(\d+ ms\)$")
_TEMP = re.compile(r"/tmp/stackproof-[\w.-]+")


def _run(run_suite, lab, tmp_path, name, *args):
    out, log = tmp_path / f"{name}.json", tmp_path / f"{name}.log"
    res = run_suite(lab, f"--stackproof-json={out}", f"--log-file={log}",
                    "--log-file-level=DEBUG", *args)
    commands = Counter()
    for line in log.read_text().splitlines():
        m = _COMMAND.search(line)
        if m:
            commands[(m["host"], _TEMP.sub("TMP", m["cmd"]))] += 1
    return res, json.loads(out.read_text()), commands


def test_reading_ahead_gives_the_same_verdicts_and_asks_nothing_twice(seed_lab, run_suite,
                                                                      tmp_path):
    one_by_one, serial, serial_cmds = _run(run_suite, seed_lab, tmp_path, "serial",
                                           "--fact-workers=0")
    ahead, pooled, pooled_cmds = _run(run_suite, seed_lab, tmp_path, "pooled")
    assert one_by_one.rc == 0, one_by_one.output[-3000:]
    assert ahead.rc == 0, ahead.output[-3000:]
    verdicts = [{(c["check"], c["host"], c["status"]) for c in r["checks"]}
                for r in (serial, pooled)]
    assert verdicts[0] == verdicts[1]
    assert pooled["totals"] == serial["totals"]
    assert sum(serial_cmds.values()) == serial["remote_commands"]["total"]
    twice = {k: n for k, n in pooled_cmds.items() if n > max(serial_cmds[k], 1)}
    assert twice == {}
    ahead_only = sorted(k for k in pooled_cmds if k not in serial_cmds)
    assert len(ahead_only) <= len(serial["remote_commands"]["per_host"]), ahead_only
    assert "fact reads ahead of their scenarios, in a pool of 16" in ahead.output
    print(f"serial {serial['elapsed_s']} s, pooled {pooled['elapsed_s']} s; "
          f"{serial['remote_commands']['total']} / {pooled['remote_commands']['total']} "
          f"commands; read ahead only: {ahead_only}")
