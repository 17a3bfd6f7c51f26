"""Transcribe the data tables of NUT's usbhid-ups subdrivers into pnut's Python data.

Usage: ``python scripts/gen_usbhid_tables.py NUT_DRIVERS_DIR OUT_DIR``

NUT keeps the facts usbhid-ups needs as C initialiser tables: HID usage
names and codes, the HID-path -> NUT-variable rows (with flags, string
length, printf format or default value, and value lookup table), the
value lookup tables and the USB vendor/product IDs each subdriver claims.
This script reads those tables (nothing else) from NUT 2.8.0's sources and
writes them as plain Python literals; the logic around them is pnut's own
(src/pnut/driver/usbhid/).  Run again to refresh after a NUT release.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

SUBDRIVERS = {
    "apc": "apc-hid.c", "cps": "cps-hid.c", "mge": "mge-hid.c", "powercom": "powercom-hid.c",
    "tripplite": "tripplite-hid.c", "liebert": "liebert-hid.c", "belkin": "belkin-hid.c",
    "arduino": "arduino-hid.c", "delta_ups": "delta_ups-hid.c", "ever": "ever-hid.c",
    "idowell": "idowell-hid.c", "legrand": "legrand-hid.c", "openups": "openups-hid.c",
    "powervar": "powervar-hid.c", "salicru": "salicru-hid.c",
}
FLAG_VALUES = {"ST_FLAG_RW": 1, "ST_FLAG_STRING": 2, "ST_FLAG_NUMBER": 4,
               "HU_FLAG_STATIC": 2, "HU_FLAG_SEMI_STATIC": 4, "HU_FLAG_ABSENT": 8,
               "HU_FLAG_QUICK_POLL": 16, "HU_FLAG_STALE": 32, "HU_TYPE_CMD": 64,
               "HU_FLAG_ENUM": 128, "HU_CMD_MASK": 0x2000, "0": 0}
DEFAULTS = {"DEFAULT_ONDELAY": "30", "DEFAULT_OFFDELAY": "20", "DEFAULT_LOWBATT": "30"}


#: Conditionals as Debian's NUT 2.8.0 build sees them (undefined: debug-only rows, SHUT).
DEFINED = {"HAVE_STRPTIME", "WITH_LIBUSB_1_0", "1"}
# "#if 0" is not in DEFINED, so its block goes.


def _condition(line: str) -> bool:
    words = line.split()
    if words[0] == "#ifdef":
        return words[1] in DEFINED
    if words[0] == "#ifndef":
        return words[1] not in DEFINED
    expr = " ".join(words[1:]).strip()  # "#if X"
    return expr in DEFINED


def preprocess(text: str) -> str:
    """Keep what the C compiler keeps for the conditionals above (others: kept)."""
    out: list[str] = []
    stack: list[tuple[bool, bool]] = []  # (this branch active, parent active)
    for line in text.splitlines():
        head = line.strip()
        if head.startswith("#"):
            head = "#" + head[1:].lstrip()  # "# if 0" is "#if 0"
        active = all(a for a, _ in stack) if stack else True
        if head.startswith(("#ifdef", "#ifndef", "#if ")) and "PRAGMA" not in head \
                and "__clang__" not in head and "defined" not in head:
            stack.append((_condition(head), active))
            continue
        if head.startswith(("#if ", "#if(")):
            stack.append((True, active))  # unknown expression: keep
            continue
        if head.startswith("#else") and stack:
            cond, parent = stack.pop()
            stack.append((not cond, parent))
            continue
        if head.startswith("#endif") and stack:
            stack.pop()
            continue
        if active:
            out.append(line)
    return "\n".join(out)


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    return preprocess(text)


def table_body(text: str, name: str) -> str | None:
    m = re.search(rf"\b{re.escape(name)}\s*\[\s*\w*\s*\]\s*=\s*\{{", text)
    if not m:
        return None
    depth, i = 1, m.end()
    while depth and i < len(text):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
        i += 1
    return text[m.end(): i - 1]


def rows(body: str) -> list[list[str]]:
    out = []
    for m in re.finditer(r"\{([^{}]*)\}", body):
        parts = [p.strip() for p in re.findall(r'"(?:[^"\\]|\\.)*"|[^,]+', m.group(1))]
        out.append([p for p in parts if p])
    return out


def cstr(tok: str) -> str | None:
    if tok == "NULL":
        return None
    if tok.startswith('"'):
        return bytes(tok[1:-1], "utf-8").decode("unicode_escape")
    return DEFAULTS.get(tok, tok)


def flags(tok: str) -> int:
    total = 0
    for part in tok.split("|"):
        part = part.strip()
        total |= FLAG_VALUES[part] if part in FLAG_VALUES else int(part, 0)
    return total


def defines(text: str) -> dict[str, str]:
    return dict(re.findall(r"#define\s+(\w+)\s+(\S+)", text))


def parse_lookups(text: str) -> dict[str, list[tuple[int, str | None, str | None, str | None]]]:
    out = {}
    for m in re.finditer(r"info_lkp_t\s+(\w+)\s*\[\s*\]\s*=", text):
        body = table_body(text, m.group(1)) or ""
        entries = []
        for r in rows(body):
            if len(r) < 2:
                continue
            fun = r[2].lstrip("&") if len(r) > 2 and r[2] != "NULL" else None
            nuf = r[3].lstrip("&") if len(r) > 3 and r[3] != "NULL" else None
            nut = cstr(r[1])
            if nut is None and fun is None and nuf is None:
                continue
            entries.append((int(r[0], 0), nut, fun, nuf))
        out[m.group(1)] = entries
    return out


def parse_subdriver(text: str, key: str) -> dict[str, object]:
    defs = defines(text)
    usages = {}
    for name in re.findall(r"usage_lkp_t\s+(\w+)\s*\[\s*\]", text):
        for r in rows(table_body(text, name) or ""):
            if len(r) == 2 and r[0].startswith('"'):
                usages[cstr(r[0])] = int(r[1], 0)
    hid2nut = []
    m = re.search(r"hid_info_t\s+(\w+)\s*\[\s*\]\s*=", text)
    assert m, key
    for r in rows(table_body(text, m.group(1)) or ""):
        if len(r) < 8 or r[0] == "NULL":
            continue
        hid2nut.append((cstr(r[0]), flags(r[1]), int(r[2], 0) if r[2].lstrip("-").isdigit()
                        else int(defs.get(r[2], "0"), 0), cstr(r[3]), cstr(r[5]), flags(r[6]),
                        None if r[7] == "NULL" else r[7].lstrip("&")))
    devices = []
    pattern = r"USB_DEVICE\(\s*(\w+)\s*,\s*(\w+)\s*\)\s*,\s*&?(\w+)"
    for vid, pid, handler in re.findall(pattern, text):
        vid_v = int(defs.get(vid, vid), 0)
        pid_v = int(defs.get(pid, pid), 0)
        devices.append((vid_v, pid_v, None if handler == "NULL" else handler))
    name_m = re.search(r'#define\s+\w+_HID_VERSION\s+"([^"]+)"', text)
    return {"name": name_m.group(1) if name_m else key, "usages": usages, "hid2nut": hid2nut,
            "devices": devices, "lookups": parse_lookups(text), "models": parse_models(text)}


def parse_models(text: str) -> list[tuple[str, str, int, str | None]]:
    """mge-hid.c's model name table, with its enum of model types as numbers."""
    enum_m = re.search(r"typedef enum\s*\{([^}]*)\}\s*models_type_t", text)
    body = table_body(text, "mge_model_names")
    if not enum_m or body is None:
        return []
    values: dict[str, int] = {}
    nxt = 0
    for part in enum_m.group(1).split(","):
        part = part.strip()
        if not part:
            continue
        name, _, val = part.partition("=")
        nxt = int(val.strip(), 0) if val.strip() else nxt
        values[name.strip()] = nxt
        nxt += 1
    out = []
    for r in rows(body):
        if len(r) == 4 and r[0] != "NULL":
            out.append((cstr(r[0]) or "", cstr(r[1]) or "", values[r[2]], cstr(r[3])))
    return out


