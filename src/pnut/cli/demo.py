"""``pnut demo``: a simulated UPS, upsd and upsmon, with no config by hand.

How this works
--------------
The demo writes a complete private NUT configuration into a temporary
directory (ups.conf with one ``sim`` UPS, upsd.conf, upsd.users with a
fresh random password, upsmon.conf whose SHUTDOWNCMD only prints), then
starts the same programs a real installation runs — ``pnut driver sim``,
``pnut upsd`` and ``pnut upsmon`` — as child processes, prefixing their
log lines.  Because they are separate processes talking over the real
driver socket and TCP, what the demo shows is exactly how a deployment
behaves.  Ctrl-C or SIGTERM stops the children (by PID) and removes the
directory.

The whole story of RFC 9271 Appendix B plays out: after upsmon has run
SHUTDOWNCMD and exited, the demo treats the protected machine as halted
(its upsd and upsmon stop; the UPS, i.e. the driver, keeps running), lets
mains power return after ``--restore-after`` seconds by sending
``test.failure.stop`` straight to the driver socket, and then "boots" the
machine again: upsd and upsmon restart and find the UPS on line.

``pnut web`` runs beside them on 127.0.0.1 (port 9493, or a free one):
the demo prints the page's URL and the ``/metrics`` URL (``--no-web`` skips
it).  It is not part of the "machine" that halts, so the page shows upsd
going away and coming back.

With ``--tls`` (implied when ``--listen`` is not a loopback address, since
upsd then requires TLS) the demo also makes a private CA and a server
certificate with :mod:`pnut.tls.certs` in its config dir, sets CERTFILE and
REQUIRE_TLS in upsd.conf, and has upsmon verify the certificate
(CERTVERIFY 1, FORCESSL 1, CERTPATH = the CA).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path

from pnut.cli._help import description
from pnut.config.upsd_conf import is_loopback_host
from pnut.protocol.limits import DEFAULT_PORT

UPS = "sim"
#: pnut web's default port; the demo's page listens on loopback only.
WEB_PORT = 9493
USER = "admin"
MON_SECONDARY = "monuser"


def _port_problem(host: str, port: int) -> str | None:
    """Why the port can't be used, or None when it is free."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def make_certificates(confdir: Path, host: str) -> tuple[Path, str]:
    """CA and server certificate in ``confdir/pki``; the CA path and the server pin."""
    from pnut.tls.certs import init_pki

    names = ["localhost", "127.0.0.1", "::1"]
    if host not in names:
        names.insert(0, host)
    if not is_loopback_host(host):
        names.append(socket.gethostname())
    pki = confdir / "pki"
    issued = init_pki(pki, names)
    return pki / "ca.pem", issued.fingerprint


def write_config(confdir: Path, host: str, port: int, password: str, secondary_pw: str,
                 drain_rate: float, tls: bool = False) -> None:
    """Every file the demo needs; a user could copy them as a starting point."""
    state = confdir / "state"
    state.mkdir(mode=0o770, exist_ok=True)
    upsd_tls = upsmon_tls = ""
    if tls:
        upsd_tls = f"CERTFILE {confdir / 'pki' / 'server.pem'}\nREQUIRE_TLS yes\n"
        upsmon_tls = f"CERTPATH {confdir / 'pki' / 'ca.pem'}\nCERTVERIFY 1\nFORCESSL 1\n"
    files = {
        "ups.conf": (
            f"statepath = {state}\n\n"
            f"[{UPS}]\n"
            "  driver = sim\n"
            "  port = simulated\n"
            '  desc = "pnut simulated UPS"\n'
            f"  drain_rate = {drain_rate}\n"
            "  default.ups.delay.start = 5\n"
        ),
        "upsd.conf": f"LISTEN {host} {port}\nSTATEPATH {state}\n{upsd_tls}",
        "upsd.users": (
            f"[{USER}]\n"
            f'  password = "{password}"\n'
            "  actions = SET FSD\n"
            "  instcmds = ALL\n"
            "  upsmon primary\n\n"
            f"[{MON_SECONDARY}]\n"
            f'  password = "{secondary_pw}"\n'
            "  upsmon secondary\n"
        ),
        "upsmon.conf": (
            f'MONITOR {UPS}@{_hostport(host, port)} 1 {USER} "{password}" primary\n'
            "MINSUPPLIES 1\n"
            'SHUTDOWNCMD "echo \'[demo] SHUTDOWNCMD: this is where the machine would power off\'"\n'
            "POLLFREQ 2\n"
            "POLLFREQALERT 1\n"
            "HOSTSYNC 5\n"
            "FINALDELAY 2\n"
            f"POWERDOWNFLAG {confdir / 'killpower'}\n"
            "NOTIFYFLAG ONLINE SYSLOG+EXEC\n"
            "NOTIFYFLAG ONBATT SYSLOG+EXEC\n"
            "NOTIFYFLAG LOWBATT SYSLOG+EXEC\n"
            "NOTIFYFLAG FSD SYSLOG+EXEC\n"
            "NOTIFYFLAG SHUTDOWN SYSLOG+EXEC\n"
            "NOTIFYFLAG COMMOK SYSLOG+EXEC\n"
            "NOTIFYFLAG COMMBAD SYSLOG+EXEC\n"
            'NOTIFYCMD "echo [demo] notify: $NOTIFYTYPE:"\n'
            "RUN_AS_USER root\n"
            f"{upsmon_tls}"
        ),
    }
    for name, text in files.items():
        path = confdir / name
        path.write_text(text)
        path.chmod(0o640)


