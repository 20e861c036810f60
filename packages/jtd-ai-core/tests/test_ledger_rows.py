"""One ledger row per request that reached the provider, however the call ended: a reply
(``ok``), an error (``error``), a stream left by ``break`` or closed, an asyncio task
cancelled (``cancelled``), Ctrl-C (``interrupted``), each with the tokens known by then.
Real calls to the fake provider server; Ctrl-C is a real SIGINT sent to a child process."""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from cli_helpers import needs
from ledger_helpers import (
    call_script,
    chat_requests,
    db_rows,
    manager,
    read_until,
    start_python,
    wait_blocked,
    wait_until,
)

from jtd_ai import AIManager
from jtd_ai.testing import FakeProviderServer, Fault

pytestmark = [needs("openai"), needs("gemini")]

PROMPT = "alpha beta gamma"  # 3 words: the fake server counts 3 input tokens


@pytest.fixture(scope="module")
def server() -> Iterator[FakeProviderServer]:
    from ledger_helpers import KEY

    with FakeProviderServer(api_key=KEY) as running:
        yield running


@pytest.fixture(autouse=True)
def _no_faults(server: FakeProviderServer) -> Iterator[None]:
    server.clear_faults()
    yield
    server.clear_faults()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "jtd-ai.db"


@pytest.fixture
def managers(server: FakeProviderServer, db: Path) -> Iterator[list[AIManager]]:
    made: list[AIManager] = []
    yield made
    for ai in made:
        ai.close()


def _ai(server: FakeProviderServer, db: Path, made: list[AIManager], driver: str = "openai",
        **settings: object) -> AIManager:
    ai = manager(server, db, driver, **settings)
    made.append(ai)
    return ai


# -- a stream left early ------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["break", "close", "with"])
def test_a_stream_left_early_writes_a_cancelled_row_with_the_usage_seen(
        server, db, managers, how) -> None:
    ai = _ai(server, db, managers, "gemini")  # Gemini sends running usage on every chunk
    seen = []
    if how == "break":
        for chunk in ai.driver().stream(PROMPT):
            seen.append(chunk.delta)
            if len(seen) == 2:
                break
    elif how == "close":
        stream = ai.driver().stream(PROMPT)
        seen = [next(stream).delta, next(stream).delta]
        stream.close()
    else:
        with ai.driver().stream(PROMPT) as stream:
            seen = [next(stream).delta, next(stream).delta]
    assert seen == ["echo:", " alpha"]
    [row] = ai.usage.records()
    assert (row.status, row.error, row.operation, row.streamed) == (
        "cancelled", "GeneratorExit", "stream", True)
    # The usage of the second chunk: 3 words in, 2 out so far; priced like any other row.
    assert (row.input_tokens, row.output_tokens) == (3, 2)
    assert row.cost is not None and row.cost > 0 and row.price_source is not None
    assert row.latency is not None and row.attempts == 1


def test_a_stream_left_before_any_usage_arrived_has_no_tokens(server, db, managers) -> None:
    ai = _ai(server, db, managers, "openai")  # OpenAI sends usage only at the end
    for _ in ai.driver().stream(PROMPT):
        break
    [row] = ai.usage.records()
    assert (row.status, row.error) == ("cancelled", "GeneratorExit")
    assert row.input_tokens is None and row.output_tokens is None and row.cost is None
    total = ai.usage.total()
    assert (total.calls, total.errors, total.cancelled, total.unpriced) == (1, 0, 1, 0)


def test_a_stream_dropped_unfinished_is_recorded_when_dropped(server, db, managers) -> None:
    ai = _ai(server, db, managers, "gemini")
    stream = ai.driver().stream(PROMPT)
    next(stream)
    del stream  # no with, no close: dropping it closes it
    gc.collect()
    [row] = ai.usage.records()
    assert (row.status, row.input_tokens, row.output_tokens) == ("cancelled", 3, 1)


def test_a_callback_that_raises_ends_a_streamed_call_with_a_row(server, db, managers) -> None:
    ai = _ai(server, db, managers, "gemini")

    def callback(chunk: object) -> None:
        raise RuntimeError("the application's callback failed")

    with pytest.raises(RuntimeError):
        ai.driver().stream_message(PROMPT, callback)
    [row] = ai.usage.records()
    assert (row.status, row.error, row.input_tokens) == ("cancelled", "GeneratorExit", 3)


def test_finished_calls_and_failed_calls_keep_their_status(server, db, managers) -> None:
    from jtd_ai.ledger import STATUSES

    ai = _ai(server, db, managers, "openai")
    ai.driver().send_message(PROMPT)
    list(ai.driver().stream(PROMPT))
    server.inject(Fault(status=500))
    with pytest.raises(Exception, match="500"):
        ai.driver().send_message(PROMPT)
    rows = ai.usage.records()
    assert [(r.operation, r.status, r.error) for r in rows] == [
        ("chat", "error", "ProviderUnavailableError"), ("stream", "ok", None),
        ("chat", "ok", None)]
    assert {r.status for r in rows} <= set(STATUSES)


def test_an_unexpected_exception_after_sending_still_writes_an_error_row(
        server, db, managers, monkeypatch) -> None:
    ai = _ai(server, db, managers, "openai")
    driver = ai.driver()

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("a bug while reading the reply")

    monkeypatch.setattr(driver.protocol, "parse_chat", broken)
    before = chat_requests(server)
    with pytest.raises(Exception) as caught:
        driver.send_message(PROMPT)
    [row] = ai.usage.records()
    assert (row.status, row.error) == ("error", type(caught.value).__name__)
    assert chat_requests(server) == before + 1


