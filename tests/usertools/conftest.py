"""Fixtures of the user-tool tests: respx, vcrpy and OpenTelemetry seeing jtd-ai's requests.

Every test stays on loopback: ``refuse_non_loopback`` (autouse here, and copied into the
docs examples' runs) makes any connection or name lookup off the machine fail at once. The
fake provider server is started and stopped per test; ``manager`` builds an
:class:`~jtd_ai.AIManager` pointed at a base URL and closes it after the test;
``run_docs_example`` runs a section's code block of docs/testing.md as a user's pytest file
would (a fresh pytest process, no repository settings), so the docs run as written.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jtd_ai import AIManager
from jtd_ai.testing import FakeProviderServer

#: The key the fake server accepts; a cassette or a span must never show it.
API_KEY = "sk-usertools-secret-4242"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
#: Seconds a docs example's pytest run may take (its imports included).
DOCS_RUN_TIMEOUT = 120


def refuse_non_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make a connection or name lookup that would leave the machine fail at once.

    Self-contained (its imports inside): its source is also written into the conftest of
    each docs example's run."""
    import ipaddress
    import socket

    def loopback(host: object) -> bool:
        if host is None or host in ("localhost", b"localhost"):
            return True
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        try:
            return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
        except ValueError:
            return False

    def check(address: object) -> None:
        if isinstance(address, tuple) and not loopback(address[0]):
            raise PermissionError(f"tests/usertools never leave the machine: a connection to "
                                  f"{address!r} was refused")

    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not loopback(host):
            raise PermissionError(f"tests/usertools never leave the machine: looking up "
                                  f"{host!r} was refused")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def api_key() -> str:
    """The key every provider here is configured with, and the fake server accepts."""
    return API_KEY


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_non_loopback(monkeypatch)


@pytest.fixture
def fake_server() -> Iterator[FakeProviderServer]:
    """A fake provider server of this test's own (a test may stop it early: stopping twice
    is harmless); it accepts only :data:`API_KEY`."""
    server = FakeProviderServer(api_key=API_KEY).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def manager() -> Iterator[Callable[..., AIManager]]:
    """``manager(base_url, **provider_keys)``: an AIManager with one provider (``openai``
    unless ``provider=`` names another driver), isolated from the user's config file and
    environment, retrying after a millisecond; closed after the test. ``transports=`` hands
    in the application's own client."""
    made: list[AIManager] = []

    def make(base_url: str | None = None, *, provider: str = "openai",
             transports: Any = None, **keys: Any) -> AIManager:
        table: dict[str, Any] = {"api_key": API_KEY, "retry_delay": 1, **keys}
        if base_url is not None:
            table["base_url"] = base_url
        ai = AIManager(providers={provider: table},
                       transports=None if transports is None else {provider: transports},
                       config_file=False, env={})
        made.append(ai)
        return ai

    yield make
    for ai in made:
        ai.close()


def docs_example(heading: str) -> str:
    """The Python code of the ``## heading`` section of docs/testing.md (its blocks in order)."""
    text = DOCS.read_text(encoding="utf-8")
    start = text.find(f"\n## {heading}\n")
    assert start >= 0, f"docs/testing.md has no section '## {heading}'"
    end = text.find("\n## ", start + 1)
    section = text[start:] if end < 0 else text[start:end]
    blocks = re.findall(r"^```python\n(.*?)^```$", section, flags=re.S | re.M)
    assert blocks, f"the section '## {heading}' of docs/testing.md has no python block"
    return "\n\n".join(blocks)


_DOCS_CONFTEST = '''\
"""Written by tests/usertools/conftest.py: the docs example may not leave the machine."""
from __future__ import annotations

import pytest


{guard}

@pytest.fixture
def api_key() -> str:
    """The key every provider here is configured with, and the fake server accepts."""
    return API_KEY


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    refuse_non_loopback(monkeypatch)
'''


@pytest.fixture
def run_docs_example(tmp_path: Path) -> Callable[[str], str]:
    """``run_docs_example(heading)`` writes the section's code to a test file in a fresh
    directory (no repository settings: pytest-asyncio in its default strict mode, as a
    user's project may have it) and runs pytest on it in a new process, which must pass
    every test it defines, none skipped, within :data:`DOCS_RUN_TIMEOUT`. Returns pytest's
    output."""

    def run(heading: str) -> str:
        code = docs_example(heading)
        expected = len(re.findall(r"^(?:async )?def test_", code, flags=re.M))
        assert expected, f"the '## {heading}' example defines no test"
        where = tmp_path / "docs_example"
        where.mkdir()
        (where / "test_docs_example.py").write_text(code, encoding="utf-8")
        guard = textwrap.dedent(inspect.getsource(refuse_non_loopback))
        (where / "conftest.py").write_text(_DOCS_CONFTEST.format(guard=guard),
                                           encoding="utf-8")
        env = {name: value for name, value in os.environ.items()
               if not name.startswith(("JTD_AI_", "PYTEST_", "OTEL_"))}
        # Only pytest-asyncio: other installed plugins (hypothesis, jtd-ai's own) cost
        # seconds of start-up and are not what the example relies on.
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "asyncio",
             "-W", "error::pytest.PytestUnraisableExceptionWarning", "test_docs_example.py"],
            cwd=where, env=env, capture_output=True, text=True, timeout=DOCS_RUN_TIMEOUT,
            check=False)
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        assert re.search(rf"\b{expected} passed\b", output), output
        assert not re.search(r"\b(skipped|xfailed|xpassed|deselected)\b", output), output
        return output

    return run
