"""Turn a nut-ddl usbhid-ups dump that embeds a -DDD debug log into an emulator fixture.

Usage: ``python ddl2fixture.py DUMP.dev OUT.json [key=value ...]``

What is taken from the log: vendor/product IDs, the device release number,
the manufacturer/product/serial strings, the report descriptor bytes
(``Report Descriptor: (N bytes) => ...`` and its continuation lines) and
every report the C driver read (``Report[get]``/``Report[err]`` lines: the
first byte is the report ID; a recorded short answer is kept short).
Extra ``key=value`` arguments add string descriptors (``string.4=PbAc``) or
override fields; the README in the fixture folder says which were added.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

_HEXLINE = re.compile(r"^(?:[0-9a-f]{2}\s*)+$")


def _strip(line: str) -> str:
    """The log text without '#', timestamps and [Dn] tags."""
    text = line.lstrip("#").strip()
    text = re.sub(r"^\d+\.\d+\s+", "", text)
    text = re.sub(r"^\[D\d\]\s*", "", text)
    return text


def parse(text: str) -> dict[str, object]:
    lines = [_strip(x) for x in text.splitlines()]
    out: dict[str, object] = {}
    reports: dict[str, str] = {}
    desc: list[str] = []
    want = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"Report Descriptor: \((\d+) bytes\) => (.*)$", line)
        if m and not desc:
            want = int(m.group(1))
            desc = m.group(2).split()
            j = i + 1
            while len(desc) < want and j < len(lines) and _HEXLINE.match(lines[j]):
                desc += lines[j].split()
                j += 1
            i = j
            continue
        m = re.match(r"Report\[(get|err)\]: \((\d+) bytes\) => (.*)$", line)
        if m:
            data = m.group(3).split()
            reports.setdefault(str(int(data[0], 16)), "".join(data))
        for key, field in (("VendorID", "vendorid"), ("ProductID", "productid"),
                           ("Device release number", "bcddevice"), ("Manufacturer", "s1"),
                           ("Product", "s2"), ("Serial Number", "s3")):
            m = re.match(rf"- {key}: (.*)$", line)
            if m and field not in out:
                out[field] = m.group(1)
        i += 1
    if len(desc) != want or not want:
        raise SystemExit(f"report descriptor incomplete: {len(desc)} of {want} bytes")
    strings = {}
    for n in ("1", "2", "3"):
        value = out.pop("s" + n, None)
        if isinstance(value, str) and value != "unknown":
            strings[n] = value
    out["strings"] = strings
    out["report_descriptor"] = "".join(desc)
    out["feature"] = reports
    return out


def main() -> int:
    src, dst, *extra = sys.argv[1:]
    doc = parse(Path(src).read_text(encoding="utf-8", errors="replace"))
    for item in extra:
        key, _, value = item.partition("=")
        if key.startswith("string."):
            doc["strings"][key[7:]] = value  # type: ignore[index]
        elif key.startswith("feature."):
            doc["feature"][str(int(key[8:], 0))] = value  # type: ignore[index]
        else:
            doc[key] = value
    Path(dst).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
