"""The usage ledger: one row per call (send, stream, interrupted stream, batch), totals,
switching it off, and failures that never break a call."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from decimal import Decimal

import httpx
import pytest
from core_helpers import echo_reply, sse

from jtd_ai import AIManager, ModelNotFoundError, StreamInterruptedError, ValidationError
from jtd_ai.ledger import Ledger, UsageRecord
from jtd_ai.store import Store
from jtd_ai.testing import BrokenStream, ScriptedTransport

# $2.50 in, $10 out per million tokens.
PRICES = {"echo-1": {"input": "2.50", "output": "10", "as_of": "2026-11-01"},
          "echo-large": {"input": "1", "output": "4", "as_of": "2026-11-02"}}


def test_a_send_writes_one_full_row(stored) -> None:
    ai = stored(prices=PRICES)
    reply = ai.driver().send_message("hello there world")
    [row] = ai.usage.records()
    # echo: 3 words in, "echo: hello there world" is 4 words out
    # 3 x 2.50 + 4 x 10 = 47.5 per million
    assert reply.cost == Decimal("0.0000475")
    assert (row.provider, row.driver, row.model, row.operation) == (
        "echo", "echo", "echo-1", "chat")
    assert (row.input_tokens, row.output_tokens, row.cached_input_tokens,
            row.reasoning_tokens, row.cache_write_tokens) == (3, 4, 0, 0, 0)
    assert row.cost == Decimal("0.0000475")
    assert (row.price_source, row.price_as_of) == ("config", dt.date(2026, 11, 1))
    assert row.request_id == reply.request_id == "echo-1"
    assert row.status == "ok" and row.streamed is False and row.batch_id is None
    assert row.latency is not None and row.latency > 0
    assert row.attempts == 1
    assert row.ts.tzinfo is not None


async def test_async_send_and_stream_write_rows(stored) -> None:
    ai = stored(prices=PRICES)
    driver = ai.driver()
    await driver.asend_message("one two")
    stream = driver.astream("a b c")
    async with stream:
        async for _ in stream:
            pass
    rows = ai.usage.records()
    assert [(r.operation, r.streamed, r.input_tokens, r.output_tokens) for r in rows] == [
        ("stream", True, 3, 4), ("chat", False, 2, 3)]


def test_a_finished_stream_writes_a_streamed_row(stored) -> None:
    ai = stored(prices=PRICES)
    chunks = list(ai.driver().stream("hi you"))
    assert chunks
    [row] = ai.usage.records()
    assert row.streamed and row.operation == "stream" and row.status == "ok"
    # 2 in, 3 out: 2 x 2.50 + 3 x 10 = 35 per million
    assert row.cost == Decimal("0.000035")


def test_an_interrupted_stream_writes_what_its_partial_had(stored) -> None:
    body = sse({"delta": "echo:", "model": "echo-1"}, {"delta": " hi", "model": "echo-1"},
               {"done": True, "usage": {"input": 1_000, "output": 2_000},
                "finish_reason": "stop", "model": "echo-1"})
    # The connection drops after the last event but before the stream ends.
    transport = ScriptedTransport(httpx.Response(200, stream=BrokenStream(body)))
    ai = stored(transport, prices=PRICES)
    with pytest.raises(StreamInterruptedError) as caught:
        list(ai.driver().stream("hi"))
    assert caught.value.partial is not None and caught.value.partial.content == "echo: hi"
    [row] = ai.usage.records()
    assert (row.status, row.error) == ("error", "StreamInterruptedError") and row.streamed
    assert (row.input_tokens, row.output_tokens) == (1_000, 2_000)
    # Priced from the partial usage: 1,000 x 2.50 + 2,000 x 10 = 22,500 per million
    assert row.cost == Decimal("0.0225")
    assert row.latency is not None


def test_a_stream_cut_before_any_usage_is_recorded_without_tokens(stored) -> None:
    transport = ScriptedTransport(httpx.Response(200, stream=BrokenStream(
        sse({"delta": "echo:", "model": "echo-1"}))))
    ai = stored(transport, prices=PRICES)
    with pytest.raises(StreamInterruptedError):
        list(ai.driver().stream("hi"))
    [row] = ai.usage.records()
    assert (row.status, row.error) == ("error", "StreamInterruptedError")
    assert row.input_tokens is None and row.cost is None
    assert ai.usage.total().unpriced == 0  # failed calls are not "unpriced successes"


def test_a_batch_writes_a_row_per_item_with_one_batch_id(stored) -> None:
    ai = stored(prices=PRICES)
    results = ai.driver().send_batch(["a", "b c", "d"], concurrency=2)
    assert all(not isinstance(r, Exception) for r in results)
    ai.driver().send_batch(["e"])
    ai.driver().send_message("alone")
    rows = ai.usage.records()
    first_batch = {r.batch_id for r in rows[2:]}
    assert len(rows) == 5 and len(first_batch) == 1 and None not in first_batch
    assert rows[1].batch_id not in (None, *first_batch)
    assert rows[0].batch_id is None
    totals = ai.usage.totals("batch_id")
    assert sorted(t.calls for t in totals) == [1, 1, 3]


def test_a_failed_call_writes_an_error_row(stored) -> None:
    ai = stored(prices=PRICES)
    with pytest.raises(ModelNotFoundError):
        ai.driver().send_message("hi", model="nope")
    [row] = ai.usage.records()
    assert (row.status, row.error, row.model, row.input_tokens, row.cost) == (
        "error", "ModelNotFoundError", "nope", None, None)
    assert row.latency is not None
    total = ai.usage.total()
    assert (total.calls, total.errors) == (1, 1)


def test_listing_models_writes_no_usage_row(stored) -> None:
    ai = stored()
    ai.driver().get_available_models()
    assert ai.usage.total().calls == 0


def test_the_ledger_can_be_switched_off(stored) -> None:
    ai = stored(store={"ledger": False}, prices=PRICES)
    ai.driver().send_message("hi")
    list(ai.driver().stream("hi"))
    assert ai.usage.total().calls == 0
    assert ai.usage.totals("provider") == []


def test_totals_by_provider_model_and_day(stored, tmp_path) -> None:
    ai = stored(prices=PRICES, providers={"echo": {"prices": PRICES},
                                         "other": {"driver": "echo", "prices": PRICES}})
    ai.driver("echo").send_message("a b")                     # 2 in, 3 out on echo-1
    ai.driver("echo").send_message("a", model="echo-large")   # 1 in, 2 out on echo-large
    ai.driver("other").send_message("a b c")                  # 3 in, 4 out on echo-1
    # An older row, on another day.
    Ledger(Store(tmp_path / "jtd-ai.db")).record(UsageRecord(
        provider="echo", model="echo-1", input_tokens=10, output_tokens=10,
        cost=Decimal("0.000125"), ts=dt.datetime(2026, 1, 5, 23, 59, tzinfo=dt.UTC)))

    by_provider = {t.group["provider"]: t for t in ai.usage.totals("provider")}
    # echo today: (2 x 2.5 + 3 x 10) + (1 x 1 + 2 x 4) = 35 + 9 = 44 per million, + 125
    assert by_provider["echo"].cost == Decimal("0.000169")
    assert (by_provider["echo"].calls, by_provider["echo"].input_tokens,
            by_provider["echo"].output_tokens) == (3, 13, 15)
    # other: 3 x 2.5 + 4 x 10 = 47.5 per million
    assert by_provider["other"].cost == Decimal("0.0000475")

    by_model = ai.usage.totals(("provider", "model"))
    assert [(t.group["provider"], t.group["model"], t.calls) for t in by_model] == [
        ("echo", "echo-1", 2), ("echo", "echo-large", 1), ("other", "echo-1", 1)]

    days = ai.usage.totals("day")
    assert [t.group["day"] for t in days] == ["2026-01-05", dt.datetime.now(dt.UTC).date()
                                              .isoformat()]
    assert days[0].cost == Decimal("0.000125")

    today = dt.datetime.now(dt.UTC).date()
    assert ai.usage.total(since=today).calls == 3
    assert ai.usage.total(until=dt.date(2026, 1, 6)).calls == 1
    assert ai.usage.total(provider="echo", model="echo-1").cost == Decimal("0.00016")
    assert ai.usage.total(provider="nobody").calls == 0
    with pytest.raises(ValidationError, match="cannot group usage by 'colour'"):
        ai.usage.totals("colour")


def test_unpriced_calls_are_counted_apart(stored) -> None:
    ai = stored(ScriptedTransport(httpx.Response(200, json=echo_reply(model="mystery"))))

    ai.driver().protocol.pricing = lambda model: None  # type: ignore[method-assign]
    ai.driver().send_message("hi")
    total = ai.usage.total()
    assert (total.calls, total.unpriced, total.cost) == (1, 1, Decimal(0))


def test_no_secret_reaches_the_database(stored, tmp_path) -> None:
    key = "sk-very-secret-key-1234567890"
    ai = stored(prices=PRICES, api_key=key)
    ai.driver().send_message("hi")
    with pytest.raises(ModelNotFoundError):
        ai.driver().send_message("hi", model="nope")
    ai.sync_models(["echo"])
    ai.close()
    blobs = b"".join(p.read_bytes() for p in tmp_path.glob("jtd-ai.db*"))
    assert blobs  # the check below would pass vacuously on an empty file
    assert key.encode() not in blobs


def test_a_corrupt_database_never_breaks_a_call(tmp_path, caplog) -> None:
    bad = tmp_path / "jtd-ai.db"
    bad.write_bytes(b"not a database" * 100)
    with caplog.at_level(logging.WARNING, logger="jtd_ai"), AIManager(
            providers={"echo": {}}, default="echo", config_file=False, env={},
            store={"path": str(bad)}) as ai:
        assert ai.driver().send_message("hi").content == "echo: hi"
        assert list(ai.driver().stream("hi"))
        assert ai.storage.error is not None and str(bad) in str(ai.storage.error)
    assert any(str(bad) in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("background", [True, False])
def test_a_failing_write_is_reported_and_the_call_goes_on(stored, tmp_path, caplog,
                                                          background) -> None:
    ai = stored(store={"background_writes": background})
    ai.driver().send_message("first")
    assert ai.storage.flush()
    conn = sqlite3.connect(tmp_path / "jtd-ai.db")
    conn.execute("DROP TABLE usage")
    conn.commit()
    conn.close()
    with caplog.at_level(logging.WARNING, logger="jtd_ai"):
        assert ai.driver().send_message("second").content == "echo: second"
        assert ai.storage.flush()
    assert ai.storage.failures == 1
    assert any("no such table: usage" in r.getMessage() and str(tmp_path) in r.getMessage()
               for r in caplog.records)


def test_fake_replies_are_not_written_to_the_ledger(stored) -> None:
    ai = stored()
    ai.driver().send_message("real")
    with ai.fake(["pretend"]):
        assert ai.driver().send_message("x").content == "pretend"
    assert ai.usage.total().calls == 1


@pytest.mark.parametrize("background", [True, False])
def test_calls_from_many_threads_each_leave_one_row(stored, background) -> None:
    import threading

    ai = stored(store={"background_writes": background})
    driver = ai.driver()

    def work() -> None:
        for _ in range(25):
            driver.send_message("hi")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ai.usage.total().calls == 200


def test_closing_the_manager_writes_every_queued_row(stored, tmp_path) -> None:
    ai = stored()
    for _ in range(50):
        ai.driver().send_message("hi")
    ai.close()
    assert Ledger(Store(tmp_path / "jtd-ai.db")).total().calls == 50


def test_rows_queued_at_exit_are_written(tmp_path) -> None:
    import subprocess
    import sys

    script = (
        "from jtd_ai import AIManager\n"
        f"ai = AIManager(providers={{'echo': {{}}}}, config_file=False, env={{}}, "
        f"store={{'path': {str(tmp_path / 'db')!r}}})\n"
        "for _ in range(30): ai.driver('echo').send_message('hi')\n"
    )  # no close(): the interpreter's exit must flush
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert Ledger(Store(tmp_path / "db")).total().calls == 30


def _call(operation: str = "chat") -> object:
    from jtd_ai.calls import CallInfo

    return CallInfo(provider="p", driver="openai", operation=operation, model="asked",
                    attempts=2, batch_id="b1")


@pytest.mark.parametrize("case", ["priced reply", "unpriced reply", "partial of a failure",
                                  "no reply", "streamed"])
def test_the_row_made_on_each_call(case: str) -> None:
    from jtd_ai.ledger import _FIELDS, usage_row
    from jtd_ai.pricing import Pricing
    from jtd_ai.responses import Response, TokenUsage

    price = Pricing(input=Decimal("0.15"), output=Decimal("0.6"), source="table",
                    as_of=dt.date(2026, 11, 24))
    usage = TokenUsage(input_tokens=1200, output_tokens=300, cached_input_tokens=200,
                       reasoning_tokens=50)
    cost = price.cost(usage)
    reply = Response(content="x", model="answered", provider="p", usage=usage,
                     request_id="req_1", latency=0.25)
    args: dict[str, object] = {
        "priced reply": {"response": reply.completed(latency=None, cost=cost, pricing=price)},
        "unpriced reply": {"response": reply},
        "partial of a failure": {"response": reply, "status": "error", "error": "TimeoutError",
                                 "latency": 1.5, "pricing": price},
        "no reply": {"response": None, "status": "error", "error": "InvalidCredentialsError",
                     "latency": 0.1},
        "streamed": {"response": reply},
    }[case]
    call = _call("stream" if case == "streamed" else "chat")
    moment = dt.datetime(2026, 11, 24, 23, 59, 59, 123456, tzinfo=dt.UTC)
    response = args.pop("response")
    row = dict(zip(_FIELDS, usage_row(call, response, ts=moment, **args), strict=True))  # type: ignore[arg-type]

    priced = case in ("priced reply", "partial of a failure")
    replied = case != "no reply"
    assert row == {
        "ts": "2026-11-24T23:59:59.123456+00:00", "day": "2026-11-24", "provider": "p",
        "driver": "openai", "model": "answered" if replied else "asked",
        "operation": "stream" if case == "streamed" else "chat",
        "request_id": "req_1" if replied else None,
        "input_tokens": 1200 if replied else None, "output_tokens": 300 if replied else None,
        "cached_input_tokens": 200 if replied else None,
        "cache_write_tokens": 0 if replied else None,
        "reasoning_tokens": 50 if replied else None,
        "cost": str(cost) if priced else None,
        "cost_pico": int(cost * 10**12) if priced else None,
        # the reply's own latency wins over the one measured around a failure
        "latency": 0.1 if case == "no reply" else 0.25,
        "status": args.get("status", "ok"), "streamed": int(case == "streamed"),
        "batch_id": "b1", "attempts": 2,
        "price_source": "table" if priced else None,
        "price_as_of": "2026-11-24" if priced else None,
        "error": args.get("error"),
    }


def test_the_writer_survives_rows_put_around_a_close() -> None:
    """A row put right after close() starts a new writer; closing again writes it, and no
    writer thread is left behind waiting."""
    import threading
    import time

    from jtd_ai.ledger_writer import LedgerWriter

    written: list[tuple[object, ...]] = []

    class Sink:
        def record_rows(self, rows: list[tuple[object, ...]]) -> None:
            written.extend(rows)

    writer = LedgerWriter(lambda: Sink())  # type: ignore[arg-type, return-value]
    before = set(threading.enumerate())  # other tests' managers may still have writers
    for round_ in range(20):
        writer.put((round_, "a"))
        closer = threading.Thread(target=writer.close, kwargs={"timeout": 5})
        closer.start()
        writer.put((round_, "b"))  # races the close
        started = time.monotonic()
        closer.join()
        writer.close(timeout=5)
        assert time.monotonic() - started < 4  # close never waits out its timeout
    assert sorted(written) == sorted((r, x) for r in range(20) for x in "ab")
    assert not [t for t in set(threading.enumerate()) - before if t.name == "jtd-ai-ledger"]
