"""``pnut passwd``: hash a password for upsd.users.

Reads the password without echo (twice) from a terminal, or one line from
standard input with ``--stdin``, and prints the ``password = "..."`` line
to paste into a user's section.  The password itself is never printed.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from pnut.cli._help import description
from pnut.config.passwords import hash_password


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="pnut passwd", description=description(__doc__))
    ap.add_argument("--stdin", action="store_true", help="read the password from standard input")
    args = ap.parse_args(argv)
    if args.stdin:
        plain = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            print("pnut passwd: no terminal to prompt on; use --stdin", file=sys.stderr)
            return 2
        plain = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != plain:
            print("pnut passwd: the two passwords differ", file=sys.stderr)
            return 1
    if not plain:
        print("pnut passwd: empty password refused", file=sys.stderr)
        return 1
    print(f'  password = "{hash_password(plain)}"')
    return 0
