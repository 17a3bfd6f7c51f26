"""Helpers for the shutdown-story tests: upsmon nodes, a UPS to script, a cuttable link.

A :class:`Node` is one upsmon process (pnut's or NUT's C one) with its own
config dir; its SHUTDOWNCMD appends ``<name> shutdown <time>`` to the
cluster's ``events`` file (a primary then also records ``upsmon -K`` and what
``upsdrvctl shutdown`` would do), and its NOTIFYCMD appends
``<name> notify <TYPE> <time>``, so a test can assert who did what, in which
order, when.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from support import NUT_LIBDIR, PNUT, Stack, private_run_nut, wait_for

#: Accounts both upsd implementations and NUT's C upsmon can use (no spaces).
USERS = """\
[admin]
  password = adminpw
  actions = SET FSD
  upsmon primary

[mon]
  password = monpw
  upsmon secondary
"""

ALL_EVENTS = ("ONLINE", "ONBATT", "LOWBATT", "FSD", "COMMOK", "COMMBAD", "SHUTDOWN",
              "REPLBATT", "NOCOMM", "NOPARENT", "CAL")

FAST = {"POLLFREQ": "1", "POLLFREQALERT": "1", "HOSTSYNC": "5", "DEADTIME": "3",
        "FINALDELAY": "1"}


@dataclass
class Record:
    node: str
    kind: str
    what: str
    time: float


class Events:
    """The shared log that SHUTDOWNCMD and NOTIFYCMD scripts append to."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> list[Record]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            node, kind, what, stamp = line.split(" ")
            out.append(Record(node, kind, what, float(stamp)))
        return out

    def of(self, node: str, kind: str | None = None) -> list[Record]:
        return [r for r in self.read() if r.node == node and (kind is None or r.kind == kind)]

    def notified(self, node: str) -> list[str]:
        return [r.what for r in self.of(node, "notify")]

    def shutdown_time(self, node: str) -> float | None:
        recs = self.of(node, "shutdown")
        return recs[0].time if recs else None


@dataclass
class Node:
    name: str
    dir: Path
    proc: object = None
    log: Path = field(default_factory=Path)

    @property
    def pid(self) -> int:
        return self.proc.pid  # type: ignore[attr-defined, no-any-return]

    def running(self) -> bool:
        return self.proc.poll() is None  # type: ignore[attr-defined, no-any-return]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Cluster:
    """A :class:`Stack` plus upsmon nodes around it."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.events = Events(stack.dir / "events")
        self.nodes: dict[str, Node] = {}

    def node(self, name: str, monitors: list[str], *, impl: str = "pnut",
             split: bool = False, extra: str = "", settings: dict[str, str] | None = None,
             also_notify: str = "", start: bool = True) -> Node:
        """Write a config dir for upsmon ``name``; start it unless told not to.

        ``also_notify``: a command the NOTIFYCMD script runs after recording
        the event, with the message as its argument (e.g. upssched).
        """
        home = self.stack.dir / f"mon-{name}"
        home.mkdir(exist_ok=True)
        os.chmod(home, 0o755)
        events = self.events.path
        primary = any(m.split()[-1] in ("primary", "master") for m in monitors)
        flag = home / "killpower"
        stamp = "$(date +%s.%N)"
        sd = [f"#!/bin/sh\necho \"{name} shutdown - {stamp}\" >> {events}\n"]
        if primary:
            env = f"NUT_CONFPATH={home} NUT_ALTPIDPATH={home}"
            sd.append(f"{env} {' '.join(PNUT)} upsmon -K >/dev/null 2>&1\n"
                      f"echo \"{name} upsmon-K $? {stamp}\" >> {events}\n"
                      f"NUT_CONFPATH={self.stack.dir} {' '.join(PNUT)} upsdrvctl -t shutdown"
                      " >/dev/null 2>&1\n"
                      f"echo \"{name} upsdrvctl-t $? {stamp}\" >> {events}\n")
        _script(home / "shutdown.sh", "".join(sd))
        chained = f'{also_notify} "$1"\n' if also_notify else ""
        _script(home / "notify.sh",
                f"#!/bin/sh\necho \"{name} notify $NOTIFYTYPE {stamp}\" >> {events}\n{chained}")
        conf = [*(f"MONITOR {m}\n" for m in monitors),
                f"SHUTDOWNCMD {home}/shutdown.sh\n",
                f"NOTIFYCMD {home}/notify.sh\n",
                "RUN_AS_USER root\n"]
        if primary:
            conf.append(f"POWERDOWNFLAG {flag}\n")
        for key, value in {**FAST, **(settings or {})}.items():
            conf.append(f"{key} {value}\n")
        conf.extend(f"NOTIFYFLAG {e} SYSLOG+EXEC\n" for e in ALL_EVENTS)
        conf.append(extra)
        (home / "upsmon.conf").write_text("".join(conf))
        os.chmod(home / "upsmon.conf", 0o644)
        node = Node(name, home)
        self.nodes[name] = node
        if start:
            self.start(node, impl=impl, split=split)
        return node

    def start(self, node: Node, *, impl: str = "pnut", split: bool = False) -> Node:
        env = {"NUT_CONFPATH": str(node.dir), "NUT_ALTPIDPATH": str(node.dir)}
        if impl == "nut":
            argv = private_run_nut([str(NUT_LIBDIR / "upsmon"), "-F"] + ([] if split else ["-p"]))
        else:
            argv = [*PNUT, "upsmon", "-F", "-D"] + ([] if split else ["-p"])
        runs = sum(1 for p in self.stack.logs if p.name.startswith(f"upsmon-{node.name}"))
        node.proc = self.stack.spawn(argv, f"upsmon-{node.name}-{runs}", env=env)
        node.log = self.stack.logs[-1]
        return node

    def flag(self, node: Node) -> Path:
        return node.dir / "killpower"

    # -- the UPS -------------------------------------------------------------------
    def numlogins(self, ups: str) -> int:
        reply = self.stack.talk([f"GET NUMLOGINS {ups}"])
        return int(reply[0].split()[-1]) if reply and reply[0].startswith("NUMLOGINS") else -1

    def status(self, ups: str) -> str:
        reply = self.stack.talk([f"GET VAR {ups} ups.status"])
        return reply[0].split('"')[1] if reply and reply[0].startswith("VAR") else ""

    def write_status(self, ups: str, status: str, wait: bool = True) -> float:
        """Rewrite the UPS's .dev file (the driver re-reads it when its mtime moves)."""
        dev = self.stack.dir / f"{ups}.dev"
        text = [ln for ln in dev.read_text().splitlines() if not ln.startswith("ups.status:")]
        mtime = dev.stat().st_mtime
        dev.write_text("\n".join([f"ups.status: {status}", *text]) + "\n")
        os.utime(dev, (mtime + 2, mtime + 2))  # dummy-ups compares whole seconds
        if wait:
            wait_for(lambda: self.status(ups) == status, timeout=15)
        return time.time()

    def set_status(self, ups: str, status: str) -> None:
        """Change ups.status at once through upsd (SET VAR, dummy-ups applies it)."""
        reply = self.stack.talk(["USERNAME admin", "PASSWORD adminpw",
                                 f'SET VAR {ups} ups.status "{status}"'])
        assert reply[-1].startswith("OK"), reply

    def wait_exit(self, node: Node, timeout: float) -> int:
        wait_for(lambda: not node.running(), timeout=timeout, interval=0.1)
        return node.proc.returncode  # type: ignore[attr-defined, no-any-return]

    def dump(self) -> str:
        return self.stack.log_text() + "\n--- events\n" + (
            self.events.path.read_text() if self.events.path.exists() else "")


