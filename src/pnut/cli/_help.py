"""Help text from a module docstring, without the docstring's markup.

Docstrings use reStructuredText (````code````, ``:mod:`x```); a terminal
shows those characters literally, so ``--help`` gets plain words.
"""

from __future__ import annotations

import re

_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def description(doc: str | None) -> str:
    """The first paragraph of ``doc``, as plain text."""
    first = (doc or "").strip().split("\n\n")[0]
    return _ROLE.sub(r"\1", first).replace("``", "")
