"""Fixtures of the OpenTelemetry plugin's tests: a tracer provider writing to the SDK's
in-memory exporter, the fake provider server, and managers traced by the plugin.

The global tracer provider is never set (it can be set once per process, and every other
test of the run would then be traced): each test's plugin is given the test's own provider.
The plugin the ``jtd_ai.plugins`` entry point loads into every manager sees no SDK, so it
stays out of the calls; tests of the entry point itself run in a fresh process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from otel_helpers import API_KEY, MODELS, Tracing, installed_off

from jtd_ai import AIManager
from jtd_ai.testing import FakeProviderServer
from jtd_ai_otel import OtelOptions, OtelPlugin


@pytest.fixture(autouse=True)
def _context_kept_in_order(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """OpenTelemetry logs (rather than raises) a context detached out of order or in
    another context: any such record fails the test."""
    yield
    broken = [r.getMessage() for r in caplog.records if r.name.startswith("opentelemetry")]
    assert not broken, broken


@pytest.fixture
def tracing() -> Iterator[Tracing]:
    made = Tracing()
    try:
        yield made
    finally:
        made.exporter.clear()
        made.provider.shutdown()


@pytest.fixture
def fake_server() -> Iterator[FakeProviderServer]:
    """A fake provider server of this test's own; it accepts only :data:`API_KEY`."""
    server = FakeProviderServer(api_key=API_KEY).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def traced(tracing: Tracing, fake_server: FakeProviderServer,
           ) -> Iterator[Callable[..., AIManager]]:
    """``traced(*providers, record_content=False, plugins=(), **keys)``: a manager whose
    providers (default ``openai``) talk to the fake server, each through the driver of its
    name (any other name: the ``openai`` driver), traced by an :class:`OtelPlugin` writing
    to ``tracing`` (the installed plugins, the one the entry point would load included, are
    turned off); ``plugins`` are registered too (test wrappers). Isolated from the user's config and environment."""
    made: list[AIManager] = []

    def make(*providers: str, record_content: bool = False, plugins: tuple[Any, ...] = (),
             **keys: Any) -> AIManager:
        tables = {}
        for name in providers or ("openai",):
            driver = name if name in MODELS else "openai"
            tables[name] = {"driver": driver, "api_key": API_KEY,
                            "base_url": fake_server.base_url(driver), "retry_delay": 1, **keys}
        ai = AIManager(providers=tables, config_file=False, env={},
                       plugins=installed_off())
        made.append(ai)
        ai.hooks.register(OtelPlugin(ai, OtelOptions(record_content=record_content),
                                     tracer_provider=tracing.provider))
        for plugin in plugins:
            ai.hooks.register(plugin)
        return ai

    yield make
    for ai in made:
        ai.close()


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    """Each test taking ``mode`` runs twice: ``"sync"`` and ``"async"``."""
    return str(request.param)
