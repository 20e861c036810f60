"""jtd-ai's pytest plugin (entry point ``pytest11``): the ``--jtd-ai-live`` flag and fixtures.

It stays light: nothing of jtd-ai is imported until a fixture is used.

- ``ai_fake``: the global ``AI`` faked for one test (see :mod:`jtd_ai.testing.fake`).
- ``fake_provider_server``: a :class:`~jtd_ai.testing.server.FakeProviderServer` on loopback,
  shared by the session; each test starts with no recorded requests and no injected faults.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
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


# -- the conformance kit's skip summary ---------------------------------------------------------
# A green kit run must not hide an untested capability: every kit test that was skipped (or
# marked xfail by the driver) is listed at the end of the run with its reason.

_KIT_SKIPS = pytest.StashKey[list[tuple[str, str, str]]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None],
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    cls = getattr(item, "cls", None)
    if getattr(cls, "_jtd_ai_conformance_kit", False) and report.skipped:
        if hasattr(report, "wasxfail"):
            outcome, reason = "xfail", str(report.wasxfail) or "(no reason)"
        else:
            outcome = "skipped"
            longrepr = report.longrepr
            reason = str(longrepr[2] if isinstance(longrepr, tuple) else longrepr)
            reason = reason.removeprefix("Skipped: ")
        item.config.stash.setdefault(_KIT_SKIPS, []).append((item.nodeid, outcome, reason))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    """List every conformance-kit test that did not run, and why."""
    skips = config.stash.get(_KIT_SKIPS, [])
    if not skips:
        return
    terminalreporter.section(f"jtd-ai conformance kit: {len(skips)} kit test(s) not run")
    for nodeid, outcome, reason in skips:
        terminalreporter.line(f"{outcome.upper():8} {nodeid}: {reason}")
