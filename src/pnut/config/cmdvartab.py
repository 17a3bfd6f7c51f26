"""Variable and command descriptions for GET DESC and GET CMDDESC.

The table is NUT's ``cmdvartab`` format.  Which file: ``DATAPATH`` from
upsd.conf when set (as in NUT), else NUT's installed copy when present (so
pnut answers exactly what NUT would on the same machine), else the copy
shipped with pnut.  The file is optional: without one every description is
"Description unavailable".  Broken lines are skipped and reported, never
fatal.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pnut.protocol.tokens import Tokenizer

log = logging.getLogger("pnut.upsd")

#: NUT's compiled-in data directory on Debian-like systems.
NUT_DATAPATH = Path("/usr/share/nut")
FILENAME = "cmdvartab"


class Descriptions:
    def __init__(self, variables: dict[str, str] | None = None,
                 commands: dict[str, str] | None = None, source: str = "") -> None:
        self._vars = variables or {}
        self._cmds = commands or {}
        self.source = source

    def var(self, name: str) -> str | None:
        return self._vars.get(name.lower())

    def cmd(self, name: str) -> str | None:
        return self._cmds.get(name.lower())

    def commands(self) -> list[str]:
        """Every instant command with a description (check-config's "did you mean")."""
        return list(self._cmds)

    @classmethod
    def parse(cls, data: bytes, source: str) -> Descriptions:
        tok = Tokenizer()
        variables: dict[str, str] = {}
        commands: dict[str, str] = {}
        for line in tok.feed(data) + tok.finish():
            if line.error is not None:
                log.warning("%s:%d: %s (line skipped)", source, line.lineno, line.error)
                continue
            if len(line.words) < 3:
                continue
            kind, name, text = line.words[:3]
            if kind == "VARDESC":
                variables[name.lower()] = text
            elif kind == "CMDDESC":
                commands[name.lower()] = text
        return cls(variables, commands, source)

    @classmethod
    def load(cls, datapath: str | None) -> Descriptions:
        """The table from DATAPATH, NUT's install, or pnut's own copy.

        A table read before is kept when its files are gone: upsd ``-r``
        reloads inside its chroot, where neither NUT's install nor pnut's
        own copy (nor importlib) can be reached."""
        table = cls._read(datapath)
        if table is None:
            table = _LOADED.get(datapath)
            if table is None:
                log.info("%s - disabling descriptions", "no cmdvartab found" if datapath is None
                         else f"{Path(datapath) / FILENAME} not found")
                table = cls(source="")
        _LOADED[datapath] = table
        return table

    @classmethod
    def _read(cls, datapath: str | None) -> Descriptions | None:
        path = (NUT_DATAPATH if datapath is None else Path(datapath)) / FILENAME
        try:
            return cls.parse(path.read_bytes(), str(path))
        except OSError:
            if datapath is not None:
                return None
        try:
            return cls.parse(_shipped(), "pnut:data/cmdvartab")
        except (OSError, ImportError):
            return None


#: The last table read for each DATAPATH (None: none set).
_LOADED: dict[str | None, Descriptions] = {}


def _shipped() -> bytes:
    """pnut's own copy: read beside the package (importlib.resources, which
    pulls in tempfile, shutil and the compression modules - ~1 MB of upsd's
    memory - only when the package is not a plain directory)."""
    try:
        return (Path(__file__).resolve().parent.parent / "data" / FILENAME).read_bytes()
    except OSError:
        from importlib import resources

        return (resources.files("pnut") / "data" / FILENAME).read_bytes()
