"""Fixtures of the fault-injection suite: one fake provider server on loopback for the whole
suite, a harness per test, and ``case``, which runs a test once per cell of the matrix
(driver x sync/async x send/stream). The toolkit itself is ``helpers/faultkit.py``.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from faultkit import CASES, KEY, Case, Harness

from jtd_ai.testing import FakeProviderServer


@pytest.fixture(params=CASES, ids=[c.id for c in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    """Each test taking ``case`` runs once per driver x sync/async x send/stream."""
    value: Case = request.param
    return value


@pytest.fixture(scope="session")
def fault_server() -> Iterator[FakeProviderServer]:
    """One fake provider server for the whole suite; it accepts only :data:`KEY`."""
    with FakeProviderServer(api_key=KEY) as server:
        yield server


@pytest.fixture
def server(fault_server: FakeProviderServer) -> Iterator[FakeProviderServer]:
    """The suite's server with no faults and no recorded requests left from other tests."""
    fault_server.clear_faults()
    fault_server.requests.clear()
    yield fault_server
    fault_server.clear_faults()


@pytest.fixture
def harness(server: FakeProviderServer, tmp_path: Path) -> Iterator[Harness]:
    made = Harness(server, tmp_path)
    yield made
    made.close()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
