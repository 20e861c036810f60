"""One GenAI span per chat call, sync and async, sent and streamed, against the fake server.

Expected values come from what the test asked for and from the fake server's documented
rule (the reply is ``echo: <last user text>``, tokens are whitespace-separated words, OpenAI's
``gpt-4o-mini`` answers as its dated snapshot), never from the plugin.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry import trace
from otel_helpers import API_KEY, MODELS, Tracing, attributes, installed_off

from jtd_ai import AIManager, Message, ModelNotFoundError, StreamInterruptedError, Tool
from jtd_ai.testing import FakeProviderServer, Fault

Manager = Callable[..., AIManager]


async def send(ai: AIManager, mode: str, prompt: Any = "Hi there", **options: Any) -> str:
    driver = ai.driver("openai")
    options.setdefault("model", "gpt-4o-mini")
    if mode == "sync":
        return str(driver.send_message(prompt, **options).content)
    return str((await driver.asend_message(prompt, **options)).content)


async def stream(ai: AIManager, mode: str, prompt: Any = "Hi there",
                 each: Callable[[], None] = lambda: None, **options: Any) -> str:
    """The streamed text; ``each()`` runs in the reader's code after every chunk."""
    driver = ai.driver("openai")
    options.setdefault("model", "gpt-4o-mini")
    text = []
    if mode == "sync":
        for chunk in driver.stream(prompt, **options):
            text.append(chunk.delta)
            each()
    else:
        async for chunk in driver.astream(prompt, **options):
            text.append(chunk.delta)
            each()
    return "".join(text)


# -- a call ------------------------------------------------------------------------------------

async def test_a_call_is_one_client_span_following_the_conventions(
        traced: Manager, tracing: Tracing, fake_server: FakeProviderServer, mode: str) -> None:
    ai = traced()
    assert await send(ai, mode, temperature=0.3, top_p=0.9, max_tokens=50, seed=7,
                      stop=["END"]) == "echo: Hi there"

    span = tracing.span()
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is trace.SpanKind.CLIENT
    assert span.parent is None
    assert span.status.status_code is trace.StatusCode.UNSET
    assert attributes(span) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "jtd_ai.provider": "openai",
        "server.address": "127.0.0.1",
        "server.port": fake_server.port,
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.request.temperature": 0.3,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.max_tokens": 50,
        "gen_ai.request.seed": 7,
        "gen_ai.request.stop_sequences": ["END"],
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": attributes(span)["gen_ai.response.id"],
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": 2,   # "Hi there"
        "gen_ai.usage.output_tokens": 3,  # "echo: Hi there"
        "jtd_ai.request_id": attributes(span)["jtd_ai.request_id"],
        "jtd_ai.usage.cost": attributes(span)["jtd_ai.usage.cost"],
    }
    assert attributes(span)["gen_ai.response.id"].startswith("chatcmpl-")
    assert attributes(span)["jtd_ai.request_id"].startswith("req_")
    assert attributes(span)["jtd_ai.usage.cost"] > 0  # gpt-4o-mini has a known price


async def test_the_span_is_the_current_span_of_the_application_s_span(
        traced: Manager, tracing: Tracing, mode: str) -> None:
    ai = traced()
    with tracing.tracer.start_as_current_span("handle-request") as app:
        await send(ai, mode)
        assert trace.get_current_span() is app  # the plugin left the context as it was
    span = tracing.span()
    assert span.parent is not None
    assert span.parent.span_id == app.get_span_context().span_id
    assert span.context.trace_id == app.get_span_context().trace_id


@pytest.mark.parametrize(("driver", "provider_name"), [
    ("openai", "openai"), ("xai", "x_ai"), ("gemini", "gcp.gemini"), ("ollama", "ollama"),
])
def test_each_driver_is_named_as_the_conventions_name_it(
        traced: Manager, tracing: Tracing, fake_server: FakeProviderServer, driver: str,
        provider_name: str) -> None:
    ai = traced(driver)
    reply = ai.driver(driver).send_message("Hi", model=MODELS[driver])
    assert reply.content == "echo: Hi"
    found = attributes(tracing.span())
    assert found["gen_ai.provider.name"] == provider_name
    assert found["jtd_ai.provider"] == driver
    assert found["gen_ai.request.model"] == MODELS[driver]
    assert (found["server.address"], found["server.port"]) == ("127.0.0.1", fake_server.port)
    assert found["gen_ai.usage.output_tokens"] == 2