def main() -> int:
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    libhid = strip_comments((src / "libhid.c").read_text(errors="replace"))
    generic = {}
    for r in rows(table_body(libhid, "hid_usage_lkp") or ""):
        if len(r) == 2 and r[0].startswith('"'):
            generic[cstr(r[0])] = int(r[1], 0)
    core = strip_comments((src / "usbhid-ups.c").read_text(errors="replace"))
    header = ('"""Generated by scripts/gen_usbhid_tables.py from NUT 2.8.0\'s data tables '
              '(GPL-2.0-or-later facts: names, codes, flags). Do not edit."""\n\n'
              "# fmt: off\n")
    (dst / "usages.py").write_text(
        header + "HID_USAGES: dict[str, int] = " + repr(generic) + "\n"
        "GENERIC_LOOKUPS: dict[str, list[tuple[int, str | None, str | None, str | None]]] = "
        + repr(parse_lookups(core)) + "\n", encoding="utf-8")
    for key, fname in SUBDRIVERS.items():
        path = src / fname
        if not path.exists():
            continue
        data = parse_subdriver(strip_comments(path.read_text(errors="replace")), key)
        lines = [header]
        lines.append(f"NAME = {data['name']!r}\n")
        lines.append(f"USAGES: dict[str, int] = {data['usages']!r}\n")
        lines.append("#: (vendor ID, product ID, NUT's per-device hook or None)\n")
        lines.append(f"DEVICES: list[tuple[int, int, str | None]] = {data['devices']!r}\n")
        lines.append("LOOKUPS: dict[str, list[tuple[int, str | None, str | None, str | None]]] = "
                     f"{data['lookups']!r}\n")
        if data["models"]:
            lines.append("#: (iProduct, iModel, model type, model name or None)\n")
            lines.append("MODELS: list[tuple[str, str, int, str | None]] = [\n")
            for model in data["models"]:  # type: ignore[attr-defined]
                lines.append(f"    {model!r},\n")
            lines.append("]\n")
        lines.append("HID2NUT: list[tuple[str, int, int, str, str | None, int, str | None]] = [\n")
        for row in data["hid2nut"]:  # type: ignore[attr-defined]
            lines.append(f"    {row!r},\n")
        lines.append("]\n")
        (dst / f"tab_{key}.py").write_text("".join(lines), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
