"""Fixtures for test modules whose managers talk to the fake provider server with
``ledger_helpers.KEY``: one server for the module, and (when imported) faults cleared around
every test. Import both names into the test module (``# noqa: F401``) to use them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ledger_helpers import KEY

from jtd_ai.testing import FakeProviderServer


@pytest.fixture(scope="module", name="server")
def server_fixture() -> Iterator[FakeProviderServer]:
    """The fake provider server, accepting ``KEY``, for one test module."""
    with FakeProviderServer(api_key=KEY) as running:
        yield running


@pytest.fixture(name="no_faults", autouse=True)
def no_faults_fixture(server: FakeProviderServer) -> Iterator[None]:
    """No fault a test injected outlives it (nor one from before it)."""
    server.clear_faults()
    yield
    server.clear_faults()
