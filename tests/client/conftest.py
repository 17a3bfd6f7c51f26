"""Fixtures for the client tests (servers are built in client_stacks.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from client.client_stacks import IMPLS, Server, get_stack
from support import Stack

_stacks: dict[str, Stack] = {}


@pytest.fixture(scope="session")
def stacks() -> Iterator[dict[str, Stack]]:
    """Started lazily by :func:`server`; all closed at the end of the session."""
    yield _stacks
    for st in _stacks.values():
        st.close()
    _stacks.clear()


@pytest.fixture(params=IMPLS)
def server(request: pytest.FixtureRequest, stacks: dict[str, Stack]) -> Server:
    """A running stack, once per upsd implementation."""
    return Server(request.param, get_stack(stacks, request.param))
