"""``pnut systemd install [--dir DIR] [--confdir DIR]``: pnut's systemd units.

Writes pnut-server.service (upsd), pnut-driver@.service (one per ups.conf
section: ``systemctl enable --now pnut-driver@myups``), pnut-monitor.service
(upsmon), pnut-driver.target and pnut.target, with ExecStart pointing at
this installation's ``pnut`` (a virtualenv's works as is).  They are
``Type=notify`` with watchdog, as NUT 2.8.1+'s units, and conflict with
Debian's nut-* units so that only one of each runs.  Nothing is enabled or
started: the command prints the systemctl lines to do that.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from importlib import resources
from pathlib import Path

from pnut.cli._help import description
from pnut.config.parser import confpath

UNITS = ("pnut-driver@.service", "pnut-driver.target", "pnut-server.service",
         "pnut-monitor.service", "pnut.target")
DEFAULT_DIR = "/etc/systemd/system"


def pnut_binary() -> str:
    """The ``pnut`` console script of this installation (next to its Python)."""
    beside = Path(sys.executable).parent / "pnut"
    if beside.exists():
        return str(beside)
    found = shutil.which("pnut")
    return str(Path(found).resolve()) if found else f"{sys.executable} -m pnut"


def render(name: str, pnut: str, confdir: str) -> str:
    text = (resources.files("pnut") / "data" / "systemd" / name).read_text()
    return text.replace("@PNUT@", pnut).replace("@CONFDIR@", confdir)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="pnut systemd", description=description(__doc__))
    sub = ap.add_subparsers(dest="cmd", required=True)
    inst = sub.add_parser("install", help="write the unit files")
    inst.add_argument("--dir", default=DEFAULT_DIR, help=f"where to write (default {DEFAULT_DIR})")
    inst.add_argument("--confdir", default=None,
                      help="NUT config directory the units read nut.conf from (default "
                           "$NUT_CONFPATH or /etc/nut)")
    args = ap.parse_args(argv)
    target = Path(args.dir)
    pnut = pnut_binary()
    conf = str(confpath(args.confdir))
    try:
        target.mkdir(parents=True, exist_ok=True)
        for name in UNITS:
            (target / name).write_text(render(name, pnut, conf))
    except OSError as exc:
        print(f"pnut systemd: cannot write to {target}: {exc.strerror or exc} "
              "(run as root, or choose --dir)", file=sys.stderr)
        return 1
    print(f"wrote {', '.join(UNITS)} to {target} (ExecStart: {pnut})\n\n"
          "then, for each [ups] section of ups.conf, and to start everything at boot:\n"
          "  systemctl daemon-reload\n"
          "  systemctl disable --now nut.target nut-driver.target   # Debian's NUT, if running\n"
          "  systemctl enable --now pnut-driver@UPSNAME.service\n"
          "  systemctl enable --now pnut.target")
    return 0
