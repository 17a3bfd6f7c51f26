"""``pnut scan``: nut-scanner's options, pnut's scanners (:mod:`pnut.scan`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from pnut.driver.snmp.client import AUTH_PROTOCOLS, PRIV_PROTOCOLS, SEC_LEVELS, SnmpSettings
from pnut.scan import Found, format_json, format_parsable, format_ups_conf


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pnut scan",
        description="Find UPSes (USB, SNMP, NUT servers, mDNS, serial) and print ups.conf "
                    "sections, as NUT's nut-scanner.")
    add = p.add_argument
    add("-C", "--complete_scan", action="store_true", help="scan every bus")
    add("-U", "--usb_scan", action="store_true", help="USB devices a pnut driver knows")
    add("-S", "--snmp_scan", action="store_true", help="SNMP agents in the address range")
    add("-O", "--oldnut_scan", action="store_true", help="NUT servers in the address range")
    add("-A", "--avahi_scan", action="store_true", help="NUT servers announced over mDNS")
    add("-E", "--eaton_serial", "--serial", dest="serial", metavar="PORTS",
        help="probe these serial ports (comma-separated, or 'auto') for Q1 and APC Smart UPSes")
    add("-t", "--timeout", type=float, default=5.0, help="seconds per device (default 5)")
    add("-s", "--start_ip", help="first address of the range")
    add("-e", "--end_ip", help="last address of the range (default: start_ip)")
    add("-m", "--mask_cidr", help="address range as CIDR (192.168.0.0/24)")
    add("-p", "--port", type=int, default=3493, help="NUT server port (default 3493)")
    add("--snmp-port", type=int, default=161, help="SNMP agent port (default 161)")
    add("--snmp-version", choices=("v1", "v2c"), default="v1",
        help="SNMP version without -u (default v1)")
    add("-c", "--community", default="public", help="SNMP v1/v2c community (default public)")
    add("-l", "--secLevel", choices=SEC_LEVELS, help="SNMPv3 security level")
    add("-u", "--secName", help="SNMPv3 security name (selects SNMPv3)")
    add("-w", "--authProtocol", choices=AUTH_PROTOCOLS, default="MD5")
    add("-W", "--authPassword", default="")
    add("-x", "--privProtocol", choices=PRIV_PROTOCOLS, default="DES")
    add("-X", "--privPassword", default="")
    add("--mdns-interface", action="append", metavar="ADDRESS",
        help="browse mDNS only on this interface address (repeatable; default all)")
    add("--usb-root", type=Path, default=None, help=argparse.SUPPRESS)
    out = p.add_mutually_exclusive_group()
    out.add_argument("-N", "--disp_nut_conf", action="store_true",
                     help="ups.conf sections (default)")
    out.add_argument("-P", "--disp_parsable", action="store_true",
                     help="one parsable line per device")
    out.add_argument("--json", action="store_true", help="JSON")
    add("-q", "--quiet", action="store_true", help="only the results")
    add("-D", "--nut_debug_level", action="count", default=0)
    return p


def _snmp_settings(a: argparse.Namespace) -> SnmpSettings:
    if a.secName:
        level = a.secLevel or ("authPriv" if a.privPassword else
                               "authNoPriv" if a.authPassword else "noAuthNoPriv")
        return SnmpSettings("", a.snmp_port, version="v3", sec_level=level,
                            sec_name=a.secName, auth_password=a.authPassword,
                            priv_password=a.privPassword, auth_protocol=a.authProtocol,
                            priv_protocol=a.privProtocol, retries=0, timeout=a.timeout)
    return SnmpSettings("", a.snmp_port, version=a.snmp_version, community=a.community,
                        retries=0, timeout=a.timeout)


async def _scan(a: argparse.Namespace, say: object) -> list[Found]:
    from pnut.scan.snmp import address_range

    assert callable(say)
    hosts = address_range(a.start_ip, a.end_ip, a.mask_cidr)
    ranged = bool(hosts)
    chosen = a.usb_scan or a.snmp_scan or a.oldnut_scan or a.avahi_scan or a.serial
    everything = a.complete_scan or not chosen
    found: list[Found] = []
    if a.usb_scan or everything:
        from pnut.scan.usb import SYSFS, scan_usb

        say("Scanning USB bus.")
        found += scan_usb(a.usb_root or SYSFS)
    if (a.snmp_scan or everything) and ranged:
        from pnut.scan.snmp import scan_snmp

        say(f"Scanning SNMP bus ({len(hosts)} addresses).")
        found += await scan_snmp(hosts, _snmp_settings(a))
    elif a.snmp_scan:
        say("No start IP, skipping SNMP")
    if (a.oldnut_scan or everything) and ranged:
        from pnut.scan.nut import scan_nut

        say(f"Scanning NUT bus (old connect method, {len(hosts)} addresses).")
        found += await scan_nut(hosts, a.port, a.timeout)
    elif a.oldnut_scan:
        say("No start IP, skipping NUT bus (old connect method)")
    if a.avahi_scan or a.complete_scan:
        from pnut.scan.mdns import scan_mdns

        say("Scanning NUT bus (avahi method).")
        found += await scan_mdns(min(a.timeout, 10.0), a.mdns_interface)
    if a.serial:
        from pnut.scan.serial import default_ports, scan_serial

        ports = default_ports() if a.serial == "auto" else [
            p.strip() for p in a.serial.split(",") if p.strip()]
        say(f"Scanning serial bus ({len(ports)} ports).")
        found += await scan_serial(ports, min(a.timeout, 3.0))
    return found


def main(argv: list[str]) -> int:
    a = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if a.nut_debug_level else logging.WARNING,
                        stream=sys.stderr, format="%(message)s")
    if a.timeout <= 0 or a.timeout > 600:
        sys.stderr.write("pnut scan: --timeout must be within (0, 600] seconds\n")
        return 2

    def say(text: str) -> None:
        if not a.quiet:
            sys.stderr.write(text + "\n")

    from pnut.scan.snmp import ScanError

    try:
        found = asyncio.run(_scan(a, say))
    except ScanError as exc:
        sys.stderr.write(f"pnut scan: {exc}\n")
        return 2
    if a.json:
        sys.stdout.write(format_json(found))
    elif a.disp_parsable:
        sys.stdout.write(format_parsable(found))
    else:
        sys.stdout.write(format_ups_conf(found))
    return 0