def test_provider_names_overrides_the_name_of_a_provider(
        traced: Manager, tracing: Tracing) -> None:
    from jtd_ai_otel import OtelOptions, OtelPlugin

    ai = traced()
    for plugin in ai.hooks.get_plugins():
        if isinstance(plugin, OtelPlugin):
            ai.hooks.unregister(plugin)
    ai.hooks.register(OtelPlugin(ai, OtelOptions(provider_names={"openai": "vllm"}),
                                 tracer_provider=tracing.provider))
    ai.driver("openai").send_message("Hi", model="gpt-4o-mini")
    assert attributes(tracing.span())["gen_ai.provider.name"] == "vllm"


# -- streams -------------------------------------------------------------------------------------

async def test_a_stream_is_one_span_ending_with_the_stream(
        traced: Manager, tracing: Tracing, mode: str) -> None:
    ai = traced()
    seen: list[tuple[int, object]] = []

    def each() -> None:  # the reader's code: the call's span is not current there
        seen.append((len(tracing.spans()), trace.get_current_span()))

    with tracing.tracer.start_as_current_span("handle-request") as app:
        assert await stream(ai, mode, each=each) == "echo: Hi there"

    assert seen and all(ended == 0 for ended, _ in seen)  # open while the chunks came
    assert all(current is app for _, current in seen)
    span = tracing.span()
    found = attributes(span)
    assert span.name == "chat gpt-4o-mini"
    assert span.parent is not None and span.parent.span_id == app.get_span_context().span_id
    assert found["gen_ai.request.stream"] is True
    assert found["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert found["gen_ai.response.finish_reasons"] == ["stop"]
    assert found["gen_ai.usage.output_tokens"] == 3
    assert span.start_time is not None and span.end_time is not None
    first = found["gen_ai.response.time_to_first_chunk"]
    assert 0 < first <= (span.end_time - span.start_time) / 1e9


async def test_a_stream_closed_early_ends_its_span_as_cancelled(
        traced: Manager, tracing: Tracing, mode: str) -> None:
    ai = traced()
    driver = ai.driver("openai")
    if mode == "sync":
        chunks = driver.stream("one two three four", model="gpt-4o-mini")
        next(iter(chunks))
        chunks.close()
    else:
        achunks = driver.astream("one two three four", model="gpt-4o-mini")
        await anext(aiter(achunks))
        await achunks.aclose()
    span = tracing.span()
    assert attributes(span)["error.type"] == "cancelled"
    assert attributes(span)["gen_ai.response.finish_reasons"] == ["error"]
    assert span.status.status_code is trace.StatusCode.ERROR


# -- batches -----------------------------------------------------------------------------------

PROMPTS = ["one", "two words", "three more words", "busy item"]


def check_batch(tracing: Tracing, app: trace.Span, results: list[Any]) -> None:
    assert [getattr(r, "content", None) for r in results] == [
        "echo: one", "echo: two words", "echo: three more words", None]
    spans = tracing.spans()
    assert len(spans) == 4
    for span in spans:
        assert span.parent is not None
        assert span.parent.span_id == app.get_span_context().span_id
    assert sorted(attributes(s).get("gen_ai.usage.input_tokens", 0) for s in spans) == [
        0, 1, 2, 3]
    [failed] = [s for s in spans if "error.type" in attributes(s)]
    assert attributes(failed)["error.type"] == "RateLimitError"


def test_each_item_of_a_batch_is_a_span_under_the_application_s_span(
        traced: Manager, tracing: Tracing, fake_server: FakeProviderServer) -> None:
    ai = traced(retry_attempts=1)
    fake_server.inject(Fault(status=429, body_contains="busy item"))
    with tracing.tracer.start_as_current_span("nightly-batch") as app:
        results = ai.driver("openai").send_batch(PROMPTS, model="gpt-4o-mini", concurrency=2)
    check_batch(tracing, app, results)


async def test_each_item_of_an_async_batch_is_a_span_under_the_application_s_span(
        traced: Manager, tracing: Tracing, fake_server: FakeProviderServer) -> None:
    ai = traced(retry_attempts=1)
    fake_server.inject(Fault(status=429, body_contains="busy item"))
    with tracing.tracer.start_as_current_span("nightly-batch") as app:
        results = await ai.driver("openai").asend_batch(PROMPTS, model="gpt-4o-mini",
                                                        concurrency=2)
    check_batch(tracing, app, results)


# -- errors -----------------------------------------------------------------------------------

async def test_a_failed_call_has_its_error_type_and_an_error_status(
        traced: Manager, tracing: Tracing, mode: str) -> None:
    ai = traced()
    with pytest.raises(ModelNotFoundError):
        await send(ai, mode, model="gpt-missing")
    span = tracing.span()
    assert span.name == "chat gpt-missing"
    assert span.status.status_code is trace.StatusCode.ERROR
    assert span.status.description
    found = attributes(span)
    assert found["error.type"] == "ModelNotFoundError"
    assert found["gen_ai.response.finish_reasons"] == ["error"]
    assert "gen_ai.response.model" not in found


async def test_a_stream_broken_midway_records_the_error_and_what_had_arrived(
        traced: Manager, tracing: Tracing, fake_server: FakeProviderServer,
        mode: str) -> None:
    ai = traced(record_content=True, retry_attempts=1)
    fake_server.inject(Fault(reset_after=2))  # two events, then the connection drops
    with pytest.raises(StreamInterruptedError):
        await stream(ai, mode, "one two three four five")
    found = attributes(tracing.span())
    assert found["error.type"] == "StreamInterruptedError"
    assert found["gen_ai.response.finish_reasons"] == ["error"]
    [message] = json.loads(found["gen_ai.output.messages"])
    assert message["finish_reason"] == "error"
    [part] = message["parts"]
    assert "echo: one two three four five".startswith(part["content"])


# -- content --------------------------------------------------------------------------------------

async def test_content_is_recorded_only_when_asked_for(
        traced: Manager, tracing: Tracing, mode: str) -> None:
    ai = traced()
    await send(ai, mode, [Message.system("Be brief"), Message.user("Hi there")])
    found = attributes(tracing.span())
    for name in ("gen_ai.input.messages", "gen_ai.output.messages",
                 "gen_ai.system_instructions", "gen_ai.tool.definitions"):
        assert name not in found
    for value in found.values():
        assert "Hi there" not in str(value) and "Be brief" not in str(value)


async def test_recorded_content_follows_the_message_schemas(
        traced: Manager, tracing: Tracing, mode: str) -> None:
    ai = traced(record_content=True)
    await send(ai, mode, [Message.system("Be brief"), Message.user("Hi there")])
    found = attributes(tracing.span())
    assert json.loads(found["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "Hi there"}]},
    ]
    assert json.loads(found["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "echo: Hi there"}],
         "finish_reason": "stop"},
    ]


async def test_a_tool_call_is_recorded_with_its_arguments_and_the_tools_offered(
        traced: Manager, tracing: Tracing, mode: str) -> None:
    lookup = Tool("lookup", "Look a word up", {"type": "object",
                                               "properties": {"query": {"type": "string"}}})
    ai = traced(record_content=True)
    await send(ai, mode, "Hi", tools=[lookup])
    found = attributes(tracing.span())
    assert found["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert json.loads(found["gen_ai.tool.definitions"]) == [
        {"type": "function", "name": "lookup", "description": "Look a word up",
         "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}]
    [message] = json.loads(found["gen_ai.output.messages"])
    assert message["finish_reason"] == "tool_call"
    [part] = message["parts"]
    assert part["type"] == "tool_call"
    assert part["name"] == "lookup"
    assert part["arguments"] == {"query": "Hi"}  # the fake server's rule: the user's text


async def test_no_span_shows_the_api_key(traced: Manager, tracing: Tracing, mode: str) -> None:
    ai = traced(record_content=True)
    await send(ai, mode)
    with pytest.raises(ModelNotFoundError):
        await send(ai, mode, model="gpt-missing")
    for span in tracing.spans():
        for value in (span.attributes or {}).values():
            assert API_KEY not in str(value)
        assert API_KEY not in (span.status.description or "")


# -- without an SDK ---------------------------------------------------------------------------------

def test_without_an_sdk_the_plugin_stays_out_of_every_call(
        fake_server: FakeProviderServer, tracing: Tracing) -> None:
    """No tracer provider given and the global one never set (these tests never set it)."""
    from jtd_ai_otel import OtelPlugin

    with AIManager(providers={"openai": {"api_key": API_KEY,
                                         "base_url": fake_server.base_url("openai")}},
                   config_file=False, env={}, plugins=installed_off()) as ai:
        plugin = OtelPlugin(ai)
        ai.hooks.register(plugin)
        assert ai.driver("openai").send_message("Hi", model="gpt-4o-mini").content == "echo: Hi"
        assert "".join(c.delta for c in ai.driver("openai").stream(
            "Hi", model="gpt-4o-mini")) == "echo: Hi"
    assert tracing.exporter.get_finished_spans() == ()
    assert trace.get_current_span() is trace.INVALID_SPAN
