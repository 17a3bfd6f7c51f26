"""``pnut upsdrvctl [-t] [-u user] [-D] [-d] start|stop|shutdown [UPS]`` (NUT's arguments)."""

from __future__ import annotations

import argparse
import sys

from pnut.config.parser import ConfigError, confpath
from pnut.config.ups_conf import load_ups_conf
from pnut.driver.ctl import Controller, Options
from pnut.protocol.limits import NUT_VERSION


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="upsdrvctl",
                                description="Starts and stops UPS drivers via ups.conf.")
    p.add_argument("-F", dest="foreground", action="store_true",
                   help="with start UPS: run that driver in the foreground (systemd units)")
    p.add_argument("-t", dest="testing", action="store_true",
                   help="testing mode: print actions without doing them")
    p.add_argument("-u", dest="user", help="drivers started will switch from root to USER")
    p.add_argument("-r", dest="chroot", help="drivers will chroot to PATH")
    p.add_argument("-D", dest="debug", action="count", default=0, help="raise debugging level")
    p.add_argument("-d", dest="pass_debug", action="store_true",
                   help="pass the debugging level to the drivers")
    p.add_argument("--confdir", help="config directory (default $NUT_CONFPATH or /etc/nut)")
    p.add_argument("--statepath", help="driver socket directory")
    p.add_argument("--one-process", action="store_true",
                   help="pnut only: run all of pnut's own drivers in one process "
                        "(pnut drvhost); each keeps its own socket and PID file")
    p.add_argument("command", choices=["start", "stop", "shutdown"])
    p.add_argument("ups", nargs="?", help="only this UPS (default: all of ups.conf)")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    print(f"Network UPS Tools - UPS driver controller {NUT_VERSION}", flush=True)
    try:
        conf = load_ups_conf(confpath(args.confdir))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    from pnut.checks import ups_conf_problems

    for problem in ups_conf_problems(conf):  # the checks of 'pnut check-config'
        print(problem, file=sys.stderr)
    opts = Options(testing=args.testing, user=args.user, debug=args.debug,
                   pass_debug=args.pass_debug, chroot=args.chroot, confdir=args.confdir,
                   statepath=args.statepath, one_process=args.one_process)
    if args.testing:
        print("*** Testing mode: not calling exec/kill", flush=True)
    ctl = Controller(conf, conf.statepath(args.statepath), opts)
    if args.foreground:
        if args.command != "start":
            print("upsdrvctl: -F goes with start UPS", file=sys.stderr)
            return 1
        return ctl.foreground(args.ups)
    action = {"start": ctl.start, "stop": ctl.stop, "shutdown": ctl.shutdown}[args.command]
    return action(args.ups)
