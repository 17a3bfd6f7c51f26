"""Passwords in upsd.users: NUT's plain text, or an argon2id hash.

NUT compares plain-text passwords with ``strcmp``.  pnut accepts the same
files unchanged and also a hash written by ``pnut passwd``; a stored value
that starts with ``$argon2`` is a hash, anything else is plain text.  Both
comparisons take time independent of where the strings differ.

Verifying an argon2 hash is deliberately slow (tens of milliseconds), and
NUT's protocol re-checks the password on every privileged command, so
successful verifications are remembered per (stored hash, given password)
digest in a small bounded cache.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher

HASH_PREFIX = "$argon2"
_CACHE_SIZE = 256


@cache
def _hasher() -> PasswordHasher:
    """argon2 is loaded on first use: most upsd.users files hold no hash."""
    from argon2 import PasswordHasher

    return PasswordHasher()
_verified: OrderedDict[bytes, None] = OrderedDict()


def is_hashed(stored: str) -> bool:
    return stored.startswith(HASH_PREFIX)


def hash_password(plain: str) -> str:
    """An argon2id hash for upsd.users (quote it there: it contains ``=``)."""
    return _hasher().hash(plain)


def check_hash_syntax(stored: str) -> str | None:
    """Why a stored hash is unusable, or None; lets config loading fail early."""
    if not is_hashed(stored):
        return None
    import hashlib  # noqa: F401  verify() needs it: load it while the files are readable

    from argon2.exceptions import InvalidHashError

    try:
        _hasher().check_needs_rehash(stored)
    except (InvalidHashError, ValueError) as exc:
        return f"malformed argon2 hash ({exc})"
    return None


def same_bytes(a: bytes, b: bytes) -> bool:
    """``a == b`` in a time that does not depend on where they differ.

    What hmac.compare_digest does; that one comes with hashlib and OpenSSL's
    libcrypto (~4 MB resident in a upsd that holds no hashed password)."""
    if len(a) != len(b):
        return False
    diff = 0
    for x, y in zip(a, b, strict=True):
        diff |= x ^ y
    return diff == 0


def verify(stored: str, given: str) -> bool:
    """True when ``given`` matches the stored plain password or hash."""
    if not is_hashed(stored):
        return same_bytes(stored.encode(), given.encode())
    import hashlib  # loaded with the hashes (check_hash_syntax)

    key = hashlib.sha256(stored.encode() + b"\0" + given.encode()).digest()
    if key in _verified:
        _verified.move_to_end(key)
        return True
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        _hasher().verify(stored, given)
    except (VerificationError, InvalidHashError):
        return False
    _verified[key] = None
    if len(_verified) > _CACHE_SIZE:
        _verified.popitem(last=False)
    return True
