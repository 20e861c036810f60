"""The streaming batch engine (issue 19): input read lazily, bounded read-ahead, results as
they finish or in order through a bounded window, nothing kept for the whole batch.

The engine is driven with scripted ``send`` functions where a test must hold items back at
will; the drivers' forms (``stream_batch``/``astream_batch``) against a mock HTTP transport
here, and over real HTTP on the default backends in test_batch_stream_server.py.
Memory is checked by counting live request and reply objects (weak references), not by time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from core_helpers import echo_reply

from jtd_ai import AIError, Message
from jtd_ai.batch import BatchInputError, BatchProgress, collect_batch, stream_batch
from jtd_ai.errors import BatchCancelledError, ProviderError, ValidationError
from jtd_ai.request import ChatRequest
from jtd_ai.responses import Response, TokenUsage


def by_prompt(request: httpx.Request) -> httpx.Response:
    """Echo-format replies naming the prompt; prompts containing 'bad' fail with 400."""
    prompt = json.loads(request.content)["messages"][-1]["content"]
    if "bad" in prompt:
        return httpx.Response(400, json={"error": f"cannot answer {prompt}"})
    return httpx.Response(200, json=echo_reply(f"re {prompt}"))


class Counted:
    """An endless input that counts how many items were taken from it."""

    def __init__(self, prefix: str = "p") -> None:
        self.taken = 0
        self.prefix = prefix

    def __iter__(self) -> Iterator[str]:
        for i in itertools.count():
            self.taken += 1
            yield f"{self.prefix}{i}"


def _request(text: str) -> ChatRequest:
    return ChatRequest.build((Message.user(text),), "m")


async def _echo(request: ChatRequest) -> Response:
    await asyncio.sleep(0)
    return Response(content=f"re {request.messages[-1].text}", model="m", provider="p",
                    usage=TokenUsage(input_tokens=1, output_tokens=2))


# -- laziness and bounded memory ------------------------------------------------------------


async def test_an_endless_input_is_read_only_a_window_ahead() -> None:
    source = Counted()
    got: list[tuple[int, Any]] = []
    stream = stream_batch(source, _echo, build=_request, concurrency=4, window=10)
    async with contextlib.aclosing(stream):
        async for index, result in stream:
            got.append((index, result))
            assert source.taken <= len(got) + 10  # never more than the window ahead
            if len(got) == 50:
                break
    taken = source.taken
    await asyncio.sleep(0.01)
    assert source.taken == taken  # closed: nothing more is read
    assert len({i for i, _ in got}) == 50
    assert all(r.content == f"re p{i}" for i, r in got)


async def test_live_requests_and_replies_stay_within_the_window() -> None:
    """However long the batch, the requests and replies alive at once are bounded by the
    window (in flight + finished and not yet handed out), never by the batch's length."""
    live = {"requests": 0, "replies": 0}
    most = 0

    def track(thing: object, kind: str) -> None:
        live[kind] += 1
        weakref.finalize(thing, lambda: live.__setitem__(kind, live[kind] - 1))

    def alive() -> int:
        return live["requests"] + live["replies"]

    def build(text: str) -> ChatRequest:
        request = _request(text)
        track(request, "requests")
        return request

    async def send(request: ChatRequest) -> Response:
        nonlocal most
        await asyncio.sleep(0)
        reply = await _echo(request)
        track(reply, "replies")
        most = max(most, alive())
        return reply

    count = 0
    async for _, result in stream_batch((f"q{i}" for i in range(3000)), send, build=build,
                                        concurrency=8, window=20):
        count += 1
        assert not isinstance(result, AIError)
        del result
        most = max(most, alive())
    assert count == 3000
    assert 8 <= most <= 20 + 1  # the window (+ the one the consumer holds), not the 3,000
    assert alive() == 0  # nothing kept at the end


async def test_ordered_results_wait_in_a_bounded_window_that_holds_the_input_back() -> None:
    release = asyncio.Event()
    source = Counted()

    async def send(request: ChatRequest) -> Response:
        if request.messages[-1].text == "p0":
            await release.wait()  # the first item is slow: the others finish ahead of it
        return await _echo(request)

    got: list[int] = []
    stream = stream_batch(source, send, build=_request, concurrency=4, window=6,
                          ordered=True)

    async def consume() -> None:
        async for index, _ in stream:
            got.append(index)
            if len(got) == 30:
                break

    task = asyncio.ensure_future(consume())
    for _ in range(50):
        await asyncio.sleep(0)
    assert got == []  # nothing handed out before item 0
    assert source.taken == 6  # the window is full: no more input is read
    release.set()
    await task
    await stream.aclose()
    assert got == list(range(30))  # in input order


async def test_unordered_results_come_as_they_finish() -> None:
    release = asyncio.Event()

    async def send(request: ChatRequest) -> Response:
        if request.messages[-1].text == "a":
            await release.wait()
        return await _echo(request)

    got: list[int] = []
    async for index, _ in stream_batch(["a", "b", "c"], send, build=_request, concurrency=3):
        got.append(index)
        if len(got) == 2:
            release.set()
    assert got == [1, 2, 0]


