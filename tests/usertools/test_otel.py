"""OpenTelemetry's httpx and aiohttp instrumentations see jtd-ai's calls.

Spans go to the SDK's in-memory exporter through a tracer provider of the test's own (the
global one is never set), and every instrumentation is undone after each test. The expected
attributes come from what the test asked for (method, the fake server's URL, the status it
was told to answer), and the trace context is checked at the far end: the fake server
records the ``traceparent`` header it received.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import httpx
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.aiohttp_client import (
    AioHttpClientInstrumentor,
    create_trace_config,
)
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from jtd_ai import AIManager
from jtd_ai.testing import FakeProviderServer, Fault

Manager = Callable[..., AIManager]

HTTPX = "opentelemetry.instrumentation.httpx"
AIOHTTP = "opentelemetry.instrumentation.aiohttp_client"


class Tracing:
    """A tracer provider writing to an in-memory exporter, and the two instrumentations."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("usertools-app")

    def instrument(self) -> None:
        HTTPXClientInstrumentor().instrument(tracer_provider=self.provider)
        AioHttpClientInstrumentor().instrument(tracer_provider=self.provider)

    def uninstrument(self) -> None:
        for instrumentor in (HTTPXClientInstrumentor(), AioHttpClientInstrumentor()):
            if instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.uninstrument()

    def http_spans(self) -> list[ReadableSpan]:
        return [span for span in self.exporter.get_finished_spans()
                if span.instrumentation_scope is not None
                and span.instrumentation_scope.name in (HTTPX, AIOHTTP)]


@pytest.fixture
def tracing() -> Iterator[Tracing]:
    """Tracing, not yet instrumented; whatever the test instruments is undone after it."""
    made = Tracing()
    try:
        yield made
    finally:
        made.uninstrument()
        made.exporter.clear()
        made.provider.shutdown()


@pytest.fixture
def spans(tracing: Tracing) -> Tracing:
    """Tracing with both libraries instrumented (undone after the test)."""
    tracing.instrument()
    return tracing


def check_span(span: ReadableSpan, scope: str, url: str, status: int) -> None:
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == scope
    assert span.kind is trace.SpanKind.CLIENT
    assert span.name == "POST"
    attributes = dict(span.attributes or {})
    assert attributes["http.method"] == "POST"
    assert attributes["http.url"] == url
    assert attributes["http.status_code"] == status
    expected = trace.StatusCode.ERROR if status >= 500 else trace.StatusCode.UNSET
    assert span.status.status_code is expected


def traceparent(span: ReadableSpan) -> str:
    """The W3C header a request sent within ``span`` carries."""
    context = span.get_span_context()
    assert context is not None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-"


async def call(driver: Any, mode: str, kind: str) -> str:
    """One chat call of ``driver``, in ``mode`` (sync/async) and ``kind`` (send/stream)."""
    if mode == "sync":
        if kind == "send":
            return str(driver.send_message("Hi", model="gpt-4o-mini").content)
        return "".join(chunk.delta for chunk in driver.stream("Hi", model="gpt-4o-mini"))
    if kind == "send":
        return str((await driver.asend_message("Hi", model="gpt-4o-mini")).content)
    return "".join([chunk.delta async for chunk in driver.astream("Hi", model="gpt-4o-mini")])


# -- one call, one client span -----------------------------------------------------------------

@pytest.mark.parametrize("kind", ["send", "stream"])
@pytest.mark.parametrize(("mode", "http_backend", "scope"), [
    ("sync", "auto", HTTPX),
    ("async", "auto", AIOHTTP),
    ("async", "httpx", HTTPX),
], ids=["sync-httpx", "async-aiohttp", "async-httpx"])
async def test_a_call_is_one_client_span_and_its_trace_reaches_the_provider(
        spans: Tracing, fake_server: FakeProviderServer, manager: Manager, api_key: str,
        mode: str, http_backend: str, scope: str, kind: str) -> None:
    driver = manager(fake_server.base_url("openai"), http_backend=http_backend).driver("openai")
    assert await call(driver, mode, kind) == "echo: Hi"

    [span] = spans.http_spans()
    check_span(span, scope, fake_server.url + "/v1/chat/completions", 200)
    [request] = fake_server.requests
    assert request.headers["traceparent"].startswith(traceparent(span))
    for value in dict(span.attributes or {}).values():  # no key in what is exported
        assert api_key not in str(value)


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_each_attempt_of_a_retried_call_is_a_span_under_the_applications_span(
        spans: Tracing, fake_server: FakeProviderServer, manager: Manager,
        mode: str) -> None:
    fake_server.inject(Fault(status=503))  # the first attempt fails, the retry succeeds
    driver = manager(fake_server.base_url("openai")).driver("openai")
    with spans.tracer.start_as_current_span("handle-user-request") as app:
        assert await call(driver, mode, "send") == "echo: Hi"

    scope = HTTPX if mode == "sync" else AIOHTTP
    first, second = spans.http_spans()
    url = fake_server.url + "/v1/chat/completions"
    check_span(first, scope, url, 503)
    check_span(second, scope, url, 200)
    app_context = app.get_span_context()
    for span in (first, second):
        assert span.parent is not None
        assert span.parent.span_id == app_context.span_id
        assert span.context is not None
        assert span.context.trace_id == app_context.trace_id
    sent = [request.headers["traceparent"] for request in fake_server.requests]
    assert len(sent) == 2
    assert sent[0].startswith(traceparent(first))
    assert sent[1].startswith(traceparent(second))


