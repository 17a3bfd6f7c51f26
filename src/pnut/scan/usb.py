"""USB UPSes by the drivers' own vendor/product tables, read from sysfs.

Every device under ``/sys/bus/usb/devices`` (the root is a parameter, so
a test can point it at a tree of its own) whose (vendor, product) pair a
pnut driver claims becomes a section as nut-scanner prints it: ``port =
"auto"``, ``vendorid``/``productid`` as four upper-case hex digits, then
``product``, ``serial``, ``vendor`` when the device has them, and ``bus``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from pnut.scan import Found

SYSFS = Path("/sys/bus/usb/devices")


def known_ids() -> dict[tuple[int, int], str]:
    """(vendor, product) → driver, from usbhid-ups (and Q1-over-USB when present)."""
    table: dict[tuple[int, int], str] = {}
    sources = (("pnut.driver.qx.usb", "nutdrv_qx"), ("pnut.driver.usbhid.subdrivers",
                                                      "usbhid-ups"))
    for module_name, driver in sources:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        ids = getattr(module, "usb_ids", None)
        if ids is None:
            continue
        for vid, pid, *_ in ids():
            table.setdefault((vid, pid), driver)
    return table


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip() or None
    except OSError:
        return None


def match_device(attrs: dict[str, str | None], table: dict[tuple[int, int], str]) -> Found | None:
    """One device's sysfs attributes → a section, if a driver claims it."""
    try:
        vid = int(attrs.get("idVendor") or "", 16)
        pid = int(attrs.get("idProduct") or "", 16)
    except ValueError:
        return None
    driver = table.get((vid, pid))
    if driver is None:
        return None
    dev = Found("USB", driver, "auto").add("vendorid", f"{vid:04X}").add("productid", f"{pid:04X}")
    for key, attr in (("product", "product"), ("serial", "serial"), ("vendor", "manufacturer")):
        if attrs.get(attr):
            dev.add(key, attrs[attr])
    bus = attrs.get("busnum")
    if bus:
        dev.add("bus", f"{int(bus):03d}" if bus.isdigit() else bus)
    return dev


def scan_usb(root: Path = SYSFS) -> list[Found]:
    table = known_ids()
    found = []
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return []
    for entry in entries:
        if ":" in entry.name:  # interfaces, not devices
            continue
        attrs = {name: _read(entry / name) for name in
                 ("idVendor", "idProduct", "manufacturer", "product", "serial", "busnum")}
        dev = match_device(attrs, table)
        if dev is not None:
            found.append(dev)
    return found