# -- asyncio cancellation -------------------------------------------------------------------------


async def test_a_cancelled_async_send_writes_a_cancelled_row(server, db, managers) -> None:
    ai = _ai(server, db, managers, "openai")
    server.inject(Fault(delay=20, path_contains="/chat/completions"))
    before = chat_requests(server)
    task = asyncio.create_task(ai.driver().asend_message(PROMPT))
    deadline = asyncio.get_running_loop().time() + 10
    while chat_requests(server) == before:  # until the request has reached the server
        assert asyncio.get_running_loop().time() < deadline, "the request never arrived"
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [row] = ai.usage.records()
    assert (row.status, row.error, row.operation) == ("cancelled", "CancelledError", "chat")
    assert row.input_tokens is None and row.attempts == 1 and row.latency is not None


async def test_a_cancelled_async_stream_keeps_the_usage_seen(server, db, managers) -> None:
    ai = _ai(server, db, managers, "gemini")
    server.inject(Fault(stall_after=2, path_contains=":streamGenerateContent"))
    got = asyncio.Event()
    seen: list[str] = []

    async def consume() -> None:
        async for chunk in ai.driver().astream(PROMPT):
            seen.append(chunk.delta)
            if len(seen) == 2:
                got.set()  # the server now stays silent: the task waits for a third

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [row] = ai.usage.records()
    assert (row.status, row.error) == ("cancelled", "CancelledError")
    assert (row.input_tokens, row.output_tokens) == (3, 2)


async def test_an_async_stream_left_early_writes_a_cancelled_row(server, db, managers) -> None:
    ai = _ai(server, db, managers, "gemini")
    async with ai.driver().astream(PROMPT) as stream:
        async for _ in stream:
            break
    [row] = ai.usage.records()
    assert (row.status, row.error, row.input_tokens, row.output_tokens) == (
        "cancelled", "GeneratorExit", 3, 1)


async def test_a_task_cancelled_before_sending_writes_no_row(server, db, managers) -> None:
    ai = _ai(server, db, managers, "openai")
    before = chat_requests(server)
    task = asyncio.create_task(ai.driver().asend_message(PROMPT))
    task.cancel()  # before it ever ran
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ai.usage.total().calls == 0 and chat_requests(server) == before


# -- Ctrl-C -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["send", "stream"])
def test_ctrl_c_during_a_call_writes_an_interrupted_row(server, db, kind) -> None:
    """A real SIGINT to a child blocked in a call: KeyboardInterrupt ends it, its row is
    written at exit with what had arrived."""
    if kind == "send":
        server.inject(Fault(delay=20, path_contains=":generateContent"))
    else:
        server.inject(Fault(stall_after=2, path_contains=":streamGenerateContent"))
    code = call_script(server, db, """
        print("calling", flush=True)
        if KIND == "send":
            ai.driver().send_message(PROMPT)
        else:
            for chunk in ai.driver().stream(PROMPT):
                print("chunk", repr(chunk.delta), flush=True)
    """, driver="gemini", KIND=kind, PROMPT=PROMPT)
    before = chat_requests(server)
    proc = start_python(code)
    try:
        if kind == "send":
            read_until(proc, "calling", 30)
            wait_until(lambda: chat_requests(server) > before, 30, "the request")
            wait_blocked(proc.pid, 30)
        else:
            read_until(proc, "' alpha'", 30)  # the second chunk: then the server stalls
        wait_blocked(proc.pid, 30)  # in the call, not in the loop's body or the print
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == -signal.SIGINT, err  # died of the SIGINT, as Python does
    assert "KeyboardInterrupt" in err
    [row] = db_rows(db)
    assert (row["status"], row["error"], row["operation"]) == (
        "interrupted", "KeyboardInterrupt", "chat" if kind == "send" else "stream")
    if kind == "send":
        assert row["input_tokens"] is None
    else:
        assert (row["input_tokens"], row["output_tokens"]) == (3, 2)
        assert Decimal(row["cost"]) > 0


# -- the status values --------------------------------------------------------------------------


def test_what_each_exception_counts_as() -> None:
    from jtd_ai.calls import CallStoppedError, stop_status

    assert stop_status(GeneratorExit()) == "cancelled"
    assert stop_status(asyncio.CancelledError()) == "cancelled"
    assert stop_status(KeyboardInterrupt()) == "interrupted"
    assert stop_status(SystemExit(1)) == "interrupted"
    assert stop_status(ValueError()) == "error"
    error = CallStoppedError.of(KeyboardInterrupt())
    assert (error.status, error.kind, error.partial) == ("interrupted", "KeyboardInterrupt",
                                                         None)
    import pickle

    again = pickle.loads(pickle.dumps(error))
    assert (again.status, again.kind, str(again)) == (error.status, error.kind, str(error))


def test_totals_count_each_status(server, db, managers) -> None:
    ai = _ai(server, db, managers, "gemini")
    ai.driver().send_message(PROMPT)
    for _ in ai.driver().stream(PROMPT):
        break
    server.inject(Fault(status=500))
    with pytest.raises(Exception, match="500"):
        ai.driver().send_message(PROMPT)
    total = ai.usage.total()
    assert (total.calls, total.errors, total.cancelled, total.interrupted) == (3, 1, 1, 0)
    by_status = {t.group["status"]: t.calls for t in ai.usage.totals("status")}
    assert by_status == {"cancelled": 1, "error": 1, "ok": 1}
    by_error = {t.group["error"]: t.calls for t in ai.usage.totals("error")}
    assert by_error == {None: 1, "GeneratorExit": 1, "ProviderUnavailableError": 1}
