"""Network namespaces made by a test: private "hosts" on one machine.

:class:`NetNs` creates a namespace (``ip netns add``), gives it loopback
and, on request, a veth link to the root namespace or a dummy interface,
runs commands inside it (``ip netns exec``) and deletes it again.  Only
namespaces this module made are ever touched; names carry the test
process id so parallel runs never collide.  Needs root (CI runs as root);
:func:`can_netns` tells the tests to skip otherwise.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess

IP = shutil.which("ip") or "/usr/sbin/ip"
_counter = itertools.count()


def can_netns() -> bool:
    return os.geteuid() == 0 and os.path.exists(IP)


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([IP, *args], capture_output=True, text=True, check=check, timeout=20)


class NetNs:
    def __init__(self, tag: str) -> None:
        self.name = f"pnut-{tag}-{os.getpid()}-{next(_counter)}"
        ip("netns", "add", self.name)
        self.links: list[str] = []
        ip("-n", self.name, "link", "set", "lo", "up")

    @property
    def prefix(self) -> list[str]:
        """Put this in front of a command to run it inside the namespace."""
        return [IP, "netns", "exec", self.name]

    def private_link(self, address: str, dev: str = "lan0") -> None:
        """A multicast-capable interface with ``address`` (CIDR) leading nowhere.

        A veth pair with both ends inside (the dummy module is not always
        there): traffic on it never leaves the namespace.
        """
        ip("-n", self.name, "link", "add", dev, "type", "veth", "peer", "name", f"{dev}p")
        ip("-n", self.name, "addr", "add", address, "dev", dev)
        ip("-n", self.name, "link", "set", f"{dev}p", "up")
        ip("-n", self.name, "link", "set", dev, "multicast", "on", "up")

    def veth(self, host_addr: str, ns_addr: str, index: int) -> str:
        """A veth pair: ``host_addr`` (CIDR) in the root namespace, ``ns_addr`` inside."""
        outer, inner = f"pv{os.getpid() % 10000}x{index}", "eth0"
        ip("link", "add", outer, "type", "veth", "peer", "name", inner, "netns", self.name)
        ip("addr", "add", host_addr, "dev", outer)
        ip("link", "set", outer, "up")
        ip("-n", self.name, "addr", "add", ns_addr, "dev", inner)
        ip("-n", self.name, "link", "set", inner, "up")
        self.links.append(outer)
        return outer

    def run(self, argv: list[str], timeout: float = 30,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.prefix, *argv], capture_output=True, text=True,
                              timeout=timeout, env=env)

    def delete(self) -> None:
        for link in self.links:
            ip("link", "del", link, check=False)
        self.links.clear()
        ip("netns", "del", self.name, check=False)
