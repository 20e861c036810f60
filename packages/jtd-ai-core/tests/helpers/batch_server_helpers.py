"""The provider-batch test files' fake server: one per module, its batch endpoints reset to
quick, completing jobs and its faults cleared before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jtd_ai.testing import FakeProviderServer


@pytest.fixture(scope="module", name="server")
def server_fixture() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as running:
        yield running


@pytest.fixture(autouse=True, name="_fresh_batches")
def fresh_batches_fixture(server: FakeProviderServer) -> None:
    server.batches.polls = 2
    server.batches.seconds = None
    server.batches.outcome = "completed"
    server.clear_faults()
