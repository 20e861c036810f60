"""respx mocks jtd-ai's calls: sync calls (httpx) and async ones with ``http_backend = "httpx"``.

The replies are written here in OpenAI's wire format (a JSON completion, an SSE stream), so
what jtd-ai makes of them is checked against values it did not produce; what jtd-ai sent is
read back from respx's record of the request. No route ever reaches a network: respx answers
in-process (and the conftest refuses any connection off loopback).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from jtd_ai import AIManager, InvalidCredentialsError
from jtd_ai.testing import FakeProviderServer

#: The driver's default base URL: what a user's respx routes name.
CHAT = "https://api.openai.com/v1/chat/completions"
REPLY = {
    "id": "chatcmpl-respx", "object": "chat.completion", "created": 1_700_000_000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "Hello from respx"}}],
    "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15},
}
SSE_HEADERS = {"content-type": "text/event-stream"}


def event(**fields: Any) -> str:
    chunk = {"id": "chatcmpl-respx-2", "object": "chat.completion.chunk",
             "created": 1_700_000_000, "model": "gpt-4o-mini-2024-07-18", "choices": [],
             **fields}
    return f"data: {json.dumps(chunk)}\n\n"


STREAM = (event(choices=[{"index": 0, "delta": {"role": "assistant", "content": "Str"}}])
          + event(choices=[{"index": 0, "delta": {"content": "eamed"}}])
          + event(choices=[{"index": 0, "delta": {"content": " reply"},
                            "finish_reason": "stop"}])
          + event(usage={"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10})
          + "data: [DONE]\n\n")

Manager = Callable[..., AIManager]


def tokens(reply: Any) -> tuple[int, int]:
    """A reply's (input, output) token counts."""
    assert reply.usage is not None
    return reply.usage.input_tokens, reply.usage.output_tokens


def sent_body(route: respx.Route) -> Any:
    return json.loads(route.calls.last.request.content)


def check_plain_request(route: respx.Route, api_key: str) -> None:
    """What jtd-ai sent for ``send_message("Hi", model="gpt-4o-mini")``, as respx saw it."""
    assert route.call_count == 1
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.headers["authorization"] == f"Bearer {api_key}"
    assert request.headers["content-type"] == "application/json"
    assert sent_body(route) == {"model": "gpt-4o-mini",
                                "messages": [{"role": "user", "content": "Hi"}]}


def check_stream_request(route: respx.Route) -> None:
    assert route.call_count == 1
    body = sent_body(route)
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"] == [{"role": "user", "content": "Hi"}]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert route.calls.last.request.headers["accept"] == "text/event-stream"


# -- sync ------------------------------------------------------------------------------------

def test_a_sync_call_is_answered_by_respx(manager: Manager, api_key: str) -> None:
    with respx.mock:  # respx forgets its calls when the block ends: check them inside
        route = respx.post(CHAT).respond(json=REPLY)
        reply = manager().driver("openai").send_message("Hi", model="gpt-4o-mini")
        check_plain_request(route, api_key)
    assert reply.content == "Hello from respx"
    assert reply.model == "gpt-4o-mini-2024-07-18"
    assert tokens(reply) == (11, 4)


def test_a_sync_stream_is_answered_by_respx(manager: Manager) -> None:
    with respx.mock:
        route = respx.post(CHAT).respond(text=STREAM, headers=SSE_HEADERS)
        stream = manager().driver("openai").stream("Hi", model="gpt-4o-mini")
        deltas = [chunk.delta for chunk in stream if chunk.delta]
        check_stream_request(route)
    assert deltas == ["Str", "eamed", " reply"]
    assert stream.response is not None
    assert stream.response.content == "Streamed reply"
    assert tokens(stream.response) == (7, 3)


# -- async, through httpx ----------------------------------------------------------------------

async def test_an_async_call_is_answered_by_respx_with_http_backend_httpx(
        manager: Manager, api_key: str) -> None:
    with respx.mock:
        route = respx.post(CHAT).respond(json=REPLY)
        driver = manager(http_backend="httpx").driver("openai")
        reply = await driver.asend_message("Hi", model="gpt-4o-mini")
        check_plain_request(route, api_key)
    assert reply.content == "Hello from respx"
    assert tokens(reply) == (11, 4)


async def test_an_async_stream_is_answered_by_respx_with_http_backend_httpx(
        manager: Manager) -> None:
    with respx.mock:
        route = respx.post(CHAT).respond(text=STREAM, headers=SSE_HEADERS)
        stream = manager(http_backend="httpx").driver("openai").astream("Hi",
                                                                        model="gpt-4o-mini")
        deltas = [chunk.delta async for chunk in stream if chunk.delta]
        check_stream_request(route)
    assert deltas == ["Str", "eamed", " reply"]
    assert stream.response is not None
    assert stream.response.content == "Streamed reply"
    assert tokens(stream.response) == (7, 3)


