"""``pnut check-config [--confdir DIR] [-u USER]``: every problem of a NUT config directory.

Prints one ``file:line: severity: problem`` line per finding and exits 1
when there is any, 0 when the directory is clean, so it can gate a deploy.
"""

from __future__ import annotations

import argparse

from pnut.checks import FILES, check_confdir
from pnut.config.parser import confpath


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="pnut check-config",
        description=f"Check the NUT configuration files of a directory ({', '.join(FILES)}): "
                    "syntax, misspelt names, and what only shows across files. Exit status "
                    "1 when anything is reported.")
    p.add_argument("--confdir", help="config directory (default $NUT_CONFPATH or /etc/nut)")
    p.add_argument("-u", dest="user", metavar="USER",
                   help="the user upsd runs as (its -u; default nut): run as root, what upsd "
                        "must write later is checked as that user")
    args = p.parse_args(argv)
    base = confpath(args.confdir)
    problems = check_confdir(base, args.user)
    for problem in problems:
        print(problem)
    errors = sum(1 for x in problems if x.severity == "error")
    if problems:
        print(f"{base}: {errors} error(s), {len(problems) - errors} warning(s)")
        return 1
    present = [name for name in FILES if (base / name).exists()]
    print(f"{base}: no problems found in {', '.join(present)}")
    return 0
