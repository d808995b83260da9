"""Reading a scenario's facts ahead on its other hosts (stackproof.prefetch) with the real
Remote fact cache; only the transport is replaced (commands answer from a table)."""
from __future__ import annotations

import threading
import time

from stackproof import prefetch
from stackproof.facts import fact
from stackproof.prefetch import Prefetcher
from stackproof.remote import CommandResult, Epoch, Remote


class TableRemote(Remote):
    """A Remote whose commands answer `<host> <command>` and are logged in order."""

    def __init__(self, name: str, epoch: Epoch, delay: float = 0.0, busy=None):
        super().__init__(name, spec=None, epoch=epoch)
        self.asked: list[str] = []
        self.delay, self.busy = delay, busy

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        self.asked.append(command)
        if self.busy is not None:
            self.busy.enter()
        time.sleep(self.delay)
        if self.busy is not None:
            self.busy.leave()
        return CommandResult(command, 0, f"{self.name} {command}", "")


class Busy:
    """How many commands ran at the same moment, at most."""

    def __init__(self):
        self.now = self.most = 0
        self._lock = threading.Lock()

    def enter(self):
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def leave(self):
        with self._lock:
            self.now -= 1


@fact
def hostname(remote):
    return remote.run("hostname").stdout


@fact
def file_text(remote, path):
    return remote.run(f"cat {path}").stdout


@fact(per_host=True)
def route_to(remote, dst):
    return remote.run(f"ip route get {dst}").stdout


class Fleet(dict):
    def __init__(self, names, delay=0.0, busy=None):
        epoch = Epoch()
        super().__init__({n: TableRemote(n, epoch, delay, busy) for n in names})


def test_a_fact_two_threads_want_is_read_once():
    fleet = Fleet(["a"], delay=0.2)
    got = []
    threads = [threading.Thread(target=lambda: got.append(hostname(fleet["a"])))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == ["a hostname"] * 4
    assert fleet["a"].asked == ["hostname"]


def _scenario(fleet, prefetcher, host):
    """What a scenario's check reads on its host."""
    token = prefetcher.start("S", host)
    hostname(fleet[host])
    file_text(fleet[host], "/etc/x.conf")
    route_to(fleet[host], "10.0.0.1")
    prefetcher.finish("S", token)


def test_the_first_hosts_facts_are_read_on_the_others_and_found_there():
    fleet = Fleet(["a", "b", "c"])
    families = {"a": "debian", "b": "debian", "c": "rhel"}
    p = Prefetcher(fleet, {"S": ["a", "b", "c"]}, families.__getitem__, workers=4)
    _scenario(fleet, p, "a")
    p.wait()
    # b: same OS family, every fact but the per-host one, in the order a read them
    assert fleet["b"].asked == ["hostname", "cat /etc/x.conf"]
    # c: another family: only the fact without arguments
    assert fleet["c"].asked == ["hostname"]
    assert p.prefetched == 3
    # the scenario on b and c then reads nothing it already has
    for host in ("b", "c"):
        assert hostname(fleet[host]) == f"{host} hostname"
    assert fleet["b"].asked == ["hostname", "cat /etc/x.conf"]
    assert file_text(fleet["c"], "/etc/x.conf") == "c cat /etc/x.conf"
    assert fleet["c"].asked == ["hostname", "cat /etc/x.conf"]


def test_only_the_scenarios_first_host_records():
    fleet = Fleet(["a", "b"])
    p = Prefetcher(fleet, {"S": ["a", "b"]}, lambda h: "debian", workers=2)
    _scenario(fleet, p, "a")
    p.wait()
    assert p.start("S", "b") is None and prefetch.RECORDING.get() is None


def test_a_prefetched_fact_is_read_again_after_any_remediation():
    fleet = Fleet(["a", "b"])
    p = Prefetcher(fleet, {"S": ["a", "b"]}, lambda h: "debian", workers=2)
    _scenario(fleet, p, "a")
    p.wait()
    assert fleet["b"].asked == ["hostname", "cat /etc/x.conf"]
    fleet["a"].invalidate()                  # a remediation touched a: the epoch moves on
    hostname(fleet["b"])                     # b's prefetched value is not trusted now
    assert fleet["b"].asked == ["hostname", "cat /etc/x.conf", "hostname"]
    hostname(fleet["b"])                     # read by the scenario itself: kept as before
    assert fleet["b"].asked.count("hostname") == 2
    hostname(fleet["a"])
    assert fleet["a"].asked.count("hostname") == 2   # a's own cache was dropped


def test_a_read_in_flight_when_its_host_is_invalidated_is_not_kept():
    fleet = Fleet(["a"], delay=0.3)
    t = threading.Thread(target=lambda: hostname(fleet["a"]))
    t.start()
    time.sleep(0.1)
    fleet["a"].invalidate()
    t.join()
    hostname(fleet["a"])
    assert fleet["a"].asked == ["hostname", "hostname"]


def test_closing_drops_the_reads_not_started():
    fleet = Fleet([f"h{i}" for i in range(6)], delay=0.3)
    p = Prefetcher(fleet, {"S": list(fleet)}, lambda h: "debian", workers=1)
    _scenario(fleet, p, "h0")
    p.close()
    assert sum(bool(fleet[f"h{i}"].asked) for i in range(1, 6)) < 5


def test_no_pool_reads_nothing_ahead():
    fleet = Fleet(["a", "b"])
    p = Prefetcher(fleet, {"S": ["a", "b"]}, lambda h: "debian", workers=0)
    _scenario(fleet, p, "a")
    p.wait()
    assert fleet["b"].asked == []


def test_hosts_are_read_side_by_side_each_in_its_order():
    busy = Busy()
    fleet = Fleet([f"h{i}" for i in range(9)], delay=0.2, busy=busy)
    p = Prefetcher(fleet, {"S": list(fleet)}, lambda h: "debian", workers=4)
    _scenario(fleet, p, "h0")
    p.wait()
    assert all(fleet[f"h{i}"].asked == ["hostname", "cat /etc/x.conf"] for i in range(1, 9))
    assert busy.most == 4                    # the pool's bound, reached


@fact(per_host=True)
def intended_diff(remote, intended, against):
    return remote.run(f"diff {intended} {against}").stdout


def test_a_per_host_fact_is_read_ahead_only_as_its_retarget_says():
    """reload_diff's way: each host compares its own intended text (the retarget makes it
    from the site), against the same file; a host the retarget skips reads nothing."""
    fleet = Fleet(["a", "b", "c"])
    site = {"a": "A.conf", "b": "B.conf"}          # c: the retarget has nothing for it
    prefetch.read_ahead_as(intended_diff, lambda s, host, args: (
        (s[host], *args[1:]) if host in s else None))
    p = Prefetcher(fleet, {"S": ["a", "b", "c"]}, lambda h: "debian", workers=2, site=site)
    token = p.start("S", "a")
    intended_diff(fleet["a"], "A.conf", "/etc/frr.conf")
    route_to(fleet["a"], "10.0.0.1")                 # per host, no retarget: never ahead
    p.finish("S", token)
    p.wait()
    assert fleet["b"].asked == ["diff B.conf /etc/frr.conf"]
    assert fleet["c"].asked == []
    assert intended_diff(fleet["b"], "B.conf", "/etc/frr.conf") == \
        "b diff B.conf /etc/frr.conf"
    assert fleet["b"].asked == ["diff B.conf /etc/frr.conf"]      # found, not read again
