"""jtd-ai's pytest plugin (entry point ``pytest11``): the ``--jtd-ai-live`` flag and fixtures.

It stays light: nothing of jtd-ai is imported until a fixture is used.

- ``ai_fake``: the global ``AI`` faked for one test (see :mod:`jtd_ai.testing.fake`).
- ``fake_provider_server``: a :class:`~jtd_ai.testing.server.FakeProviderServer` on loopback,
  shared by the session; each test starts with no recorded requests and no injected faults.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from jtd_ai.testing.fake import FakeAI
    from jtd_ai.testing.server import FakeProviderServer


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("jtd-ai")
    group.addoption(
        "--jtd-ai-live", action="store_true", default=False,
        help="run the jtd-ai driver conformance kit against the real providers (keys from "
             "the environment); tests that need canned faults are skipped",
    )


@pytest.fixture
def ai_fake() -> Iterator[FakeAI]:
    """``AI`` with every provider replaced by queued replies, for one test."""
    from jtd_ai.manager import AI

    with AI.fake() as fake:
        yield fake


@pytest.fixture(scope="session")
def _jtd_ai_fake_server() -> Iterator[FakeProviderServer]:
    from jtd_ai.testing.server import FakeProviderServer

    with FakeProviderServer() as server:
        yield server


@pytest.fixture
def fake_provider_server(_jtd_ai_fake_server: FakeProviderServer) -> Iterator[FakeProviderServer]:
    """The session's fake provider server, with no requests recorded and no faults injected
    by an earlier test; this test's faults are cleared after it."""
    _jtd_ai_fake_server.clear_faults()
    _jtd_ai_fake_server.requests.clear()
    yield _jtd_ai_fake_server
    _jtd_ai_fake_server.clear_faults()