# -- the application's own clients, instrumented one by one ---------------------------------------

async def test_clients_the_application_instrumented_and_handed_in_are_traced(
        tracing: Tracing, fake_server: FakeProviderServer, manager: Manager) -> None:
    """No global instrumentation: an ``httpx.Client`` instrumented by itself carries the sync
    calls, an ``aiohttp.ClientSession`` with OpenTelemetry's trace config the async ones."""
    url = fake_server.url + "/v1/chat/completions"
    with httpx.Client() as client:
        HTTPXClientInstrumentor.instrument_client(client, tracer_provider=tracing.provider)
        driver = manager(fake_server.base_url("openai"), transports=client).driver("openai")
        assert driver.send_message("Hi", model="gpt-4o-mini").content == "echo: Hi"
    [span] = tracing.http_spans()
    check_span(span, HTTPX, url, 200)

    tracing.exporter.clear()
    async with aiohttp.ClientSession(
            trace_configs=[create_trace_config(tracer_provider=tracing.provider)]) as session:
        driver = manager(fake_server.base_url("openai"), transports=session).driver("openai")
        reply = await driver.asend_message("Hi", model="gpt-4o-mini")
        assert reply.content == "echo: Hi"
    [span] = tracing.http_spans()
    check_span(span, AIOHTTP, url, 200)


# -- when instrumenting happens ----------------------------------------------------------------

async def test_aiohttp_instrumentation_reaches_sessions_made_after_it(
        tracing: Tracing, fake_server: FakeProviderServer, manager: Manager) -> None:
    """What the docs say: instrument before the first async call. jtd-ai keeps one aiohttp
    session per provider and event loop, and aiohttp's instrumentation joins a session when
    the session is made."""
    early = manager(fake_server.base_url("openai")).driver("openai")
    assert await call(early, "async", "send") == "echo: Hi"  # its session is made here
    tracing.instrument()
    assert await call(early, "async", "send") == "echo: Hi"
    assert tracing.http_spans() == []

    late = manager(fake_server.base_url("openai")).driver("openai")
    assert await call(late, "async", "send") == "echo: Hi"
    [span] = tracing.http_spans()
    check_span(span, AIOHTTP, fake_server.url + "/v1/chat/completions", 200)


async def test_after_uninstrumenting_calls_make_no_spans(
        tracing: Tracing, fake_server: FakeProviderServer, manager: Manager) -> None:
    tracing.instrument()
    tracing.uninstrument()
    driver = manager(fake_server.base_url("openai")).driver("openai")
    assert await call(driver, "sync", "send") == "echo: Hi"
    assert await call(driver, "async", "send") == "echo: Hi"
    assert tracing.exporter.get_finished_spans() == ()
    assert all("traceparent" not in request.headers for request in fake_server.requests)


#: Run in a fresh process: the instrumentations read OTEL_SEMCONV_STABILITY_OPT_IN once per
#: process. Prints each span's instrumentation and attributes as JSON.
_STABLE_NAMES = """
import asyncio, json
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from jtd_ai import AIManager
from jtd_ai.testing import FakeProviderServer

exporter = InMemorySpanExporter()
tracing = TracerProvider()
tracing.add_span_processor(SimpleSpanProcessor(exporter))
HTTPXClientInstrumentor().instrument(tracer_provider=tracing)
AioHttpClientInstrumentor().instrument(tracer_provider=tracing)
with FakeProviderServer(api_key="k") as server:
    with AIManager(providers={"openai": {"base_url": server.base_url("openai"), "api_key": "k"}},
                   config_file=False, env={}) as ai:
        driver = ai.driver("openai")
        driver.send_message("Hi", model="gpt-4o-mini")
        asyncio.run(driver.asend_message("Hi", model="gpt-4o-mini"))
    print(json.dumps({"url": server.url, "spans": [
        [span.instrumentation_scope.name, dict(span.attributes)]
        for span in exporter.get_finished_spans()]}))
"""


def test_the_stable_http_names_come_with_the_opt_in() -> None:
    """What the docs say of ``OTEL_SEMCONV_STABILITY_OPT_IN=http``, for both libraries."""
    env = {**os.environ, "OTEL_SEMCONV_STABILITY_OPT_IN": "http"}
    done = subprocess.run([sys.executable, "-c", _STABLE_NAMES], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert [scope for scope, _ in seen["spans"]] == [HTTPX, AIOHTTP]
    for _, attributes in seen["spans"]:
        assert attributes["http.request.method"] == "POST"
        assert attributes["url.full"] == seen["url"] + "/v1/chat/completions"
        assert attributes["http.response.status_code"] == 200
        assert "http.method" not in attributes


def test_the_docs_example_runs(run_docs_example: Callable[[str], str]) -> None:
    run_docs_example("Tracing with OpenTelemetry")
