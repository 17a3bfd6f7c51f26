"""The v1/v2c codec: its requests parse back, and no datagram makes it raise."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder

from pnut.driver.snmp.wire import Codec


def _answer(codec: Codec, request: bytes, value: object) -> bytes:
    """What an agent would send back for ``request`` (pysnmp's own API)."""
    p = codec.proto
    msg, _ = decoder.decode(request, asn1Spec=p.Message())
    pdu = p.apiMessage.get_pdu(msg)
    rsp = p.apiPDU.get_response(pdu)
    p.apiPDU.set_varbinds(rsp, [(oid, value) for oid, _ in p.apiPDU.get_varbinds(pdu)])
    p.apiMessage.set_pdu(msg, rsp)
    data: bytes = encoder.encode(msg)
    return data


def test_round_trip_v1_and_v2c() -> None:
    for version in ("v1", "v2c"):
        codec = Codec(version, "secret")
        request = codec.get(77, [".1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.33.1.1.2.0"])
        assert codec.parse(request) is None  # a request is not a response
        reply = codec.parse(_answer(codec, request, codec.proto.Integer(5)))
        assert reply is not None and reply.request_id == 77 and reply.error_status == 0
        assert [oid for oid, _ in reply.varbinds] == ["1.3.6.1.2.1.1.2.0",
                                                      "1.3.6.1.2.1.33.1.1.2.0"]
        assert int(reply.varbinds[0][1]) == 5
        other = Codec("v2c" if version == "v1" else "v1", "secret")
        assert other.parse(_answer(codec, request, codec.proto.Integer(5))) is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_datagram_is_a_response_or_none(data: bytes) -> None:
    for version in ("v1", "v2c"):
        reply = Codec(version, "public").parse(data)
        assert reply is None or isinstance(reply.request_id, int)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 200), st.binary(max_size=40))
def test_damaged_responses_never_raise(cut: int, junk: bytes) -> None:
    codec = Codec("v2c", "public")
    good = _answer(codec, codec.get(1, ["1.3.6.1.2.1.1.1.0"]), codec.proto.OctetString("x"))
    assert codec.parse(good) is not None
    for data in (good[:cut], good[:cut] + junk, junk + good):
        reply = codec.parse(data)
        assert reply is None or reply.request_id == 1