class Upssched:
    """A private upssched.conf; its CMDSCRIPT records ``<arg> <daemon pid>``."""

    def __init__(self, home: Path, rules: str) -> None:
        home.mkdir(exist_ok=True)
        self.home = home
        self.fired_path = home / "fired"
        _script(home / "cmd.sh", (
            "#!/bin/sh\n"
            "p=$PPID\n"
            "while [ \"$p\" -gt 1 ] && ! tr '\\0' ' ' < /proc/$p/cmdline | grep -q upssched; do\n"
            "  p=$(cut -d' ' -f4 /proc/$p/stat)\n"
            "done\n"
            f'echo "$1 $p" >> {self.fired_path}\n'))
        (home / "upssched.conf").write_text(
            f"CMDSCRIPT {home}/cmd.sh\nPIPEFN {home}/pipe\nLOCKFN {home}/lock\n{rules}")
        self.command = f"env NUT_CONFPATH={home} {' '.join(PNUT)} upssched"

    def fired(self) -> list[tuple[str, int]]:
        if not self.fired_path.exists():
            return []
        return [(a, int(p)) for a, p in
                (ln.split() for ln in self.fired_path.read_text().splitlines())]

    def kill_daemons(self) -> None:
        """End the timer daemons that ran our commands (by their PIDs)."""
        for _, pid in self.fired():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _script(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


class Link:
    """A TCP relay to upsd that a test can cut (connections reset, port closed).

    ``sent`` collects every line clients sent through it, in order.
    """

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.port = 0
        self.sent: list[str] = []
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.restore()

    def restore(self) -> None:
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.port))
        srv.listen(16)
        self.port = srv.getsockname()[1]
        self._listener = srv
        threading.Thread(target=self._accept, args=(srv,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            for conn in self._conns:
                try:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                    conn.close()
                except OSError:
                    pass
            self._conns.clear()

    def _accept(self, srv: socket.socket) -> None:
        while True:
            try:
                client, _ = srv.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not srv:
                    client.close()
                    upstream.close()
                    return
                self._conns += [client, upstream]
            threading.Thread(target=_pump, args=(client, upstream, self.sent),
                             daemon=True).start()
            threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()


def _pump(src: socket.socket, dst: socket.socket, lines: list[str] | None = None) -> None:
    src.settimeout(None)
    pending = b""
    while True:
        try:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
        except OSError:
            break
        if lines is not None:
            *done, pending = (pending + data).split(b"\n")
            lines.extend(line.decode("latin-1") for line in done)
    for s in (src, dst):
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
