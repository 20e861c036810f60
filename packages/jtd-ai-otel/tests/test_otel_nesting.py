"""How the spans nest: under the application's span, around OpenTelemetry's HTTP client spans
(httpx for sync calls, aiohttp for async ones), around a fallback's own call, and around a
reply another plugin gave without calling (a cache hit).

The fallback and the cache here are small wrappers of the test's own on the public hook (the
built-in ones have their own tests), so what is tested is the span plugin only.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import ReadableSpan
from otel_helpers import Tracing

import jtd_ai
from jtd_ai import AIError, AIManager, FinishReason, Response, TokenUsage
from jtd_ai.testing import FakeProviderServer, Fault

Manager = Callable[..., AIManager]
HTTP_SCOPES = ("opentelemetry.instrumentation.httpx",
               "opentelemetry.instrumentation.aiohttp_client")


@pytest.fixture
def http_spans(tracing: Tracing) -> Iterator[Callable[[], list[ReadableSpan]]]:
    """httpx and aiohttp instrumented into the test's tracer provider (undone after)."""
    HTTPXClientInstrumentor().instrument(tracer_provider=tracing.provider)
    AioHttpClientInstrumentor().instrument(tracer_provider=tracing.provider)

    def spans() -> list[ReadableSpan]:
        return [span for span in tracing.exporter.get_finished_spans()
                if span.instrumentation_scope is not None
                and span.instrumentation_scope.name in HTTP_SCOPES]

    try:
        yield spans
    finally:
        for instrumentor in (HTTPXClientInstrumentor(), AioHttpClientInstrumentor()):
            if instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.uninstrument()


async def call(ai: AIManager, mode: str, kind: str, model: str = "gpt-4o-mini") -> str:
    driver = ai.driver("openai")
    if mode == "sync":
        if kind == "send":
            return str(driver.send_message("Hi", model=model).content)
        return "".join(chunk.delta for chunk in driver.stream("Hi", model=model))
    if kind == "send":
        return str((await driver.asend_message("Hi", model=model)).content)
    return "".join([chunk.delta async for chunk in driver.astream("Hi", model=model)])


def child_of(span: ReadableSpan, parent: ReadableSpan) -> bool:
    return (span.parent is not None and parent.context is not None
            and span.parent.span_id == parent.context.span_id
            and span.context is not None and span.context.trace_id == parent.context.trace_id)


@pytest.mark.parametrize("kind", ["send", "stream"])
async def test_http_spans_of_each_attempt_are_children_of_the_call_s_span(
        traced: Manager, tracing: Tracing, fake_server: FakeProviderServer,
        http_spans: Callable[[], list[ReadableSpan]], mode: str, kind: str) -> None:
    fake_server.inject(Fault(status=503))  # the first attempt fails, the retry succeeds
    ai = traced()
    with tracing.tracer.start_as_current_span("handle-request") as app:
        assert await call(ai, mode, kind) == "echo: Hi"

    span = tracing.span()
    assert span.parent is not None and span.parent.span_id == app.get_span_context().span_id
    first, second = http_spans()
    assert [s.attributes["http.status_code"] for s in (first, second)] == [503, 200]
    assert child_of(first, span) and child_of(second, span)
    # The trace reached the provider: each attempt sent its HTTP span's context.
    for sent, http in zip(fake_server.requests, (first, second), strict=True):
        assert http.context is not None
        assert sent.headers["traceparent"].startswith(
            f"00-{http.context.trace_id:032x}-{http.context.span_id:016x}-")


class FallBack:
    """Calls the ``backup`` provider when the call fails, as a fallback plugin would."""

    @jtd_ai.hookimpl
    def wrap_call(self, call: jtd_ai.CallInfo) -> Generator[Any, Response, Response] | None:
        if call.operation not in ("chat", "stream") or call.provider == "backup":
            return None
        return self.wrapper(call)

    def wrapper(self, call: jtd_ai.CallInfo) -> Generator[Any, Response, Response]:
        try:
            response = yield call.request
        except AIError:
            response = yield jtd_ai.Via("backup", model="gpt-4o")
        return response


