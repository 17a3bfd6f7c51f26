"""The sans-IO parts of ``pnut mqtt``: URLs, topic names, what a poll publishes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pnut.cli.mqtt import parse_broker
from pnut.mqtt.feed import Feed, UpsData
from pnut.mqtt.names import escape_part, server_key, ups_part
from pnut.mqtt.watch import Watch, heartbeat
from pnut.poller import parse_server


@given(st.text(min_size=1), st.text(min_size=1))
def test_escaping_is_injective_and_topic_safe(a: str, b: str) -> None:
    ea, eb = escape_part(a), escape_part(b)
    assert (ea == eb) == (a == b)
    assert not set(ea) & set("/+#\x00")


def test_server_keys() -> None:
    def key(url: str) -> str:
        return server_key(parse_server(url, {}))

    assert key("nut://mon:pw@Nas.local:3494") == "nas.local_3494"
    assert key("[::1]") == "%3a%3a1_3493"
    # Same host, other port: other key; a host with "_" cannot fake a port.
    assert key("a:1") != key("a:2")
    assert key("a_1") != key("a:1")
    assert ups_part("ups_1.a") == "ups_1.a"
    assert ups_part("a/b") == "a%2fb"


def test_broker_urls() -> None:
    b = parse_broker("mqtts://ha:pw@broker", None, None)
    assert (b.host, b.port, b.tls, b.user) == ("broker", 8883, True, "ha")
    assert "pw" not in str(b)
    b = parse_broker("127.0.0.1:1884", "env-user", "env-pw")
    assert (b.port, b.tls, b.user) == (1884, False, "env-user")
    assert b.password is not None and b.password.reveal() == "env-pw"
    with pytest.raises(ValueError):
        parse_broker("http://x", None, None)


def _topics(msgs: list) -> dict[str, str]:  # type: ignore[type-arg]
    return {m.topic: m.payload for m in msgs}


def test_feed_publishes_changes_only() -> None:
    feed = Feed("h_3493", "h:3493", boot="b", commands=True)
    snap = {"ups1": UpsData({"ups.status": "OL", "battery.charge": "90"}, "d", ("beeper.off",))}
    first = _topics(feed.update(snap, 1.0))
    assert first["pnut/h_3493/availability"] == "online"
    assert first["pnut/h_3493/ups1/var/battery.charge"] == "90"
    assert first["pnut/h_3493/ups1/availability"] == "online"
    state = json.loads(first["pnut/h_3493/ups1/state"])
    assert (state["seq"], state["status"], state["available"]) == (1, ["OL"], True)
    assert any(t.startswith("homeassistant/button/") for t in first)
    assert feed.update(snap, 2.0) == []  # nothing changed, nothing sent
    second = _topics(feed.update({"ups1": UpsData({"ups.status": "OB"}, "d")}, 3.0))
    assert second["pnut/h_3493/ups1/var/ups.status"] == "OB"
    assert second["pnut/h_3493/ups1/var/battery.charge"] == ""  # deleted
    assert json.loads(second["pnut/h_3493/ups1/state"])["seq"] == 2
    # The charge sensor's discovery config goes away with the variable.
    gone = [t for t, p in second.items() if t.startswith("homeassistant/sensor/") and p == ""]
    assert len(gone) == 1 and "battery_charge" in gone[0]
    down = _topics(feed.server_down(4.0))
    assert down["pnut/h_3493/availability"] == "offline"
    assert down["pnut/h_3493/ups1/availability"] == "offline"
    assert json.loads(down["pnut/h_3493/ups1/state"])["available"] is False
    assert feed.server_down(5.0) == []
    assert feed.parse_command("pnut/h_3493/ups1/command/beeper.off") == ("ups1", "beeper.off")
    assert feed.parse_command("pnut/h_3493/ups1/command/load.off") is None
    assert feed.parse_command("pnut/h_3493/ups2/command/beeper.off") is None
    assert feed.parse_command("pnut/other_3493/ups1/command/beeper.off") is None
    everything = _topics(feed.everything())
    assert everything["pnut/h_3493/ups1/var/ups.status"] == "OB"
    assert everything["pnut/h_3493/ups1/availability"] == "offline"


def test_odd_ups_names_stay_in_their_topic() -> None:
    feed = Feed("h_3493", "h:3493", boot="b", discovery_prefix=None)
    msgs = feed.update({"a/b+#": UpsData({"ups.status": "OL"})}, 1.0)
    assert all(m.topic.startswith("pnut/h_3493/a%2fb%2b%23/") or
               m.topic == "pnut/h_3493/availability" for m in msgs)


def test_watch_declares_a_silent_bridge_once() -> None:
    every, beat = heartbeat("boot1", 2.0)
    assert every == 0.5 and json.loads(beat) == {"boot": "boot1", "every": 0.5, "grace": 2.5}
    w = Watch("pnut")
    assert w.filters == ("pnut/+/heartbeat", "pnut/+/availability", "pnut/+/+/availability")
    # Availability before the first beat is remembered; odd topics are ignored.
    assert not w.receive("pnut/a_3493/availability", b"online", 0.0)
    for topic in ("other/a_3493/heartbeat", "pnut/a_3493/x/heartbeat", "pnut//heartbeat"):
        assert not w.receive(topic, beat, 0.0)
    assert not w.receive("pnut/a_3493/heartbeat", b"not json", 0.0)
    assert w.receive("pnut/a_3493/heartbeat", beat, 0.0)  # a new server beats
    assert w.receive("pnut/b_3493/heartbeat", beat, 0.0)
    assert not w.receive("pnut/a_3493/heartbeat", beat, 1.0)
    assert 0.49 < w.next_look(2.0) <= 0.502  # b falls due at 2.5
    # The UPS availability topics of each server, as the broker hands them over
    # (retained) or the bridges publish them; a deleted one is forgotten.
    for topic, payload in (("pnut/a_3493/ups1/availability", "online"),
                           ("pnut/a_3493/ups2/availability", "offline"),
                           ("pnut/a_3493/ups3/availability", "online"),
                           ("pnut/b_3493/ups1/availability", "online"),
                           ("pnut/a_3493/ups1/var/availability", "online"),  # a variable
                           ("pnut/a_3493//availability", "online")):
        assert not w.receive(topic, payload, 0.5)
    assert not w.receive("pnut/a_3493/ups3/availability", b"", 0.6)
    b_off = w.due(2.7)  # b: silent past its grace (server availability unknown: say it)
    assert [(m.topic, m.payload, m.retain) for m in b_off] == [
        ("pnut/b_3493/availability", "offline", True),
        ("pnut/b_3493/ups1/availability", "offline", True)]
    assert w.due(2.8) == []  # once
    # a: its server topic was online; of its UPSes, ups2 is offline already.
    assert [m.topic for m in w.due(3.6)] == ["pnut/a_3493/availability",
                                             "pnut/a_3493/ups1/availability"]
    # A beat again (a false alarm, or the host is back): watched again; the
    # bridge itself puts online back.  Already offline on the broker: nothing.
    assert not w.receive("pnut/a_3493/heartbeat", beat, 5.0)
    assert not w.receive("pnut/a_3493/availability", "offline", 5.0)
    assert not w.receive("pnut/a_3493/ups1/availability", "offline", 5.0)
    assert w.due(9.0) == []
    assert w.peers["a_3493"].declared
    # The server's last will alone (its UPSes still online) is not the end of it:
    # silent again, its UPSes are declared too.
    assert not w.receive("pnut/a_3493/heartbeat", beat, 10.0)
    assert not w.receive("pnut/a_3493/ups1/availability", "online", 10.0)
    assert [m.topic for m in w.due(13.0)] == ["pnut/a_3493/ups1/availability"]
    # A new broker connection forgets everyone (the silence may have been ours).
    w.reset()
    assert w.due(100.0) == [] and w.next_look(100.0) <= 1.001
    # A silly grace is bounded.
    assert w.receive("pnut/c_1/heartbeat", '{"grace": 1e9}', 0.0)
    assert w.peers["c_1"].grace == 3600.0
    assert not w.receive("pnut/d_1/heartbeat", '{"grace": NaN}', 0.0)


def test_feed_knows_what_its_availability_topics_should_say() -> None:
    """The bridge undoes a watcher's false alarm on exactly its own topics."""
    feed = Feed("h_3493", "h:3493", boot="b", discovery_prefix=None)
    assert feed.availability_filter == "pnut/h_3493/+/availability"
    assert feed.availability_of("pnut/h_3493/availability") == ""  # before the first poll
    feed.update({"up": UpsData({"ups.status": "OL"}), "stale": UpsData(None),
                 "a/b": UpsData({"ups.status": "OL"})}, 1.0)
    assert feed.availability_of("pnut/h_3493/availability") == "online"
    assert feed.availability_of("pnut/h_3493/up/availability") == "online"
    assert feed.availability_of("pnut/h_3493/stale/availability") == "offline"
    assert feed.availability_of("pnut/h_3493/a%2fb/availability") == "online"
    assert feed.availability_of("pnut/h_3493/gone/availability") == ""
    for other in ("pnut/h_3493/up/state", "pnut/h_3493/up/command/availability",
                  "pnut/h_3494/up/availability", "pnut/h_3493/heartbeat",
                  "pnut/h_3493/up/var/availability"):
        assert feed.availability_of(other) is None
    feed.server_down(2.0)
    assert feed.availability_of("pnut/h_3493/availability") == "offline"
    assert feed.availability_of("pnut/h_3493/up/availability") == "offline"
