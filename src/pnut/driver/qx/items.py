"""The row type of a Q* dialect table and the C conversions the tables rely on.

How this works
--------------
A dialect (NUT calls it a subdriver) is a table of :class:`Item` rows, as in
NUT's nutdrv_qx: which command to send, how long and how the reply must
start, which characters (``start``..``end``, inclusive) hold the value, how
to print it (``fmt``, a printf format), and flags saying when to poll it.
Commands and settable variables are rows too.  Everything is data except
three optional hooks per row (command, raw answer, value).

The helpers mirror the C library calls NUT uses on these values
(``strtod``, ``strtol``, ``strspn``, ``printf``) so that pnut prints the same
digits as the C driver, including for odd input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pnut.driver.dstate import DriverState

# -- NUT's per-row flags (nutdrv_qx.h) ---------------------------------------
STATIC = 2          #: read once, at start-up
SEMI_STATIC = 4     #: read again after a command or SET changed the device
ABSENT = 8          #: not in the device: the driver keeps it (``fmt`` = default)
QUICK_POLL = 16     #: read at every poll; a failure means the poll failed
CMD = 32            #: an instant command
SETVAR = 64         #: how to SET the variable
TRIM = 128          #: strip spaces and '#' around the value
ENUM = 256          #: ``rw`` lists the allowed values
RANGE = 512         #: ``rw`` lists min, max pairs
NONUT = 1024        #: no NUT variable: log only (or a ups.conf setting for SETVAR)
SKIP = 2048         #: not handled (set at run time)

# -- NUT's state flags -------------------------------------------------------
ST_RW = 1
ST_STRING = 2


class HookEngine(Protocol):
    """What a row's hooks may use of the engine that calls them.

    The caller is :class:`~pnut.driver.qx.engine.QxEngine`, which stands above
    this table module and imports it; it matches this protocol by its shape, so
    the row type names no engine and mypy still checks both sides of each call.
    """

    @property
    def dstate(self) -> DriverState: ...
    @property
    def table(self) -> list[Item]: ...
    @property
    def status(self) -> set[str]: ...
    @property
    def scratch(self) -> dict[str, object]: ...
    def find(self, name: str, flag: int = 0, noflag: int = 0) -> Item | None: ...
    def getval(self, key: str) -> str | None: ...
    def testvar(self, key: str) -> bool: ...
    def update_status(self, word: str) -> None: ...


#: A hook turning a value (or command argument) into another; None = failure.
Hook = Callable[[HookEngine, "Item", str], "str | None"]
#: A hook on the raw reply bytes; returns the answer text, None = failure.
AnswerHook = Callable[[HookEngine, "Item", bytes], "str | None"]
#: A check on one ``rw`` value (NUT's info_rw_t preprocess): False leaves it out.
RwHook = Callable[[HookEngine, str], bool]


@dataclass(slots=True)
class Item:
    """One row of a dialect table (NUT's item_t)."""

    name: str
    command: str | None
    answer_len: int = 0
    leading: str = ""
    start: int = 0
    end: int = 0
    fmt: str | None = None
    flags: int = 0
    st_flags: int = 0
    rw: tuple[str, ...] = ()
    preprocess: Hook | None = None
    preprocess_command: Hook | None = None
    preprocess_answer: AnswerHook | None = None
    #: Per ``rw`` value, a check that may leave it out (None: always in).
    rw_hooks: tuple[RwHook | None, ...] = ()
    #: Filled at run time.
    answer: str = field(default="", compare=False)
    value: str = field(default="", compare=False)

    def copy(self) -> Item:
        return Item(self.name, self.command, self.answer_len, self.leading, self.start,
                    self.end, self.fmt, self.flags, self.st_flags, self.rw, self.preprocess,
                    self.preprocess_command, self.preprocess_answer, self.rw_hooks)


def extract(item: Item, answer: str, length: int) -> str | None:
    """NUT's qx_process_answer after the 'rejected' check: the value, or None."""
    if item.answer_len and length < item.answer_len:
        return None
    if item.leading and answer[:1] != item.leading:
        return None
    if item.end and item.end < item.start:
        return None
    if not answer:
        return ""
    if item.end:
        return answer[item.start:item.end + 1]
    count = _strcspn(answer, "\r") - item.start
    return answer[item.start:] if count < 0 else answer[item.start:item.start + count]


def _strcspn(text: str, reject: str) -> int:
    for i, ch in enumerate(text):
        if ch in reject:
            return i
    return len(text)


def only(text: str, allowed: str) -> bool:
    """strspn(text, allowed) == strlen(text)."""
    return all(ch in allowed for ch in text)


def cformat(fmt: str, value: float | int | str) -> str:
    """printf for the formats the tables use (%s, %.Nf, %d, %02d, %ld)."""
    return fmt.replace("%ld", "%d") % value


def trim(text: str, chars: str = "# ") -> str:
    """NUT's str_trim_m: strip ``chars`` at both ends."""
    return text.strip(chars)
