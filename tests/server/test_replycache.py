"""The GET VAR reply cache serves a reply only while its UPS is unchanged."""

from __future__ import annotations

from pnut.server.replycache import MAX_ENTRIES, MAX_REQUEST, ReplyCache
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


def answer(session: Session, cache: ReplyCache, req: bytes = REQ,
           words: tuple[str, ...] = WORDS) -> bytes:
    """What the connection does: the cache first, else the session (and remember)."""
    cached = cache.get(req)
    if cached is not None:
        return cached
    row, text = session.respond(words)
    reply = text.encode()
    if row is not None and row.cacheable:
        cache.put(req, words[2], words[3], reply)
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


def test_a_removed_or_overwritten_entry_is_a_miss() -> None:
    ctx, entry, cache, session = setup()
    answer(session, cache)
    ctx.store.remove("UPS")  # names are case-insensitive
    assert cache.get(REQ) is None
    ctx.store.add(entry)  # the same entry back: valid again
    answer(session, cache)
    assert cache.get(REQ) == b'VAR ups ups.status "OL"\n'
    other = UpsEntry("Ups", "dummy-ups", "dummy-ups-Ups")  # added over it, no remove()
    ctx.store.add(other)
    assert entry.removed and cache.get(REQ) is None


def test_only_successful_get_var_lines_of_bounded_length_are_kept() -> None:
    ctx, _, cache, session = setup()
    answer(session, cache, b"LIST UPS\n", ("LIST", "UPS"))
    answer(session, cache, b"GET VAR nosuch ups.status\n", ("GET", "VAR", "nosuch", "ups.status"))
    assert len(cache) == 0
    # Any spelling NUT answers alike is a key of its own: the bytes are the key.
    low = ("get", "var", "ups", "ups.status")
    assert answer(session, cache, b"get var ups ups.status\n", low) == b'VAR ups ups.status "OL"\n'
    assert cache.get(b"get var ups ups.status\n") == b'VAR ups ups.status "OL"\n'
    long_name = "v" * MAX_REQUEST
    ctx.store.get("ups").state.set_info(long_name, "1")  # type: ignore[union-attr]
    long_req = f"GET VAR ups {long_name}\n".encode()
    answer(session, cache, long_req, ("GET", "VAR", "ups", long_name))
    assert cache.get(long_req) is None  # over MAX_REQUEST: never a key
    for i in range(MAX_ENTRIES + 10):
        cache.put(f"GET VAR ups v{i}\n".encode(), "ups", f"v{i}", b"VAR ...\n")
    assert 0 < len(cache) <= MAX_ENTRIES
    server = b"GET VAR any server.version\n"
    reply = session.handle(("GET", "VAR", "any", "server.version")).encode()
    cache.put(server, "any", "server.version", reply)
    assert cache.get(server) == reply