# -- results, errors, cancel -----------------------------------------------------------------


async def test_each_item_is_its_own_result_or_error(manager_with: Any) -> None:
    driver = manager_with(httpx.MockTransport(by_prompt)).driver()
    items: list[Any] = ["a", 42, "bad one", Message.user("d")]
    got = dict([pair async for pair in driver.astream_batch(items, concurrency=2)])
    await driver.aclose()
    assert sorted(got) == [0, 1, 2, 3]
    assert got[0].content == "re a" and got[3].content == "re d"  # type: ignore[union-attr]
    assert isinstance(got[1], ValidationError)  # could not be built: never sent
    assert isinstance(got[2], ProviderError) and "bad one" in str(got[2])


async def test_an_async_iterable_input(manager_with: Any) -> None:
    driver = manager_with(httpx.MockTransport(by_prompt)).driver()

    async def prompts() -> AsyncIterator[str]:
        for i in range(25):
            await asyncio.sleep(0)
            yield f"a{i}"

    got = [pair async for pair in driver.astream_batch(prompts(), concurrency=4,
                                                       ordered=True)]
    await driver.aclose()
    assert [i for i, _ in got] == list(range(25))
    assert [r.content for _, r in got] == [f"re a{i}" for i in range(25)]  # type: ignore[union-attr]
    collected = await driver.asend_batch(prompts(), concurrency=3)
    await driver.aclose()
    assert [r.content for r in collected] == [f"re a{i}" for i in range(25)]  # type: ignore[union-attr]


def test_cancel_mid_stream_stops_reading_the_input(manager_with: Any) -> None:
    driver = manager_with(httpx.MockTransport(by_prompt)).driver()
    cancel = threading.Event()
    source = Counted()
    got: list[Response | AIError] = []
    with driver.stream_batch(source, concurrency=2, window=4, cancel=cancel) as results:
        for _, result in results:
            got.append(result)
            if len(got) == 5:
                cancel.set()
    assert 5 <= len(got) <= 5 + 4  # what was in flight still comes out, then the stream ends
    assert source.taken <= len(got) + 1
    assert all(isinstance(r, Response | BatchCancelledError) for r in got)


def test_a_collected_list_cancelled_marks_the_rest_not_sent(manager_with: Any) -> None:
    driver = manager_with(httpx.MockTransport(by_prompt)).driver()
    cancel = threading.Event()

    def stop_early(index: int, result: object) -> None:
        if index == 2:
            cancel.set()

    results = driver.send_batch([f"g{i}" for i in range(40)], concurrency=1, cancel=cancel,
                                on_result=stop_early)
    assert len(results) == 40  # a list: one result per item
    assert [r.content for r in results[:3]] == ["re g0", "re g1", "re g2"]  # type: ignore[union-attr]
    assert all(isinstance(r, BatchCancelledError) for r in results[4:])


def test_a_collected_iterator_cancelled_ends_at_the_last_item_taken(
        manager_with: Any) -> None:
    driver = manager_with(httpx.MockTransport(by_prompt)).driver()
    cancel = threading.Event()
    source = Counted("g")

    def stop_early(index: int, result: object) -> None:
        if index == 2:
            cancel.set()

    results = driver.send_batch(source, concurrency=1, cancel=cancel, on_result=stop_early)
    assert source.taken <= 4  # the rest of the (endless) input is never read
    assert len(results) == source.taken
    assert [r.content for r in results[:3]] == ["re g0", "re g1", "re g2"]  # type: ignore[union-attr]
    assert all(isinstance(r, BatchCancelledError) for r in results[3:])


async def test_collect_batch_cancelled_on_an_endless_input_returns() -> None:
    cancel = asyncio.Event()
    source = Counted()

    def stop(state: BatchProgress) -> None:
        if state.finished == 5:
            cancel.set()

    results = await asyncio.wait_for(collect_batch(source, _echo, build=_request,
                                                   concurrency=2, cancel=cancel,
                                                   progress=stop), 10)
    assert 5 <= len(results) == source.taken <= 5 + 2 + 1
    assert [r.content for r in results[:5]] == [  # type: ignore[union-attr]
        f"re p{i}" for i in range(5)]


def test_send_batch_whose_input_fails_keeps_what_finished(manager_with: Any) -> None:
    driver = manager_with(httpx.MockTransport(by_prompt)).driver()

    def items() -> Iterator[str]:
        yield from ("a", "bad b", "c")
        raise OSError("the input file went away")

    with pytest.raises(BatchInputError) as caught:
        driver.send_batch(items(), concurrency=2)
    results = caught.value.results
    assert [getattr(r, "content", None) for r in results] == ["re a", None, "re c"]
    assert isinstance(results[1], ProviderError)
    assert isinstance(caught.value.__cause__, OSError)
    assert "OSError" in str(caught.value)