def _hostport(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port == DEFAULT_PORT else f"{shown}:{port}"


async def _pump(prefix: str, stream: asyncio.StreamReader) -> None:
    while line := await stream.readline():
        sys.stdout.write(f"[{prefix}] {line.decode(errors='replace')}")
        sys.stdout.flush()


class Children:
    """The demo's processes; ended by PID, newest first."""

    def __init__(self, confdir: Path) -> None:
        self.confdir = confdir
        self.procs: list[tuple[str, asyncio.subprocess.Process]] = []
        self.pumps: list[asyncio.Task[None]] = []

    async def start(self, name: str, *args: str,
                    env_extra: dict[str, str] | None = None) -> asyncio.subprocess.Process:
        env = dict(os.environ, NUT_CONFPATH=str(self.confdir), PYTHONUNBUFFERED="1")
        env["NUT_STATEPATH"] = str(self.confdir / "state")
        env["STATE_DIRECTORY"] = str(self.confdir / "state")  # upsd's own certificate
        env.update(env_extra or {})
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pnut", *args, env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        assert proc.stdout is not None
        self.pumps.append(asyncio.create_task(_pump(name, proc.stdout)))
        self.procs.append((name, proc))
        return proc

    def first_exited(self) -> str | None:
        return next((name for name, p in self.procs if p.returncode is not None), None)

    def forget_exited(self) -> None:
        self.procs = [(n, p) for n, p in self.procs if p.returncode is None]

    async def stop_named(self, name: str) -> None:
        for n, proc in list(self.procs):
            if n == name:
                await self._end(proc)
                self.procs.remove((n, proc))

    @staticmethod
    async def _end(proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()

    async def stop(self) -> None:
        for _name, proc in reversed(self.procs):
            await self._end(proc)
        for task in self.pumps:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 2)


async def _wait_path(path: Path, proc: asyncio.subprocess.Process, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if path.exists():
            return True
        if proc.returncode is not None:
            return False
        await asyncio.sleep(0.05)
    return False


async def _wait_port(
    host: str, port: int, proc: asyncio.subprocess.Process, timeout: float
) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if proc.returncode is not None:
            return False
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return True
    return False


async def _driver_command(socket_path: Path, line: str) -> None:
    """Send one line to the driver socket, as upsd would."""
    _, writer = await asyncio.open_unix_connection(str(socket_path))
    writer.write(line.encode())
    await writer.drain()
    writer.close()
    await writer.wait_closed()


def _tool(name: str) -> str:
    """How to run pnut's ``name`` as printed: the bare name only when PATH finds this one.

    With the virtualenv not activated, a bare ``upsc`` is NUT's (or nothing).
    """
    mine = Path(sys.executable).parent / name
    if not mine.exists():
        return f"{sys.executable} -m pnut {name}"
    found = shutil.which(name)
    return name if found is not None and Path(found).resolve() == mine.resolve() else str(mine)


def _me() -> str:
    """The demo's daemons stay the user who runs it (they would become nut as root)."""
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


async def _boot(kids: Children, args: argparse.Namespace, confdir: Path) -> bool:
    """Start upsd and upsmon, as the protected machine does at boot."""
    upsd = await kids.start("upsd", "upsd", "-F", "-u", _me(), "--confdir", str(confdir))
    if not await _wait_port(args.listen, args.port, upsd, 15):
        print("pnut demo: upsd did not start (see its log above)", file=sys.stderr)
        return False
    if not args.no_upsmon:
        await kids.start("upsmon", "upsmon", "-F", "--confdir", str(confdir))
    return True


def _free_web_port(wanted: int) -> int:
    if _port_problem("127.0.0.1", wanted) is None:
        return wanted
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _start_web(kids: Children, args: argparse.Namespace, confdir: Path) -> str:
    """``pnut web`` on loopback, following the demo's upsd; the lines to print about it.

    It keeps running while the "machine" is halted, so the page shows upsd
    going away and coming back.
    """
    if args.no_web:
        return ""
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return "  web page:       not started (pip install 'pnut[web]')\n"
    port = _free_web_port(args.web_port)
    env = {"PNUT_TLS_CAFILE": str(confdir / "pki" / "ca.pem")} if args.tls else {}
    web = await kids.start("web", "web", "--listen", f"127.0.0.1:{port}", "--server",
                           f"nut://{_hostport(args.listen, args.port)}",
                           "--history-step", "5", env_extra=env)
    if not await _wait_port("127.0.0.1", port, web, 15):
        return "  web page:       pnut web did not start (see its log above)\n"
    return (f"  web page:       http://127.0.0.1:{port}/  (log in as {USER} to send commands)\n"
            f"  metrics:        http://127.0.0.1:{port}/metrics\n")


async def _halt_and_restore(kids: Children, args: argparse.Namespace, confdir: Path,
                            stop: asyncio.Event) -> bool:
    """The machine powered off; mains returns later; the machine boots again."""
    print(
        "\n[demo] upsmon ran SHUTDOWNCMD and exited: the protected machine is now halted.\n"
        "[demo] Its upsd stops with it; the UPS itself (the driver) keeps running.\n"
        f"[demo] Mains power will return in {args.restore_after:g} s.\n",
        flush=True,
    )
    await kids.stop_named("upsd")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), args.restore_after)
    if stop.is_set():
        return True
    print("[demo] Mains power is back (test.failure.stop); the machine boots.", flush=True)
    await _driver_command(confdir / "state" / f"sim-{UPS}", "INSTCMD test.failure.stop\n")
    await asyncio.sleep(1.0)
    return await _boot(kids, args, confdir)


