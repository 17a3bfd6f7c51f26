"""``pnut cert``: a private CA and certificates for STARTTLS, in one step.

    pnut cert init [--dir DIR] [--host NAME ...]   CA + server certificate
    pnut cert client NAME [--dir DIR]             a client certificate
    pnut cert show FILE                           subject, validity, pin

``init`` prints the exact lines to paste into upsd.conf and upsmon.conf.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

from pnut.cli._help import description
from pnut.config.parser import confpath
from pnut.tls import certs


def _default_dir() -> Path:
    return confpath() / "tls"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="pnut cert", description=description(__doc__))
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_init = sub.add_parser("init", help="create a CA and a server certificate")
    p_init.add_argument("--dir", type=Path, default=None,
                        help="where to write (default CONFPATH/tls)")
    p_init.add_argument("--host", action="append", default=[],
                        help="name or address clients use for this server (repeatable)")
    p_init.add_argument("--force", action="store_true",
                        help="replace an existing server certificate (its pin changes: "
                             "clients that pinned it must be updated)")
    p_client = sub.add_parser("client", help="issue a client certificate from the CA")
    p_client.add_argument("name")
    p_client.add_argument("--dir", type=Path, default=None)
    p_show = sub.add_parser("show", help="describe a certificate and print its SHA-256 pin")
    p_show.add_argument("file", type=Path)
    args = ap.parse_args(argv)
    try:
        if args.cmd == "show":
            sys.stdout.write(certs.describe(args.file))
            return 0
        directory = (args.dir or _default_dir()).resolve()
        if args.cmd == "client":
            if not (directory / "ca.key").exists():
                print(f"pnut cert: no CA in {directory}; run 'pnut cert init' first",
                      file=sys.stderr)
                return 1
            made = certs.issue(directory, args.name, client=True)
            print(f"client certificate: {made.cert}\nsha256 pin: {made.fingerprint}\n\n"
                  f"# upsd.conf (to require client certificates)\nCERTREQUEST REQUIRE\n"
                  f"CLIENTCAFILE {directory / 'ca.pem'}\n\n"
                  f"# upsmon.conf on that client\nCERTFILE {made.cert}\n")
            return 0
        hosts = args.host or ["localhost", "127.0.0.1", "::1", socket.gethostname()]
        existing = directory / "server.pem"
        if existing.exists() and not args.force:
            print(f"pnut cert: {existing} exists and clients may have pinned it: keeping it "
                  f"(run 'pnut cert show {existing}' for its pin; add --force to replace it)",
                  file=sys.stderr)
            return 1
        if args.dir is None:
            print(f"pnut cert: writing to {directory} (choose another place with --dir)",
                  file=sys.stderr)
        made = certs.init_pki(directory, hosts)
    except OSError as exc:
        where = exc.filename or args.__dict__.get("file") or args.__dict__.get("dir") or ""
        fix = {"show": "give a PEM certificate, e.g. server.pem from 'pnut cert init'",
               "client": "check --dir (the directory 'pnut cert init' wrote)",
               "init": "choose a writable directory with --dir, or run as root"}[args.cmd]
        print(f"pnut cert: {where}: {exc.strerror or exc} - {fix}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"pnut cert: {exc} - give a PEM file with a certificate", file=sys.stderr)
        return 1
    ca = directory / "ca.pem"
    print(
        f"CA certificate:     {ca}  (copy to every client)\n"
        f"server certificate: {made.cert}  (for: {', '.join(hosts)})\n"
        f"server sha256 pin:  {made.fingerprint}\n\n"
        f"# upsd.conf\nCERTFILE {made.cert}\nREQUIRE_TLS yes\n\n"
        f"# upsmon.conf on each client\nCERTPATH {ca}\nCERTVERIFY 1\nFORCESSL 1\n"
        f"# (or, without the CA file: CERTPIN <this host> {made.fingerprint})\n\n"
        f"# upsc, upscmd, upsrw, upslog\nexport PNUT_TLS_CAFILE={ca}\n"
    )
    return 0
