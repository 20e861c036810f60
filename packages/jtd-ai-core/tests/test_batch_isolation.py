"""One item never takes a batch down (issue 15): whatever ends one item, while building,
sending or reading it, is that item's typed error, and every other result is kept.

The engine is tested with scripted ``send`` functions (no network); the drivers' path with
the OpenAI driver against a loopback server that sends what no provider should (JSON nested
200,000 deep, a 5,000-digit integer, a lone surrogate).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from cli_helpers import needs
from crafted_server import CraftedServer

from jtd_ai import AIError, AIManager
from jtd_ai.batch import UnexpectedError, item_error, prepare, run_batch
from jtd_ai.errors import (
    BatchCancelledError,
    MalformedResponseError,
    ProviderUnavailableError,
    ValidationError,
)
from jtd_ai.messages import Message
from jtd_ai.protocol import StreamEvent
from jtd_ai.request import ChatRequest
from jtd_ai.responses import Response, TokenUsage
from jtd_ai.secret import Secret
from jtd_ai.wire import HttpResponse, loads

DEEP_JSON = "[" * 200_000 + "]" * 200_000
BIG_INT_JSON = '{"created": 1' + "0" * 4_999 + "}"


# -- wire.loads: every document the parser cannot take is a JSONDecodeError ------------------


@pytest.mark.parametrize("document", [DEEP_JSON, BIG_INT_JSON, DEEP_JSON.encode(),
                                      BIG_INT_JSON.encode(), " " + BIG_INT_JSON])
def test_loads_turns_unreadable_json_into_a_decode_error(document: str | bytes) -> None:
    with pytest.raises(json.JSONDecodeError):
        loads(document)


def test_loads_still_reads_what_json_loads_reads() -> None:
    assert loads(b'{"a": [1, 2.5, "\\u00e9"]}') == {"a": [1, 2.5, "é"]}
    assert loads(' {"a": 1} ') == {"a": 1}
    assert loads('"\\ud800"') == "\ud800"  # a lone surrogate is valid JSON; printing copes
    assert loads("1" * 4_000) == int("1" * 4_000)
    with pytest.raises(json.JSONDecodeError):
        loads("{not json")
    with pytest.raises(UnicodeDecodeError):
        loads(b"\xff\xfe\xfd{}")


@pytest.mark.parametrize("body", [DEEP_JSON.encode(), BIG_INT_JSON.encode()])
def test_a_body_the_parser_cannot_take_is_a_malformed_response(body: bytes) -> None:
    with pytest.raises(MalformedResponseError, match="not valid JSON") as caught:
        HttpResponse(200, {}, body).json(provider="p")
    assert caught.value.provider == "p" and caught.value.status == 200
    with pytest.raises(MalformedResponseError):
        StreamEvent(body.decode()).json(provider="p")


# -- the engine: scripted sends -------------------------------------------------------------


def _request(text: str) -> ChatRequest:
    return ChatRequest.build((Message.user(text),), "m")


def _reply(text: str) -> Response:
    return Response(content=f"re {text}", model="m", provider="p",
                    usage=TokenUsage(input_tokens=1, output_tokens=2))


async def _scripted(request: ChatRequest) -> Response:
    """Replies ``re <prompt>``; a prompt naming an exception raises it, as a driver bug,
    an unreadable reply or a failing hook would."""
    text = request.messages[-1].text
    await asyncio.sleep(0)
    if text == "type":
        raise TypeError("'NoneType' object is not subscriptable")
    if text == "recursion":
        raise RecursionError("maximum recursion depth exceeded while decoding a JSON array")
    if text == "intlimit":
        raise ValueError("Exceeds the limit (4300 digits) for integer string conversion")
    if text == "encode":
        "\ud800".encode()
    if text == "typed":
        raise ProviderUnavailableError("down", provider="p")
    if text == "stray-cancel":
        raise asyncio.CancelledError  # from inside a library; the batch is not cancelled
    return _reply(text)


async def test_any_exception_of_one_item_is_that_items_typed_error() -> None:
    prompts = ["a", "type", "b", "recursion", "c", "intlimit", "encode", "typed",
               "stray-cancel", "d"]
    seen: list[int] = []
    snapshots: list[tuple[int, int]] = []
    results = await run_batch([_request(p) for p in prompts], _scripted, concurrency=3,
                              on_result=lambda i, r: seen.append(i),
                              progress=lambda s: snapshots.append((s.done, s.failed)))
    assert sorted(seen) == list(range(len(prompts)))  # exactly once each
    assert snapshots[-1] == (4, 6)
    by_prompt = dict(zip(prompts, results, strict=True))
    for ok in "abcd":
        assert by_prompt[ok] == _reply(ok)
    for name, kind in (("type", "TypeError"), ("recursion", "RecursionError"),
                       ("intlimit", "ValueError"), ("stray-cancel", "CancelledError")):
        error = by_prompt[name]
        assert isinstance(error, UnexpectedError), name
        assert error.error_type.endswith(kind)
        assert kind in str(error)
    assert isinstance(by_prompt["encode"], ValidationError)  # text that cannot be sent
    assert "surrogate" in str(by_prompt["encode"])
    assert isinstance(by_prompt["typed"], ProviderUnavailableError)  # kept as it was


def test_sync_batch_keeps_every_result_when_one_item_raises(monkeypatch: Any) -> None:
    from jtd_ai.driver import run_sync

    results = run_sync(run_batch([_request(p) for p in ("a", "type", "b")], _scripted,
                                 concurrency=2))
    assert [type(r).__name__ for r in results] == ["Response", "UnexpectedError", "Response"]


async def test_items_that_could_not_be_built_are_reported_and_never_sent() -> None:
    sent: list[str] = []

    async def send(request: ChatRequest) -> Response:
        sent.append(request.messages[-1].text)
        return _reply(request.messages[-1].text)

    def build(item: Any) -> ChatRequest:
        if item == "boom":
            raise KeyError("boom")  # not even a jtd-ai error
        return ChatRequest.build((Message.user(item),), "m")

    prepared = prepare(["a", 42, "boom", "b"], build)
    results = await run_batch(prepared, send, concurrency=2)
    assert sent == ["a", "b"]
    assert isinstance(results[1], ValidationError)
    assert isinstance(results[2], ValidationError) and "KeyError" in str(results[2])
    assert [getattr(r, "content", None) for r in results] == ["re a", None, None, "re b"]


async def test_a_raising_callback_loses_no_result(caplog: pytest.LogCaptureFixture) -> None:
    def on_result(index: int, result: object) -> None:
        if index == 1:
            raise OSError(28, "No space left on device")

    def progress(state: object) -> None:
        raise RuntimeError("progress bar broke")

    with caplog.at_level(logging.ERROR, logger="jtd_ai.batch"):
        results = await run_batch([_request(p) for p in "abc"], _scripted, concurrency=1,
                                  on_result=on_result, progress=progress)
    assert results == [_reply("a"), _reply("b"), _reply("c")]
    assert any("on_result" in r.getMessage() for r in caplog.records)
    assert any("progress" in r.getMessage() for r in caplog.records)


async def test_cancelling_the_batch_still_cancels_it() -> None:
    started = asyncio.Event()

    async def slow(request: ChatRequest) -> Response:
        started.set()
        await asyncio.sleep(30)
        return _reply("late")

    task = asyncio.ensure_future(run_batch([_request("a")], slow, concurrency=1))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_a_wrapped_error_shows_no_secret_and_chains_nothing() -> None:
    key = Secret("sk-isolation-secret-0123456789")
    try:
        raise ValueError(f"header value {key.reveal()} is not latin-1")
    except ValueError as exc:
        error = item_error(exc, index=3)
    assert isinstance(error, UnexpectedError) and error.error_type == "ValueError"
    assert "sk-isolation-secret" not in str(error) and "item 3" in str(error)
    assert error.__cause__ is None and error.__context__ is None
    import pickle

    again = pickle.loads(pickle.dumps(error))
    assert isinstance(again, UnexpectedError) and again.error_type == "ValueError"


# -- the drivers' path: replies no parser can take, input no encoder can take ---------------


@pytest.fixture(name="crafted")
def crafted_fixture() -> Iterator[CraftedServer]:
    with CraftedServer() as server:
        yield server


@pytest.fixture(name="openai")
def openai_fixture(crafted: CraftedServer) -> Iterator[Any]:
    manager = AIManager(
        providers={"openai": {"driver": "openai", "base_url": crafted.base_url,
                              "api_key": "sk-crafted-0123456789", "default_model": "gpt-4o-mini",
                              "retry_attempts": 1}},
        default="openai", config_file=False, env={}, store={"enabled": False})
    yield manager.driver()
    manager.close()


PROMPTS = ["p0", "#deep", "p2", "#bigint", "p4", "#surrogate", "lone \ud800 prompt", "p7"]


def _check(results: list[Response | AIError], crafted: CraftedServer) -> None:
    assert len(results) == len(PROMPTS)
    for i in (0, 2, 4, 7):
        assert results[i].content == f"echo: {PROMPTS[i]}"  # type: ignore[union-attr]
    assert isinstance(results[1], MalformedResponseError)
    assert isinstance(results[3], MalformedResponseError)
    assert results[5].content == "bad \ud800 reply"  # type: ignore[union-attr]
    assert isinstance(results[6], ValidationError)
    assert not any("lone" in p for p in crafted.prompts)  # never sent
    assert sorted(crafted.prompts) == sorted(p for p in PROMPTS if "lone" not in p)


@needs("openai")
def test_send_batch_survives_replies_and_prompts_that_break_parsers(
        openai: Any, crafted: CraftedServer) -> None:
    _check(openai.send_batch(PROMPTS, concurrency=3), crafted)


@needs("openai")
async def test_asend_batch_survives_replies_and_prompts_that_break_parsers(
        openai: Any, crafted: CraftedServer) -> None:
    _check(await openai.asend_batch(PROMPTS, concurrency=3), crafted)


@needs("openai")
def test_a_bad_item_among_good_ones_is_its_own_validation_error(
        openai: Any, crafted: CraftedServer) -> None:
    results = openai.send_batch(["ok", 42, Message.user("fine")], concurrency=1)
    assert isinstance(results[1], ValidationError)
    assert [getattr(r, "content", None) for r in results] == ["echo: ok", None, "echo: fine"]
    assert crafted.prompts == ["ok", "fine"]


@needs("openai")
@pytest.mark.parametrize("marker", ["#deep", "#bigint"])
def test_one_call_with_an_unreadable_reply_is_a_malformed_response(
        openai: Any, marker: str) -> None:
    with pytest.raises(MalformedResponseError):
        openai.send_message(marker)
    with pytest.raises(MalformedResponseError):
        list(openai.stream(marker))


@needs("openai")
@pytest.mark.parametrize("marker", ["#deep", "#bigint"])
async def test_one_async_call_with_an_unreadable_reply_is_a_malformed_response(
        openai: Any, marker: str) -> None:
    with pytest.raises(MalformedResponseError):
        await openai.asend_message(marker)
    with pytest.raises(MalformedResponseError):
        async with openai.astream(marker) as stream:
            async for _ in stream:
                pass


def test_cancelled_items_are_still_reported_as_not_sent() -> None:
    import threading

    cancel = threading.Event()
    cancel.set()
    from jtd_ai.driver import run_sync

    results = run_sync(run_batch([_request("a"), _request("b")], _scripted, concurrency=1,
                                 cancel=cancel))
    assert all(isinstance(r, BatchCancelledError) for r in results)