async def test_asend_batch_whose_async_input_fails_keeps_what_finished(
        manager_with: Any) -> None:
    driver = manager_with(httpx.MockTransport(by_prompt)).driver()

    async def items() -> AsyncIterator[str]:
        for text in ("a", "b"):
            await asyncio.sleep(0)
            yield text
        raise KeyError("no more")

    with pytest.raises(BatchInputError) as caught:
        await driver.asend_batch(items(), concurrency=3)
    await driver.aclose()
    assert [r.content for r in caught.value.results] == ["re a", "re b"]  # type: ignore[union-attr]
    assert isinstance(caught.value.__cause__, KeyError)
    assert isinstance(caught.value, AIError)


async def test_an_input_that_fails_ends_the_batch_after_what_was_taken() -> None:
    def items() -> Iterator[str]:
        yield from ("a", "b", "c")
        raise OSError("the input file went away")

    got: list[int] = []
    with pytest.raises(OSError, match="went away"):
        async for index, _ in stream_batch(items(), _echo, build=_request, concurrency=2):
            got.append(index)
    assert sorted(got) == [0, 1, 2]  # nothing taken is lost


async def test_progress_knows_the_total_only_of_a_sized_input(manager_with: Any) -> None:
    driver = manager_with(httpx.MockTransport(by_prompt)).driver()
    seen: list[BatchProgress] = []
    async for _ in driver.astream_batch(["a", "b"], progress=seen.append):
        pass
    async for _ in driver.astream_batch(iter(["a", "b"]), progress=seen.append):
        pass
    await driver.aclose()
    assert [p.total for p in seen] == [2, 2, None, None]
    assert seen[-1].done == 2


def test_bad_limits_and_inputs_fail_before_anything_is_sent(manager_with: Any) -> None:
    driver = manager_with(httpx.MockTransport(by_prompt)).driver()
    for kwargs in ({"concurrency": 0}, {"window": 0}, {"window": True}):
        with pytest.raises(ValidationError):
            driver.astream_batch(["a"], **kwargs)
        with pytest.raises(ValidationError):
            driver.stream_batch(["a"], **kwargs)
    with pytest.raises(ValidationError, match="iterable"):
        driver.astream_batch(42)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="iterable"):
        driver.send_batch("one prompt")  # type: ignore[arg-type]


# -- the sync form ---------------------------------------------------------------------------


def test_sync_stream_in_plain_code_and_inside_a_running_loop(manager_with: Any) -> None:
    driver = manager_with(httpx.MockTransport(by_prompt)).driver()
    got = sorted((i, r.content) for i, r in driver.stream_batch(  # type: ignore[union-attr]
        ["x", "y", "z"], concurrency=2))
    assert got == [(0, "re x"), (1, "re y"), (2, "re z")]

    async def notebook_cell() -> list[Any]:
        return [r.content for _, r in driver.stream_batch(  # sync use while a loop runs
            (f"n{i}" for i in range(5)), ordered=True)]

    assert asyncio.run(notebook_cell()) == [f"re n{i}" for i in range(5)]


def test_sync_stream_closed_early_stops_its_thread(manager_with: Any) -> None:
    driver = manager_with(httpx.MockTransport(by_prompt)).driver()
    before = {t.name for t in threading.enumerate()}
    source = Counted()
    results = driver.stream_batch(source, concurrency=2, window=4)
    assert next(results)[1].content.startswith("re p")  # type: ignore[union-attr]
    results.close()
    taken = source.taken
    assert taken <= 1 + 4
    assert "jtd-ai-batch" not in {t.name for t in threading.enumerate()} - before
    assert list(results) == []


def test_streamed_items_share_one_batch_id(manager_with: Any) -> None:
    from jtd_ai import hookimpl

    ids: list[str | None] = []

    class Spy:
        @hookimpl
        def after_response(self, call, response) -> None:  # type: ignore[no-untyped-def]
            ids.append(call.batch_id)

    manager = manager_with(httpx.MockTransport(by_prompt))
    manager.hooks.register(Spy())
    list(manager.driver().stream_batch(iter(["a", "b", "c"])))
    list(manager.driver().stream_batch(["d"]))
    assert len(set(ids[:3])) == 1 and ids[0] is not None
    assert ids[3] not in (None, ids[0])


# -- conversations ---------------------------------------------------------------------------


async def test_conversation_streams_share_context_not_history(manager_with: Any) -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return by_prompt(request)

    conversation = manager_with(httpx.MockTransport(handler)).conversation().system("S")
    conversation.message("earlier").send()
    synced = [r.content for _, r in conversation.stream_batch(  # type: ignore[union-attr]
        iter(["q1", "q2"]), ordered=True)]
    assert synced == ["re q1", "re q2"]

    async def prompts() -> AsyncIterator[str]:
        yield "q3"

    streamed = [r async for _, r in conversation.astream_batch(prompts())]
    assert [r.content for r in streamed] == ["re q3"]  # type: ignore[union-attr]
    assert [m["content"] for m in bodies[-1]["messages"]] == ["S", "earlier", "re earlier",
                                                              "q3"]
    assert len(conversation.history) == 2  # the batches did not join the history
    with pytest.raises(ValidationError):
        conversation.stream_batch("not a list")
