"""SNMP v1/v2c messages without I/O: GET and SET requests out, responses in.

How this works
--------------
pysnmp's protocol modules (``pysnmp.proto.api``) and pyasn1's BER codec do
the ASN.1; this module only builds a request for a list of OIDs (or one
OID and value) and turns a datagram back into a :class:`Response`.  It
loads none of pysnmp's high-level machinery (the SNMP engine, MIB
builder), which is what makes v1/v2c about 20 MB smaller than going
through ``pysnmp.hlapi``.  Anything that is not a well-formed response is
``None``: the transport drops it and keeps waiting, as for a lost packet.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from pyasn1.codec.ber import decoder, encoder
from pyasn1.error import PyAsn1Error
from pysnmp.proto import api

#: Largest datagram read (the UDP limit).
MAX_DATAGRAM = 65535
_ids = itertools.count(1)


def next_request_id() -> int:
    return next(_ids) % 0x7FFFFFFF or next(_ids)


@dataclass(frozen=True, slots=True)
class Response:
    request_id: int
    error_status: int
    error_index: int
    varbinds: list[tuple[str, Any]]


class Codec:
    """Requests and responses of one SNMP version (v1 or v2c) and community."""

    def __init__(self, version: str, community: str) -> None:
        self.version_number = api.SNMP_VERSION_1 if version == "v1" else api.SNMP_VERSION_2C
        self.proto = api.PROTOCOL_MODULES[self.version_number]
        self.community = community

    def _message(self, pdu: Any) -> bytes:
        p = self.proto
        msg = p.Message()
        p.apiMessage.set_defaults(msg)
        p.apiMessage.set_community(msg, self.community)
        p.apiMessage.set_pdu(msg, pdu)
        data: bytes = encoder.encode(msg)
        return data

    def get(self, request_id: int, oids: list[str]) -> bytes:
        p = self.proto
        pdu = p.GetRequestPDU()
        p.apiPDU.set_defaults(pdu)
        p.apiPDU.set_request_id(pdu, request_id)
        p.apiPDU.set_varbinds(pdu, [(oid.lstrip("."), p.Null("")) for oid in oids])
        return self._message(pdu)

    def set(self, request_id: int, oid: str, kind: str, value: str | int) -> bytes:
        p = self.proto
        asn: Any
        if kind == "s":
            asn = p.OctetString(str(value))
        elif kind == "t":
            asn = p.TimeTicks(int(value))
        else:
            asn = p.Integer(int(value))
        pdu = p.SetRequestPDU()
        p.apiPDU.set_defaults(pdu)
        p.apiPDU.set_request_id(pdu, request_id)
        p.apiPDU.set_varbinds(pdu, [(oid.lstrip("."), asn)])
        return self._message(pdu)

    def parse(self, data: bytes) -> Response | None:
        """A response datagram, or None for anything else (wrong version, garbage)."""
        p = self.proto
        try:
            msg, _rest = decoder.decode(data[:MAX_DATAGRAM], asn1Spec=p.Message())
            if int(p.apiMessage.get_version(msg)) != self.version_number:
                return None
            pdu = p.apiMessage.get_pdu(msg)
            if not pdu.isSameTypeWith(p.GetResponsePDU()):
                return None
            return Response(int(p.apiPDU.get_request_id(pdu)),
                            int(p.apiPDU.get_error_status(pdu)),
                            int(p.apiPDU.get_error_index(pdu)),
                            [(".".join(str(x) for x in oid), value)
                             for oid, value in p.apiPDU.get_varbinds(pdu)])
        except (PyAsn1Error, ValueError, TypeError, KeyError, AttributeError):
            return None