async def run_demo(args: argparse.Namespace, confdir: Path) -> int:
    password = secrets.token_urlsafe(12)
    tls_note = ""
    if args.tls:
        ca, pin = make_certificates(confdir, args.listen)
        tls_note = (
            f"TLS is required (REQUIRE_TLS); upsmon checks the certificate against {ca}.\n"
            f"  with the CA:    {_tool('upsc')} --cafile {ca} {{target}}\n"
            f"  with the pin:   {_tool('upsc')} --pin {pin} {{target}}\n"
            f"  (or export PNUT_TLS_CAFILE={ca}; NUT's own clients encrypt without checking)\n"
        )
    write_config(confdir, args.listen, args.port, password, secrets.token_urlsafe(12),
                 args.drain_rate, tls=args.tls)
    kids = Children(confdir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        driver = await kids.start("driver", "driver", "sim", "-a", UPS, "-F", "-u", _me())
        if not await _wait_path(confdir / "state" / f"sim-{UPS}", driver, 15):
            print("pnut demo: the simulated driver did not start (see its log above)",
                  file=sys.stderr)
            return 1
        if not await _boot(kids, args, confdir):
            return 1
        web_note = await _start_web(kids, args, confdir)
        target = f"{UPS}@{_hostport(args.listen, args.port)}"
        print(
            f"\npnut demo is running: UPS '{UPS}' served on {args.listen} port {args.port}.\n"
            f"  read it:        {_tool('upsc')} {target}\n"
            f"  its commands:   {_tool('upscmd')} -l {target}\n"
            f"  pull the plug:  {_tool('upscmd')} -u {USER} -p {password} {target} "
            "test.failure.start\n"
            f"  power returns:  {_tool('upscmd')} -u {USER} -p {password} {target} "
            "test.failure.stop\n"
            f"  settable vars:  {_tool('upsrw')} {target}\n"
            f"{tls_note.format(target=target)}"
            f"{web_note}"
            f"config in {confdir} (removed on exit). Ctrl-C stops.\n",
            flush=True,
        )
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
            dead = kids.first_exited()
            if dead == "upsmon" and (confdir / "killpower").exists():
                kids.forget_exited()
                if not await _halt_and_restore(kids, args, confdir, stop):
                    return 1
            elif dead is not None:
                print(f"pnut demo: {dead} exited unexpectedly; stopping", file=sys.stderr)
                return 1
        print("\npnut demo: stopping", flush=True)
        return 0
    finally:
        await kids.stop()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="pnut demo", description=description(__doc__))
    ap.add_argument("--listen", default="127.0.0.1", metavar="ADDR",
                    help="address upsd listens on (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (default 3493)")
    ap.add_argument("--drain-rate", type=float, default=1.0, metavar="PCT_PER_S",
                    help="battery drain while on battery, percent per second (default 1)")
    ap.add_argument("--restore-after", type=float, default=15.0, metavar="SECONDS",
                    help="after the shutdown, mains power returns this much later (default 15)")
    ap.add_argument("--no-upsmon", action="store_true", help="run only the driver and upsd")
    ap.add_argument("--web-port", type=int, default=WEB_PORT, metavar="PORT",
                    help=f"port of the web page and /metrics on 127.0.0.1 (default {WEB_PORT}; "
                         "a free one if taken)")
    ap.add_argument("--no-web", action="store_true", help="do not start pnut web")
    ap.add_argument("--tls", action="store_true",
                    help="make certificates and require STARTTLS (always on when --listen is "
                         "not a loopback address)")
    args = ap.parse_args(argv)
    if not args.tls and not is_loopback_host(args.listen):
        args.tls = True
        print(f"pnut demo: {args.listen} is reachable from other hosts, so TLS is on",
              flush=True)
    problem = _port_problem(args.listen, args.port)
    if problem is not None:
        print(f"pnut demo: cannot listen on {args.listen} port {args.port}: {problem} "
              f"(is another upsd running? try --port {args.port + 1})", file=sys.stderr)
        return 1
    confdir = Path(tempfile.mkdtemp(prefix="pnut-demo-"))
    try:
        return asyncio.run(run_demo(args, confdir))
    finally:
        shutil.rmtree(confdir, ignore_errors=True)
