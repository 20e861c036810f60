"""The batch engine: order, failure isolation, progress, cancellation and pacing."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal

import httpx
import pytest
from core_helpers import echo_reply

from jtd_ai import AIError, Message, RateLimitInfo
from jtd_ai.batch import Pacer
from jtd_ai.errors import BatchCancelledError


def by_prompt(request: httpx.Request) -> httpx.Response:
    """Echo-format replies naming the prompt; prompts containing 'bad' fail with 400."""
    import json

    prompt = json.loads(request.content)["messages"][-1]["content"]
    if "bad" in prompt:
        return httpx.Response(400, json={"error": f"cannot answer {prompt}"})
    return httpx.Response(200, json=echo_reply(f"re {prompt}", input_tokens=2, output_tokens=3))


def test_results_in_input_order_with_failures_kept_in_place(manager_with) -> None:
    driver = manager_with(httpx.MockTransport(by_prompt)).driver()
    prompts = [f"p{i}" if i % 4 else f"bad{i}" for i in range(20)]
    results = driver.send_batch(prompts, concurrency=7)
    for prompt, result in zip(prompts, results, strict=True):
        if prompt.startswith("bad"):
            assert isinstance(result, AIError)
            assert prompt in str(result)
        else:
            assert result.content == f"re {prompt}"  # type: ignore[union-attr]


def test_progress_and_on_result_see_every_item(manager_with) -> None:
    driver = manager_with(httpx.MockTransport(by_prompt),
                          prices={"echo-1": {"input": 1, "output": 2}}).driver()
    seen: list[int] = []
    snapshots: list[tuple[int, int, int]] = []
    results = driver.send_batch(
        ["a", "bad", "c"], concurrency=1, on_result=lambda i, r: seen.append(i),
        progress=lambda p: snapshots.append((p.done, p.failed, p.output_tokens)))
    assert sorted(seen) == [0, 1, 2]
    assert snapshots[-1] == (2, 1, 6)
    assert sum(r.cost for r in results if not isinstance(r, AIError)) == Decimal(
        2 * (2 * 1 + 3 * 2)) / 1_000_000


def test_cancel_returns_what_finished(manager_with) -> None:
    cancel = threading.Event()
    driver = manager_with(httpx.MockTransport(by_prompt)).driver()

    def stop_after_two(index: int, result: object) -> None:
        if index == 1:
            cancel.set()

    results = driver.send_batch([f"p{i}" for i in range(6)], concurrency=1, cancel=cancel,
                                on_result=stop_after_two)
    assert [getattr(r, "content", None) for r in results[:2]] == ["re p0", "re p1"]
    assert all(isinstance(r, BatchCancelledError) for r in results[2:])


async def test_async_batch_and_conversation_level_prompts(manager_with) -> None:
    driver = manager_with(httpx.MockTransport(by_prompt)).driver()
    results = await driver.asend_batch([Message.user("x"), "y"], concurrency=2)
    assert [r.content for r in results] == ["re x", "re y"]  # type: ignore[union-attr]


class VirtualClock:
    """Time that moves only when the pacer sleeps, so pacing is checked without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_requests_per_minute_spaces_starts() -> None:
    clock = VirtualClock()
    pacer = Pacer(requests_per_minute=120, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(4):
        await pacer.acquire(10)
        starts.append(clock.now)
    assert starts == [0.0, 0.5, 1.0, 1.5]


async def test_tokens_per_minute_waits_for_the_window() -> None:
    clock = VirtualClock()
    pacer = Pacer(tokens_per_minute=1000, clock=clock, sleep=clock.sleep)
    await pacer.acquire(600)
    await pacer.acquire(300)
    assert clock.now == 0.0
    await pacer.acquire(300)  # 1,200 would exceed 1,000 within the minute
    assert clock.now == pytest.approx(60.0)


async def test_exhausted_rate_limit_headers_pause_new_starts() -> None:
    clock = VirtualClock()
    pacer = Pacer(requests_per_minute=6000, clock=clock, sleep=clock.sleep)
    await pacer.acquire(1)
    pacer.observe(RateLimitInfo(remaining_requests=0, reset_requests=2.5))
    await pacer.acquire(1)
    assert clock.now == pytest.approx(2.5)


async def test_exhausted_rate_limit_headers_pause_an_unpaced_batch_too() -> None:
    clock = VirtualClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)  # no requests/tokens per minute set
    assert not pacer.active
    pacer.observe(RateLimitInfo(remaining_tokens=0, reset_tokens=4.0))
    assert pacer.active
    await pacer.acquire(1)
    assert clock.now == pytest.approx(4.0)
    assert not pacer.active


