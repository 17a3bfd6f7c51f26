"""Typed results of client calls: small frozen dataclasses and enums."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from pnut.protocol.cnum import atoi


@dataclass(frozen=True, slots=True)
class UpsEntry:
    """One line of ``LIST UPS``."""

    name: str
    description: str


@dataclass(frozen=True, slots=True)
class Command:
    """An instant command and its description (``GET CMDDESC``)."""

    name: str
    description: str


@dataclass(frozen=True, slots=True)
class Range:
    """One ``RANGE`` line: inclusive bounds, as the server sent them."""

    low: str
    high: str

    def contains(self, value: str) -> bool:
        """NUT's own test: the integer parts of the strings (C ``atoi``)."""
        v = atoi(value)
        return atoi(self.low) <= v <= atoi(self.high)


@dataclass(frozen=True, slots=True)
class ClientEntry:
    """One ``LIST CLIENT`` line: a connection logged in to the UPS."""

    ups: str
    address: str


@dataclass(frozen=True, slots=True)
class VarType:
    """A ``TYPE`` reply: flags and kind of a variable.

    ``words`` keeps the raw flags so that a kind this version does not know
    is not lost; ``kind`` is ``"STRING"`` or ``"NUMBER"`` (upsd reports
    NUMBER whenever STRING is absent).
    """

    words: tuple[str, ...]
    rw: bool = False
    enum: bool = False
    range: bool = False
    kind: str = "NUMBER"
    max_length: int | None = None

    @classmethod
    def from_words(cls, words: tuple[str, ...] | list[str]) -> VarType:
        flags = {w.upper() for w in words}
        kind = "NUMBER"
        max_length: int | None = None
        for w in words:
            head, _, aux = w.partition(":")
            if head.upper() == "STRING":
                kind = "STRING"
                max_length = atoi(aux) if aux else None
        return cls(
            words=tuple(words), rw="RW" in flags, enum="ENUM" in flags,
            range="RANGE" in flags, kind=kind, max_length=max_length,
        )


@dataclass(frozen=True, slots=True)
class Variable:
    """Everything the server knows about one variable."""

    name: str
    value: str
    description: str
    type: VarType
    enum: tuple[str, ...] = ()
    ranges: tuple[Range, ...] = field(default_factory=tuple)


class TrackingStatus(StrEnum):
    """Answers to ``GET TRACKING <id>`` (NUT 2.8.0)."""

    PENDING = "PENDING"
    SUCCESS = "SUCCESS"
    #: The driver reported a failure (``ERR FAILED``).
    FAILED = "FAILED"
    #: The driver did not handle the command or variable, or the id is
    #: unknown or expired (``ERR UNKNOWN``).
    UNKNOWN = "UNKNOWN"
    #: The driver refused the value or parameter (``ERR INVALID-ARGUMENT``).
    INVALID_ARGUMENT = "INVALID-ARGUMENT"

    @property
    def done(self) -> bool:
        return self is not TrackingStatus.PENDING

    @property
    def line(self) -> str:
        """The reply line as upsd wrote it."""
        if self in (TrackingStatus.PENDING, TrackingStatus.SUCCESS):
            return self.value
        return f"ERR {self.value}"
