"""``pnut driver NAME -a UPS``: run one of pnut's drivers, with NUT's driver flags."""

from __future__ import annotations

import argparse
import logging
import sys

from pnut import process
from pnut.driver.base import BUILTIN_DRIVERS, DriverError, load_driver
from pnut.driver.runner import control, run, setup_logging
from pnut.protocol.limits import NUT_VERSION

log = logging.getLogger("pnut.driver")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pnut driver",
        description="Run a UPS driver. Drivers: " + ", ".join(sorted(BUILTIN_DRIVERS)),
        add_help=False,
    )
    p.add_argument("name", nargs="?", help="driver name, as in ups.conf 'driver ='")
    p.add_argument("-a", dest="ups", help="UPS section of ups.conf to run")
    p.add_argument("-s", dest="standalone", help="UPS name; settings only from -x, no ups.conf")
    p.add_argument("--confdir", help="config directory (default $NUT_CONFPATH or /etc/nut)")
    p.add_argument("--statepath",
                   help="socket directory (default $NUT_STATEPATH, ups.conf, /run/nut)")
    p.add_argument("-F", dest="foreground", action="count", default=0,
                   help="stay in the foreground (default: background once ready, as NUT)")
    p.add_argument("-B", dest="background", action="store_true",
                   help="go to the background even when debugging")
    p.add_argument("-D", dest="debug", action="count", default=0, help="raise the debug level")
    p.add_argument("-q", dest="quiet", action="count", default=0, help="log less")
    p.add_argument("-d", dest="dump", type=int, metavar="N",
                   help="dump the data after N updates and exit")
    p.add_argument("-k", dest="kill", action="store_true",
                   help="kill power: run the shutdown and exit")
    p.add_argument("-i", dest="interval", metavar="SECONDS", help="poll interval")
    p.add_argument("-u", dest="user", help="user to become when started as root, after "
                   "opening the device (default: ups.conf 'user =', else nut if it exists)")
    p.add_argument("-g", dest="group", help="group of the socket (default: ups.conf "
                   "'group =', else the user's)")
    p.add_argument("-r", dest="chroot", help="chroot to this directory before creating the "
                   "socket (the state path is then inside it)")
    p.add_argument("-x", dest="xargs", action="append", default=[], metavar="KEY=VALUE",
                   help="driver setting, overrides ups.conf")
    p.add_argument("-c", dest="command", choices=["reload", "exit"],
                   help="signal the running instance of this driver and UPS")
    p.add_argument("-L", dest="list_vars", action="store_true", help="list the driver's settings")
    p.add_argument("-V", dest="version", action="store_true", help="print the version and exit")
    p.add_argument("-h", "--help", action="help", help="show this help")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    setup_logging(args.debug, args.quiet)
    if not args.name:
        sys.stderr.write("usage: pnut driver NAME -a UPS [options]; see pnut driver -h\n")
        return 2
    try:
        cls = load_driver(args.name)
    except DriverError as exc:
        log.error("%s", exc)
        return 1
    print(f"Network UPS Tools - {cls.description} {cls.version} ({NUT_VERSION}, pnut)", flush=True)
    if args.version:
        return 0
    if args.list_vars:
        for spec in cls.vartab:
            print(f'{"FLAG" if spec.flag else "VALUE"} {spec.name} "{spec.desc}"')
        return 0
    upsname = args.ups or args.standalone
    if args.command:
        if not upsname:
            log.error("-c needs -a <ups>")
            return 1
        return control(args.name, upsname, args.command, confdir=args.confdir,
                       statepath=args.statepath)
    return run(
        args.name, upsname=upsname, confdir=args.confdir, statepath=args.statepath,
        xargs=args.xargs, kill_power=args.kill,
        background=not process.mode(args.foreground, args.background, args.debug).foreground,
        interval=args.interval, user=args.user, dump_after=args.dump,
        from_conf=args.standalone is None, chroot=args.chroot, group=args.group,
    )
