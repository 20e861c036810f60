"""The driver interface: sync/async parity, batches, models, credentials, cost, hooks, logs."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import httpx
import pytest
from core_helpers import echo_reply

from jtd_ai import (
    AIError,
    AIManager,
    ConfigurationError,
    InvalidCredentialsError,
    Message,
    PricingUnknownError,
    ProviderUnavailableError,
    Response,
    TokenUsage,
    hookimpl,
)
from jtd_ai.testing import ScriptedTransport


async def test_sync_and_async_give_the_same_reply(manager_with) -> None:
    driver = manager_with().driver()
    sync = driver.send_message("same words here")
    asynchronous = await driver.asend_message("same words here")
    stream = driver.stream("same words here")
    list(stream)
    astream = driver.astream("same words here")
    [c async for c in astream]
    for other in (asynchronous, stream.response, astream.response):
        assert other is not None
        assert (other.content, other.usage, other.finish_reason, other.model) == (
            sync.content, sync.usage, sync.finish_reason, sync.model)


def test_batch_keeps_order_and_isolates_failures(manager_with) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        text = request.content.decode()
        if "boom" in text:
            return httpx.Response(400, json={"error": "bad item"})
        word = "first" if "first" in text else "second" if "second" in text else "third"
        return httpx.Response(200, json=echo_reply(word))

    driver = manager_with(httpx.MockTransport(handler)).driver()
    results = driver.send_batch(["first", "boom", "second", Message.user("third")], concurrency=2)
    assert [r.content if not isinstance(r, AIError) else "error" for r in results] == [
        "first", "error", "second", "third"]
    assert isinstance(results[1], AIError) and results[1].status == 400


async def test_sync_batch_works_inside_a_running_loop(manager_with) -> None:
    driver = manager_with().driver()
    results = driver.send_batch(["a", "b"])  # called from inside this test's event loop
    assert [r.content for r in results] == ["echo: a", "echo: b"]  # type: ignore[union-attr]


def test_batch_rejects_bad_concurrency(manager_with) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        manager_with().driver().send_batch(["a"], concurrency=0)


def test_models_follow_pagination(manager_with) -> None:
    transport = ScriptedTransport(
        httpx.Response(200, json={"data": [{"id": "echo-1"}], "next_page": "p2"}),
        httpx.Response(200, json={"data": [{"id": "echo-large"}]}),
    )
    driver = manager_with(transport).driver()
    assert [m.id for m in driver.get_available_models()] == ["echo-1", "echo-large"]
    assert transport.requests[1].url.params["page"] == "p2"
    # Cached: a second call does not ask again; sync_models does.
    assert len(driver.get_available_models()) == 2
    assert len(transport.requests) == 2


async def test_async_models(manager_with) -> None:
    models = await manager_with().driver().aget_available_models()
    assert [m.id for m in models] == ["echo-1", "echo-large"]


def test_validate_credentials_true_false_and_error(manager_with) -> None:
    assert manager_with().driver().validate_credentials() is True
    rejected = ScriptedTransport(httpx.Response(401, json={"error": "bad key"}))
    assert manager_with(rejected).driver().validate_credentials() is False
    down = ScriptedTransport(*[httpx.ConnectError("refused") for _ in range(3)])
    with pytest.raises(ProviderUnavailableError):
        manager_with(down).driver().validate_credentials()


def test_cost_uses_config_prices_over_the_driver_table(manager_with) -> None:
    prices = {"echo-1": {"input": "2.50", "output": "10", "cached_input": "1.25",
                         "as_of": "2026-11-01"}}
    driver = manager_with(prices=prices).driver()
    usage = TokenUsage(input_tokens=1000, output_tokens=200, cached_input_tokens=400)
    # 600 * 2.50 + 400 * 1.25 + 200 * 10 = 1500 + 500 + 2000 = 4000 per million
    assert driver.calculate_cost(usage, "echo-1") == Decimal("0.004")
    reply = driver.send_message("a b c")  # usage 3 in, 4 out
    assert reply.cost == (3 * Decimal("2.50") + 4 * Decimal(10)) / 1_000_000
    assert reply.pricing is not None and reply.pricing.source == "config"


def test_unknown_price_is_a_clear_error() -> None:
    from jtd_ai.echo import EchoProtocol

    class Unpriced(EchoProtocol):
        def pricing(self, model):  # type: ignore[no-untyped-def]
            return None

    manager = AIManager(config_file=False, env={})
    manager.extend("unpriced", Unpriced, default_base_url="http://x.invalid",
                   default_model="echo-1")
    driver = manager.driver("unpriced")
    with pytest.raises(PricingUnknownError, match="prices"):
        driver.calculate_cost(TokenUsage(1, 1))
    assert driver.send_message("hi").cost is None


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, int]] = []

    @hookimpl
    def before_request(self, call) -> None:  # type: ignore[no-untyped-def]
        self.events.append(("before", call.operation, call.attempts))

    @hookimpl
    def after_response(self, call, response) -> None:  # type: ignore[no-untyped-def]
        self.events.append(("after", response.content, call.attempts))

    @hookimpl
    def on_error(self, call, error) -> None:  # type: ignore[no-untyped-def]
        self.events.append(("error", type(error).__name__, call.attempts))


def test_lifecycle_hooks_fire_once_per_call(manager_with) -> None:
    transport = ScriptedTransport(httpx.Response(503), httpx.Response(200, json=echo_reply("ok")),
                                  httpx.Response(401, json={"error": "no"}))
    manager = manager_with(transport)
    recorder = Recorder()
    manager.hooks.register(recorder)
    manager.driver().send_message("hi")
    with pytest.raises(InvalidCredentialsError):
        manager.driver().send_message("again")
    assert recorder.events == [("before", "chat", 0), ("after", "ok", 2),
                               ("before", "chat", 0), ("error", "InvalidCredentialsError", 1)]


def test_one_log_record_per_call_with_its_facts(manager_with, caplog) -> None:
    caplog.set_level(logging.INFO, logger="jtd_ai")
    manager_with().driver().send_message("a b")
    records = [r for r in caplog.records if r.name == "jtd_ai.calls"]
    assert len(records) == 1
    facts = records[0].jtd_ai
    assert facts["provider"] == "echo"
    assert facts["model"] == "echo-1"
    assert facts["status"] == "ok"
    assert facts["attempts"] == 1
    assert facts["input_tokens"] == 2 and facts["output_tokens"] == 3
    assert facts["latency"] >= 0


def test_library_is_silent_without_logging_configured() -> None:
    import subprocess
    import sys

    code = ("import httpx; from jtd_ai import AIManager;"
            "m = AIManager(config_file=False, env={},"
            " transports={'echo': httpx.MockTransport(lambda r: httpx.Response(401, json={}))});"
            "import contextlib\n"
            "with contextlib.suppress(Exception): m.driver('echo').send_message('hi')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stderr == ""
    assert result.stdout == ""


def test_async_driver_survives_separate_event_loops(manager_with) -> None:
    driver = manager_with().driver()
    first = asyncio.run(driver.asend_message("one"))
    second = asyncio.run(driver.asend_message("two"))
    assert (first.content, second.content) == ("echo: one", "echo: two")


def test_a_variant_model_in_the_reply_is_priced_as_the_model_asked_for() -> None:
    from jtd_ai.echo import EchoProtocol

    class Unpriced(EchoProtocol):
        def pricing(self, model):  # type: ignore[no-untyped-def]
            return None

    reply = echo_reply("hi", model="echo-1-high", input_tokens=10, output_tokens=10)
    manager = AIManager(providers={"u": {"prices": {"echo-1": {"input": 1, "output": 3}}}},
                        config_file=False, env={},
                        transports={"u": ScriptedTransport(httpx.Response(200, json=reply))})
    manager.extend("u", Unpriced, default_base_url="http://x.invalid", default_model="echo-1")
    response = manager.driver("u").send_message("hi")
    assert response.model == "echo-1-high"
    assert response.cost == Decimal(10 * 1 + 10 * 3) / 1_000_000


async def test_other_endpoints_go_through_the_core(manager_with) -> None:
    from jtd_ai import HttpRequest, ModelNotFoundError

    transport = ScriptedTransport(httpx.Response(503), httpx.Response(200, json={"n": 7}),
                                  httpx.Response(404, json={"error": "no such model"}),
                                  httpx.Response(200, json={"n": 8}))
    manager = manager_with(transport)
    recorder = Recorder()
    manager.hooks.register(recorder)
    driver = manager.driver()
    count = HttpRequest("POST", "/count", json={"text": "hi"})
    assert driver.request(count, operation="count_tokens").json() == {"n": 7}  # 503 retried
    with pytest.raises(ModelNotFoundError):
        driver.request(count, operation="count_tokens", model="echo-9")
    assert (await driver.arequest(count, operation="count_tokens")).json() == {"n": 8}
    assert [r.url.path for r in transport.requests] == ["/count"] * 4
    assert recorder.events == [("error", "ModelNotFoundError", 1)]


async def test_keep_raw_false_drops_provider_payloads(manager_with) -> None:
    kept = manager_with().driver()
    assert kept.send_message("with payload").raw is not None
    stream = kept.stream("with payload")
    list(stream)
    assert stream.response is not None and stream.response.raw is not None  # a list

    driver = manager_with(keep_raw=False).driver()
    reply = driver.send_message("no payload kept")
    assert reply.raw is None and reply.content == kept.send_message("no payload kept").content
    assert (await driver.asend_message("no payload kept")).raw is None
    stream = driver.stream("no payload kept")
    chunks = list(stream)
    assert chunks and stream.response is not None and stream.response.raw is None
    [result] = driver.send_batch(["no payload kept"])
    assert isinstance(result, Response) and result.raw is None


def test_keep_raw_must_be_a_boolean(manager_with) -> None:
    with pytest.raises(ConfigurationError, match="keep_raw"):
        manager_with(keep_raw="no").driver()