def test_batch_works_with_configured_pacing(manager_with) -> None:
    driver = manager_with(httpx.MockTransport(by_prompt), requests_per_minute=60_000).driver()
    assert [r.content for r in driver.send_batch(["a", "b"])] == [  # type: ignore[union-attr]
        "re a", "re b"]


def test_batch_calls_share_a_batch_id(manager_with) -> None:
    from jtd_ai import hookimpl

    ids: list[str | None] = []

    class Spy:
        @hookimpl
        def after_response(self, call, response) -> None:  # type: ignore[no-untyped-def]
            ids.append(call.batch_id)

    manager = manager_with(httpx.MockTransport(by_prompt))
    manager.hooks.register(Spy())
    manager.driver().send_batch(["a", "b", "c"])
    manager.driver().send_message("single")
    assert len(set(ids[:3])) == 1 and ids[0] is not None
    assert ids[3] is None


def test_a_bad_item_is_its_own_validation_error_and_is_never_sent(manager_with) -> None:
    import json

    from jtd_ai.errors import ValidationError

    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content)["messages"][-1]["content"])
        return by_prompt(request)

    driver = manager_with(httpx.MockTransport(handler)).driver()
    results = driver.send_batch(["ok", 42, "fine"], concurrency=1)  # type: ignore[list-item]
    assert isinstance(results[1], ValidationError)
    assert [getattr(r, "content", None) for r in results] == ["re ok", None, "re fine"]
    assert sent == ["ok", "fine"]  # every item checked first; the bad one never sent


def test_batch_inside_a_running_loop_from_sync_code(manager_with) -> None:
    driver = manager_with(httpx.MockTransport(by_prompt)).driver()

    async def notebook_cell() -> list[object]:
        return driver.send_batch(["n1", "n2"])  # sync call while a loop runs

    assert [r.content for r in asyncio.run(notebook_cell())] == ["re n1", "re n2"]  # type: ignore[attr-defined]


def test_batch_inside_a_running_loop_keeps_the_callers_context(manager_with) -> None:
    """The helper thread that runs a sync batch inside a running loop carries the caller's
    context variables (an OpenTelemetry span, the conversation id), as asyncio.run does."""
    import contextvars

    from jtd_ai import hookimpl

    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")
    seen: list[str] = []

    class Watch:
        @hookimpl
        def before_request(self, call: object) -> None:
            seen.append(marker.get())

    manager = manager_with(httpx.MockTransport(by_prompt))
    manager.hooks.register(Watch())
    driver = manager.driver()

    async def notebook_cell() -> list[object]:
        marker.set("the caller's")
        return driver.send_batch(["n1", "n2"])

    asyncio.run(notebook_cell())
    assert seen == ["the caller's", "the caller's"]


def test_conversation_level_batch_shares_context_not_history(manager_with) -> None:
    import json

    bodies: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return by_prompt(request)

    conversation = manager_with(httpx.MockTransport(handler)).conversation().system("S")
    conversation.message("earlier").send()
    results = conversation.send_batch(["q1", "q2"], concurrency=1)
    assert [r.content for r in results] == ["re q1", "re q2"]  # type: ignore[union-attr]
    assert [m["content"] for m in bodies[1]["messages"]] == ["S", "earlier", "re earlier", "q1"]
    assert len(conversation.history) == 2  # the batch did not join the history
