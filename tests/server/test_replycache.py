"""The GET VAR reply cache serves a reply only while its UPS is unchanged."""

from __future__ import annotations

from pnut.server.replycache import MAX_ENTRIES, ReplyCache
from pnut.server.session import Context, Session
from pnut.server.store import UpsEntry

REQ = b"GET VAR ups ups.status\n"
WORDS = ("GET", "VAR", "ups", "ups.status")


def setup() -> tuple[Context, UpsEntry, ReplyCache, Session]:
    ctx = Context()
    entry = UpsEntry("ups", "dummy-ups", "dummy-ups-ups")
    entry.state.set_info("ups.status", "OL")
    entry.connected, entry.stale = True, False
    ctx.store.add(entry)
    return ctx, entry, ReplyCache(ctx), Session(ctx, "127.0.0.1")


def answer(session: Session, cache: ReplyCache) -> bytes:
    """What the daemon does: the cache first, else the session (and remember)."""
    cached = cache.get(REQ)
    if cached is not None:
        return cached
    reply = session.handle(WORDS).encode()
    cache.put(REQ, WORDS, reply)
    return reply


def test_hit_until_any_fact_behind_the_reply_changes() -> None:
    _ctx, entry, cache, session = setup()
    assert answer(session, cache) == b'VAR ups ups.status "OL"\n'
    assert cache.get(REQ) == b'VAR ups ups.status "OL"\n'

    entry.state.set_info("ups.status", "OB")  # a driver update
    assert cache.get(REQ) is None
    assert answer(session, cache) == b'VAR ups ups.status "OB"\n'

    entry.fsd = True
    assert cache.get(REQ) is None
    assert answer(session, cache) == b'VAR ups ups.status "FSD OB"\n'

    entry.stale = True
    assert cache.get(REQ) is None
    assert answer(session, cache) == b"ERR DATA-STALE\n"
    assert cache.get(REQ) is None  # errors are never cached

    entry.stale = False
    assert answer(session, cache) == b'VAR ups ups.status "FSD OB"\n'
    entry.connected = False
    assert cache.get(REQ) is None

    entry.connected = True
    assert answer(session, cache) == b'VAR ups ups.status "FSD OB"\n'
    entry.state.clear()  # driver reconnect flushes the tree
    assert cache.get(REQ) is None


def test_other_variables_and_deletions_invalidate_too() -> None:
    _, entry, cache, session = setup()
    answer(session, cache)
    entry.state.set_info("battery.charge", "90")  # any change to the tree
    assert cache.get(REQ) is None
    answer(session, cache)
    entry.state.del_info("ups.status")
    assert cache.get(REQ) is None
    assert answer(session, cache) == b"ERR VAR-NOT-SUPPORTED\n"


def test_a_replaced_entry_after_reload_is_a_miss() -> None:
    ctx, _entry, cache, session = setup()
    answer(session, cache)
    ctx.store.remove("ups")
    fresh = UpsEntry("ups", "dummy-ups", "dummy-ups-ups")
    fresh.state.set_info("ups.status", "OL")
    fresh.connected, fresh.stale = True, False
    ctx.store.add(fresh)
    assert cache.get(REQ) is None


def test_only_exact_get_var_requests_are_kept_and_the_table_is_bounded() -> None:
    _ctx, _, cache, session = setup()
    cache.put(b"get var ups ups.status\n", ("get", "var", "ups", "ups.status"), b"VAR x\n")
    cache.put(b"LIST UPS\n", ("LIST", "UPS"), b"BEGIN LIST UPS\n")
    cache.put(b"GET VAR ups ups.status x\n", ("GET", "VAR", "ups", "ups.status", "x"), b"VAR\n")
    assert len(cache) == 0
    for i in range(MAX_ENTRIES + 10):
        cache.put(f"GET VAR ups v{i}\n".encode(), ("GET", "VAR", "ups", f"v{i}"), b"VAR ...\n")
    assert 0 < len(cache) <= MAX_ENTRIES
    server = b"GET VAR any server.version\n"
    reply = session.handle(("GET", "VAR", "any", "server.version")).encode()
    cache.put(server, ("GET", "VAR", "any", "server.version"), reply)
    assert cache.get(server) == reply
