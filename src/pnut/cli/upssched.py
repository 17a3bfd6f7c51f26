"""``pnut upssched`` / ``upssched``: the NOTIFYCMD that turns events into timers.

upsmon runs it with the event in NOTIFYTYPE and the UPS in UPSNAME; every
matching AT rule of upssched.conf fires in file order.  See
pnut.monitor.upssched_daemon for the timer daemon it starts on demand.
"""

from __future__ import annotations

import argparse
import os
import sys

from pnut.config.parser import ConfigError
from pnut.config.upssched_conf import load_upssched_conf
from pnut.monitor import log as logsetup
from pnut.monitor.upssched import Cancel, Start
from pnut.monitor.upssched_daemon import UpsschedError, execute, send_request

PROG = "upssched"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog=PROG, description="Timers for upsmon notifications; "
                                "run by upsmon as NOTIFYCMD with UPSNAME and NOTIFYTYPE set.")
    p.add_argument("--confdir", help="config dir (default $NUT_CONFPATH or /etc/nut)")
    p.add_argument("message", nargs="*", help="the notification text (unused)")
    args = p.parse_args(argv)
    upsname = os.environ.get("UPSNAME")
    notifytype = os.environ.get("NOTIFYTYPE")
    if upsname is None or notifytype is None:
        print("Error: UPSNAME and NOTIFYTYPE must be set.\n"
              "This program should only be run from upsmon.", file=sys.stderr)
        return 1
    log = logsetup.setup(PROG, stderr=True)
    try:
        conf = load_upssched_conf(confdir=args.confdir)
    except ConfigError as exc:
        log.error("%s", exc)
        return 1
    for warning in conf.warnings:
        log.warning("%s", warning)
    status = 0
    for rule in conf.matching(notifytype, upsname):
        here = conf.for_rule(rule)  # the CMDSCRIPT, PIPEFN and LOCKFN set above it
        try:
            if rule.command == "START-TIMER":
                send_request(here, Start(rule.args[0], int(rule.args[1])), log)
            elif rule.command == "CANCEL-TIMER":
                command = rule.args[1] if len(rule.args) > 1 else None
                send_request(here, Cancel(rule.args[0], command), log)
            else:
                log.info("Executing command: %s", rule.args[0])
                execute(here, rule.args[0], log)
        except UpsschedError as exc:
            log.error("%s:%d: %s", conf.path, rule.lineno, exc)
            status = 1
    return status
