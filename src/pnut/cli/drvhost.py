"""``pnut drvhost [-B] [--confdir D] [--statepath S] DRIVER:UPS ...``: many drivers, one process."""

from __future__ import annotations

import argparse

from pnut.driver.host import run_host


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pnut drvhost",
        description="Run several pnut drivers in one process; each keeps its own socket, "
                    "PID file and behaviour. 'pnut upsdrvctl --one-process start' runs this.")
    p.add_argument("specs", nargs="+", metavar="DRIVER:UPS",
                   help="a driver and its ups.conf section, e.g. sim:ups1")
    p.add_argument("--confdir", help="config directory (default $NUT_CONFPATH or /etc/nut)")
    p.add_argument("--statepath", help="socket directory")
    p.add_argument("-B", dest="background", action="store_true",
                   help="go to the background once every driver that can start is listening")
    p.add_argument("-u", dest="user", help="user to become (only when started as root)")
    p.add_argument("-D", dest="debug", action="count", default=0, help="raise the debug level")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    return run_host(args.specs, confdir=args.confdir, statepath=args.statepath,
                    background=args.background, user=args.user, debug=args.debug)