@pytest.mark.parametrize("kind", ["send", "stream"])
async def test_a_fallback_is_a_span_of_its_own_inside_the_call_s_span(
        traced: Manager, tracing: Tracing, mode: str, kind: str) -> None:
    ai = traced("openai", "backup", plugins=(FallBack(),))
    assert await call(ai, mode, kind, model="gpt-missing") == "echo: Hi"

    inner, outer = tracing.spans()  # the fallback's call ends first
    assert child_of(inner, outer)
    assert outer.name == "chat gpt-missing"
    assert outer.attributes["jtd_ai.provider"] == "openai"
    assert outer.attributes["jtd_ai.response.provider"] == "backup"
    assert outer.attributes["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert "error.type" not in outer.attributes  # the call itself succeeded
    assert inner.name == "chat gpt-4o"
    assert inner.attributes["jtd_ai.provider"] == "backup"
    assert inner.attributes["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    # The tokens and the cost are the answering call's, on its span only: a sum over spans
    # counts them once.
    assert inner.attributes["gen_ai.usage.output_tokens"] == 2  # "echo: Hi"
    assert inner.attributes["jtd_ai.usage.cost"] > 0
    for name in ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "jtd_ai.usage.cost"):
        assert name not in outer.attributes


class Cached:
    """Answers every call itself, as a reply cache's hit does."""

    @jtd_ai.hookimpl(trylast=True)
    def wrap_call(self, call: jtd_ai.CallInfo) -> Generator[Any, Response, Response] | None:
        if call.operation not in ("chat", "stream"):
            return None
        return self.wrapper(call)

    def wrapper(self, call: jtd_ai.CallInfo) -> Generator[Any, Response, Response]:
        assert call.request is not None
        return Response("from the cache", call.request.model, call.provider,
                        FinishReason.STOP, TokenUsage(5, 3), cost=Decimal("0.5"))
        yield call.request  # a generator that never calls through


@pytest.mark.parametrize("kind", ["send", "stream"])
async def test_a_reply_given_without_calling_is_marked_cached(
        traced: Manager, tracing: Tracing, fake_server: FakeProviderServer, mode: str,
        kind: str) -> None:
    ai = traced(plugins=(Cached(),))
    assert await call(ai, mode, kind) == "from the cache"
    assert not fake_server.requests
    found = dict(tracing.span().attributes or {})
    assert found["jtd_ai.response.cached"] is True
    assert found["jtd_ai.usage.cost"] == 0  # a hit costs nothing
    assert found["gen_ai.usage.input_tokens"] == 5
    assert found["gen_ai.response.finish_reasons"] == ("stop",)


async def test_with_the_built_in_fallbacks_each_token_is_counted_once(
        traced: Manager, tracing: Tracing, mode: str) -> None:
    """Whether the built-in fallbacks plugin wraps inside this one (its attempts nested in
    the call's span) or outside (each attempt a span of its own), the provider that answered
    has a span with its tokens, and a sum over the spans counts them once."""
    ai = traced("openai", "backup")
    with tracing.tracer.start_as_current_span("handle-request") as app:
        driver = ai.driver("openai")
        options: dict[str, Any] = {"model": "gpt-missing", "fallbacks": ["backup:gpt-4o"]}
        if mode == "sync":
            reply = driver.send_message("Hi", **options)
        else:
            reply = await driver.asend_message("Hi", **options)
    assert (reply.provider, reply.content) == ("backup", "echo: Hi")

    spans = tracing.spans()
    assert len(spans) == 2
    assert all(span.context.trace_id == app.get_span_context().trace_id for span in spans)
    [answered] = [s for s in spans if s.attributes["jtd_ai.provider"] == "backup"]
    assert answered.attributes["gen_ai.request.model"] == "gpt-4o"
    assert answered.attributes["gen_ai.usage.output_tokens"] == 2  # "echo: Hi"
    assert sum(s.attributes.get("gen_ai.usage.output_tokens", 0) for s in spans) == 2