# -- what else users do with respx -------------------------------------------------------------

@pytest.mark.parametrize("using", ["httpcore", "httpx"])
async def test_a_gzipped_reply_is_decoded_with_either_respx_mocker(
        manager: Manager, using: str) -> None:
    """respx's two mockers hand the reply over differently (httpcore: raw bytes, which the
    core decodes; httpx: a response httpx already read and decoded): both give the text."""
    body = gzip.compress(json.dumps(REPLY).encode())
    headers = {"content-encoding": "gzip", "content-type": "application/json"}
    with respx.mock(using=using) as mock:
        route = mock.post(CHAT).respond(content=body, headers=headers)
        driver = manager(http_backend="httpx").driver("openai")
        sync_reply = driver.send_message("Hi", model="gpt-4o-mini")
        async_reply = await driver.asend_message("Hi", model="gpt-4o-mini")
        assert route.call_count == 2
    assert sync_reply.content == async_reply.content == "Hello from respx"


async def test_retries_go_through_respx(manager: Manager) -> None:
    """A 429 then the reply: the retry is a second request respx sees, sync and async."""
    def answers() -> list[httpx.Response]:
        return [httpx.Response(429, headers={"retry-after": "0"}), httpx.Response(200, json=REPLY)]

    with respx.mock:
        route = respx.post(CHAT)
        driver = manager(http_backend="httpx").driver("openai")
        route.side_effect = answers()
        assert driver.send_message("Hi", model="gpt-4o-mini").content == "Hello from respx"
        assert route.call_count == 2
        route.side_effect = answers()
        reply = await driver.asend_message("Hi", model="gpt-4o-mini")
        assert reply.content == "Hello from respx"
        assert route.call_count == 4
        assert [json.loads(call.request.content)["messages"] for call in route.calls] == (
            [[{"role": "user", "content": "Hi"}]] * 4)


def test_an_error_reply_from_respx_is_the_typed_error(manager: Manager) -> None:
    error = {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                       "code": "invalid_api_key"}}
    with respx.mock:
        route = respx.post(CHAT).respond(401, json=error)
        with pytest.raises(InvalidCredentialsError) as caught:
            manager().driver("openai").send_message("Hi", model="gpt-4o-mini")
        assert route.call_count == 1  # a wrong key is not retried
    assert caught.value.status == 401


async def test_a_router_handed_in_as_the_transport_serves_sync_and_async(
        manager: Manager) -> None:
    """No patching and no ``http_backend``: the router is the provider's httpx transport."""
    router = respx.Router()
    route = router.post(CHAT).respond(json=REPLY)
    driver = manager(transports=httpx.MockTransport(router.handler)).driver("openai")
    assert driver.send_message("Hi", model="gpt-4o-mini").content == "Hello from respx"
    reply = await driver.asend_message("Hi", model="gpt-4o-mini")
    assert reply.content == "Hello from respx"
    assert route.call_count == 2
    assert json.loads(route.calls[1].request.content)["messages"] == [
        {"role": "user", "content": "Hi"}]


async def test_an_async_client_handed_in_is_mocked_by_respx(manager: Manager) -> None:
    """The docs' other way to async calls through httpx: the application's AsyncClient."""
    async with httpx.AsyncClient() as client:
        with respx.mock:
            route = respx.post(CHAT).respond(json=REPLY)
            driver = manager(transports=client).driver("openai")
            reply = await driver.asend_message("Hi", model="gpt-4o-mini")
            assert route.call_count == 1
    assert reply.content == "Hello from respx"


async def test_an_async_call_on_aiohttp_is_not_seen_by_respx(
        manager: Manager, fake_server: FakeProviderServer) -> None:
    """What the docs warn of: without ``http_backend = "httpx"`` the async call goes through
    aiohttp, past respx, to the server (here the fake one on loopback)."""
    url = fake_server.base_url("openai") + "/chat/completions"
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(url).respond(json=REPLY)
        driver = manager(fake_server.base_url("openai")).driver("openai")
        reply = await driver.asend_message("Hi", model="gpt-4o-mini")
        assert not route.called
    assert reply.content == "echo: Hi"  # the fake server's answer, not the route's
    assert len(fake_server.requests) == 1


def test_the_docs_example_runs(run_docs_example: Callable[[str], str]) -> None:
    run_docs_example("Mocking with respx")
