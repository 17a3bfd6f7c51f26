"""upsd's hot path compiled by mypyc, used only while it matches its source.

The build (setup.py) may compile the protocol core and the server's
per-request modules into C extensions, kept in this folder with
``manifest.txt``: the extensions' files and, for each compiled module, the
CRC-32 and size of the source it was built from.  :func:`activate` (run by
``import pnut``) puts a finder first on ``sys.meta_path`` that loads those
modules from their extensions - only when every listed source is still the
one compiled, so an edited checkout never runs a stale build: it runs its
Python, all of it (compiled modules call each other directly, so a group is
used whole or not at all).  ``PNUT_PURE=1`` in the environment turns the
extensions off.

This module itself is never compiled and imports nothing heavy: every pnut
command goes through it.
"""

from __future__ import annotations

import binascii
import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES, ExtensionFileLoader, ModuleSpec

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = "manifest.txt"

#: The modules loaded from their extensions in this process (empty: pure Python).
ACTIVE: frozenset[str] = frozenset()
#: Why the compiled modules are not in use (when :data:`ACTIVE` is empty).
REASON = "not activated"


class _Finder:
    """Finds the compiled modules (and mypyc's shared library) by name."""

    def __init__(self, files: dict[str, str]) -> None:
        self._files = files

    def find_spec(self, name: str, path: object = None, target: object = None) -> ModuleSpec | None:
        file = self._files.get(name)
        if file is None:
            return None
        spec = ModuleSpec(name, ExtensionFileLoader(name, file), origin=file)
        spec.has_location = True  # __file__ is the extension's
        return spec


def stamp(data: bytes) -> str:
    """A source's CRC-32 and size, as the manifest keeps them: enough to tell
    an edited file (setup.py writes them with this too)."""
    return f"{binascii.crc32(data):08x} {len(data)}"


def _stamp_of(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return stamp(f.read())
    except OSError:
        return None


def manifest_text(suffix: str, files: dict[str, str], stamps: dict[str, str]) -> str:
    """The manifest setup.py writes and :func:`read_manifest` reads: ``suffix``,
    then one line per extension: its module, its file name and, for a compiled
    module, the stamp of the source it was built from."""
    lines = [f"suffix {suffix}"]
    for module, file in files.items():
        lines.append(f"{module} {file} {stamps[module]}" if module in stamps
                     else f"{module} {file}")
    return "\n".join(lines) + "\n"


def read_manifest(directory: str = HERE) -> tuple[str, dict[str, str], dict[str, str]] | None:
    """(extension suffix, {module: file}, {module: source stamp}), or None."""
    try:
        with open(os.path.join(directory, MANIFEST), encoding="utf-8") as f:
            lines = [line.split() for line in f if line.strip()]
    except (OSError, ValueError):
        return None
    if not lines or len(lines[0]) != 2 or lines[0][0] != "suffix":
        return None
    files: dict[str, str] = {}
    stamps: dict[str, str] = {}
    for words in lines[1:]:
        if len(words) not in (2, 4):
            return None
        files[words[0]] = os.path.join(directory, words[1])
        if len(words) == 4:
            stamps[words[0]] = f"{words[2]} {words[3]}"
    return lines[0][1], files, stamps


def changed(stamps: dict[str, str], directory: str = HERE) -> list[str]:
    """The compiled modules whose source is no longer the one compiled."""
    package_root = os.path.dirname(os.path.dirname(directory))
    return [module for module, stamp in stamps.items()
            if _stamp_of(os.path.join(package_root, *module.split(".")) + ".py") != stamp]


def _check() -> tuple[dict[str, str], dict[str, str]] | str:
    """The extensions' files and the compiled modules' stamps, by module, if
    they can be used, else why not."""
    if os.environ.get("PNUT_PURE") == "1":
        return "PNUT_PURE=1"
    manifest = read_manifest()
    if manifest is None:
        return "no compiled build"
    suffix, files, stamps = manifest
    if suffix not in EXTENSION_SUFFIXES or not stamps:
        return "built for another Python"
    edited = changed(stamps)
    if edited:
        return f"changed since the build: {', '.join(edited)}; reinstall to recompile"
    if not all(os.path.exists(file) for file in files.values()):
        return "the build is incomplete"
    if any(module in sys.modules for module in stamps):
        return "imported as Python before pnut"  # mixing would split the group
    return files, stamps


def activate() -> frozenset[str]:
    """Load the compiled modules from now on, if they are all current."""
    global ACTIVE, REASON
    if ACTIVE:
        return ACTIVE
    found = _check()
    if isinstance(found, str):
        REASON = found
        return ACTIVE
    files, stamps = found
    sys.meta_path.insert(0, _Finder(files))
    ACTIVE = frozenset(stamps)
    return ACTIVE


def describe() -> str:
    """One line for ``pnut --version``: compiled or not, and why not."""
    if ACTIVE:
        return f"upsd's hot path compiled by mypyc ({len(ACTIVE)} modules)"
    return f"pure Python ({REASON})"
