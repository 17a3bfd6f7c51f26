"""Network namespaces for one chaos run: a hub (upsd, the primary) and one per secondary.

Each secondary's namespace is joined to the hub by a veth pair
(10.77.<k>.1 on the hub side, 10.77.<k>.2 on the secondary's); a queueing
discipline on both ends cuts, slows or thins the link.  ``tc netem`` would
be the natural tool, but kernels without the sch_netem module (this one
has none) refuse it, so the shapes use what every kernel has: ``pfifo
limit 0`` drops every packet (a dead switch: no reset, no error, silence),
a token bucket at 16 kbit/s delays packets by queueing (a slow WAN link),
and one with a 1000-byte queue drops what bursts past it (a lossy link).  Everything is created with
unique names and deleted by :meth:`Namespaces.close`; no address or route
is added to the machine's own namespace.
"""

from __future__ import annotations

import itertools
import os
import subprocess

_counter = itertools.count()

SHAPES = {
    "cut": ["pfifo", "limit", "0"],
    "delay": ["tbf", "rate", "16kbit", "burst", "1600", "latency", "3s"],
    "loss": ["tbf", "rate", "24kbit", "burst", "1000", "limit", "1000"],
}


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def available() -> bool:
    """Root with ``ip netns`` and ``tc`` working (the harness needs both)."""
    if os.geteuid() != 0:
        return False
    ns = Namespaces(["x"])
    try:
        ns.create()
        ns.shape("x", "cut")
        ns.heal("x")
        return True
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        ns.close()


class Namespaces:
    def __init__(self, secondaries: list[str]) -> None:
        tag = f"{os.getpid() % 100000:05d}{next(_counter) % 100:02d}"
        self.hub = f"pch{tag}"
        self.secondaries = secondaries
        self.ns = {name: f"pcs{tag}{k}" for k, name in enumerate(secondaries)}
        self.veth = {name: (f"pv{tag}{k}h", f"pv{tag}{k}s") for k, name in enumerate(secondaries)}
        self.created: list[str] = []

    def hub_address(self, name: str) -> str:
        return f"10.77.{self.secondaries.index(name) + 1}.1"

    def create(self) -> None:
        _ip("netns", "add", self.hub)
        self.created.append(self.hub)
        _ip("-n", self.hub, "link", "set", "lo", "up")
        for k, name in enumerate(self.secondaries, start=1):
            ns = self.ns[name]
            hub_if, sec_if = self.veth[name]
            _ip("netns", "add", ns)
            self.created.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", self.hub, "link", "add", hub_if, "type", "veth", "peer", "name", sec_if,
                "netns", ns)
            _ip("-n", self.hub, "addr", "add", f"10.77.{k}.1/30", "dev", hub_if)
            _ip("-n", ns, "addr", "add", f"10.77.{k}.2/30", "dev", sec_if)
            _ip("-n", self.hub, "link", "set", hub_if, "up")
            _ip("-n", ns, "link", "set", sec_if, "up")

    def wrap(self, where: str | None, argv: list[str]) -> list[str]:
        """``argv`` run in the hub (``"hub"``), a secondary's namespace, or here (None)."""
        if where is None:
            return argv
        ns = self.hub if where == "hub" else self.ns[where]
        return ["ip", "netns", "exec", ns, *argv]

    def shape(self, name: str, mode: str) -> None:
        hub_if, sec_if = self.veth[name]
        for ns, dev in ((self.hub, hub_if), (self.ns[name], sec_if)):
            subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", dev,
                            "root", *SHAPES[mode]],
                           check=True, capture_output=True, timeout=10)

    def heal(self, name: str) -> None:
        hub_if, sec_if = self.veth[name]
        for ns, dev in ((self.hub, hub_if), (self.ns[name], sec_if)):
            subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", dev, "root"],
                           capture_output=True, timeout=10)

    def close(self) -> None:
        for ns in reversed(self.created):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        self.created.clear()
