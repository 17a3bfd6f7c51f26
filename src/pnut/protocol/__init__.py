"""Sans-IO core of RFC 9271: tokenizer, requests, replies, error names, limits.

Nothing in this package touches a socket; servers, drivers and clients are
thin adapters around it.
"""

from pnut.protocol.commands import TABLE, lookup, parse_request
from pnut.protocol.errors import ErrorName, NutError
from pnut.protocol.requests import to_line, to_words
from pnut.protocol.tokens import Line, Tokenizer, escape, quote, split_line

__all__ = [
    "TABLE",
    "ErrorName",
    "Line",
    "NutError",
    "Tokenizer",
    "escape",
    "lookup",
    "parse_request",
    "quote",
    "split_line",
    "to_line",
    "to_words",
]
