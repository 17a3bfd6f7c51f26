"""Tests of pnut.client and the client programs (a package, so that its
conftest does not shadow the root one for ``from conftest import ...``)."""
