"""Provider batch jobs (jtd_ai.jobs) end to end against the fake server's OpenAI Batch and
Gemini batch-mode endpoints: results in input order, per-item typed errors, the batch price
in the ledger, splitting, failed/expired/cancelled jobs, bad input refused before upload."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from batch_server_helpers import fresh_batches_fixture, server_fixture  # noqa: F401
from cli_helpers import needs
from pg_cluster import pg_cluster_fixture, pg_url_fixture  # noqa: F401

from jtd_ai import AIError, AIManager, Driver, Response
from jtd_ai.batch_protocol import BatchJobError, BatchLimits
from jtd_ai.errors import BatchCancelledError, ProviderError, TimeoutError, ValidationError
from jtd_ai.jobs import (
    arun_batch_job,
    cancel_batch_job,
    collect_batch_job,
    find_batch_jobs,
    run_batch_job,
)
from jtd_ai.testing.batch_server import FAIL_MARK
from jtd_ai.testing.server import FakeProviderServer, Fault

pytestmark = [needs("openai"), needs("gemini")]

MODELS = {"openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash"}
#: Standard prices per million tokens (input, output) from the two drivers' tables.
STANDARD = {"openai": (Decimal("0.15"), Decimal("0.60")),
            "gemini": (Decimal("0.30"), Decimal("2.50"))}
FAST = {"poll_interval": 0.01, "max_poll_interval": 0.02}


@pytest.fixture
def ai(server: FakeProviderServer, tmp_path: Path) -> Iterator[AIManager]:
    manager = AIManager(
        providers={"openai": {"base_url": server.base_url("openai"), "api_key": "sk-test",
                              "retry_delay": 1},
                   "gemini": {"base_url": server.base_url("gemini"), "api_key": "g-test",
                              "retry_delay": 1}},
        config_file=False, env={}, store={"path": str(tmp_path / "jtd-ai.db")})
    yield manager
    manager.close()


@pytest.fixture(params=["openai", "gemini"])
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["sync", "async"])
def run(request: pytest.FixtureRequest) -> Callable[..., Any]:
    if request.param == "sync":
        return run_batch_job

    def via_async(driver: Driver, items: Any, **kwargs: Any) -> Any:
        return asyncio.run(arun_batch_job(driver, items, **kwargs))

    return via_async


def ledger(tmp_path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "jtd-ai.db") as conn:
        return conn.execute("SELECT operation, batch_id, status, error, cost, price_source, "
                            "input_tokens, output_tokens FROM usage ORDER BY id").fetchall()


def batch_paths(server: FakeProviderServer) -> list[str]:
    return [r.path for r in server.requests
            if "batch" in r.path.lower() or "/files" in r.path]


def test_results_in_input_order_with_item_errors_and_the_batch_price(
        ai: AIManager, server: FakeProviderServer, provider: str, run: Callable[..., Any],
        tmp_path: Path) -> None:
    created = len(server.batches.created)
    prompts = ["first prompt", f"second {FAIL_MARK}", "third one here", "fourth"]
    results = run(ai.driver(provider), prompts, model=MODELS[provider], **FAST)
    assert len(server.batches.created) == created + 1
    job_id = server.batches.created[-1]
    assert [r.content if isinstance(r, Response) else None for r in results] == [
        "echo: first prompt", None, "echo: third one here", "echo: fourth"]
    error = results[1]
    assert isinstance(error, ProviderError) and error.status == 400
    assert "item refused" in str(error)
    rows = ledger(tmp_path)
    assert len(rows) == 4  # one per answered item, the failed one included
    assert all(row[0] == "batch_job" and row[1] == job_id for row in rows)
    assert [row[2] for row in rows].count("error") == 1
    input_rate, output_rate = STANDARD[provider]
    for result in (results[0], results[2], results[3]):
        assert isinstance(result, Response) and result.usage is not None
        expected = (result.usage.input_tokens * input_rate
                    + result.usage.output_tokens * output_rate) / 1_000_000 / 2
        assert result.cost == expected
        assert result.pricing is not None and "batch" in result.pricing.source
    assert sum(Decimal(row[4]) for row in rows if row[4]) == sum(
        r.cost for r in results if isinstance(r, Response) and r.cost is not None)


def test_running_the_same_input_again_returns_the_results_without_a_new_job(
        ai: AIManager, server: FakeProviderServer, provider: str, tmp_path: Path) -> None:
    prompts = ["again a", "again b"]
    first = run_batch_job(ai.driver(provider), prompts, model=MODELS[provider], **FAST)
    created, rows = len(server.batches.created), len(ledger(tmp_path))
    second = run_batch_job(ai.driver(provider), prompts, model=MODELS[provider], **FAST)
    assert [r.content for r in second] == [r.content for r in first]  # type: ignore[union-attr]
    assert len(server.batches.created) == created  # no second job
    assert len(ledger(tmp_path)) == rows  # no second ledger row


def test_a_large_input_is_split_by_the_providers_limits(
        ai: AIManager, server: FakeProviderServer, provider: str, run: Callable[..., Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    batch_type = type(ai.driver(provider).protocol.batch_protocol())
    monkeypatch.setattr(batch_type, "limits", BatchLimits(max_requests=2, max_bytes=10_000))
    created = len(server.batches.created)
    prompts = [f"split item {i}" for i in range(5)]
    results = run(ai.driver(provider), prompts, model=MODELS[provider], **FAST)
    assert len(server.batches.created) == created + 3  # 2 + 2 + 1
    assert [r.content for r in results] == [f"echo: split item {i}" for i in range(5)]


def test_gemini_sends_small_inputs_inline_and_large_ones_as_a_file(
        ai: AIManager, server: FakeProviderServer) -> None:
    driver = ai.driver("gemini")
    server.requests.clear()
    inline = run_batch_job(driver, ["inline one"], model=MODELS["gemini"], **FAST)
    assert not any(p.startswith("/upload/") for p in batch_paths(server))
    server.requests.clear()
    filed = run_batch_job(driver, ["file one", "file two"], model=MODELS["gemini"],
                          input="file", **FAST)
    paths = batch_paths(server)
    assert "/upload/v1beta/files" in paths
    assert any(p.startswith("/download/v1beta/files/") for p in paths)
    assert [r.content for r in inline + filed] == [  # type: ignore[union-attr]
        "echo: inline one", "echo: file one", "echo: file two"]


def test_a_failed_job_gives_every_item_a_batch_job_error(
        ai: AIManager, server: FakeProviderServer, provider: str, tmp_path: Path) -> None:
    server.batches.outcome = "failed"
    results = run_batch_job(ai.driver(provider), ["doomed a", "doomed b"],
                            model=MODELS[provider], **FAST)
    for result in results:
        assert isinstance(result, BatchJobError)
        assert result.job_state == "failed" and result.job_id == server.batches.created[-1]
        assert "refused" in str(result)
    assert ledger(tmp_path) == []  # nothing ran, nothing billed


def test_an_expired_job_keeps_what_finished(
        ai: AIManager, server: FakeProviderServer, provider: str) -> None:
    server.batches.outcome = "expired"
    results = run_batch_job(ai.driver(provider), [f"late {i}" for i in range(4)],
                            model=MODELS[provider], **FAST)
    if provider == "openai":  # OpenAI hands back what finished before the window closed
        assert [r.content for r in results[:2]] == ["echo: late 0", "echo: late 1"]  # type: ignore[union-attr]
        missing = results[2:]
    else:  # Gemini's expired jobs carry no output
        missing = results
    assert all(isinstance(r, BatchJobError) and r.job_state == "expired" for r in missing)


def test_cancel_then_collect(ai: AIManager, server: FakeProviderServer, provider: str,
                             tmp_path: Path) -> None:
    server.batches.polls = 10_000  # never finishes on its own
    driver = ai.driver(provider)
    run_id = run_batch_job(driver, ["cancel me", "me too"], model=MODELS[provider],
                           wait=False, **FAST)
    assert isinstance(run_id, str)
    records = cancel_batch_job(driver, run_id)
    assert [r.state for r in records] == ["cancelled"]
    results = collect_batch_job(driver, run_id, **FAST)
    assert len(results) == 2
    assert all(isinstance(r, BatchCancelledError) for r in results)
    assert ledger(tmp_path) == []


def test_a_job_cancelled_while_running_keeps_what_it_finished(
        ai: AIManager, server: FakeProviderServer, provider: str, tmp_path: Path) -> None:
    """OpenAI hands over a cancelled batch's finished items in its output file: they are
    collected (with their ledger rows) and the others are BatchCancelledError; Gemini's
    cancelled jobs give no results."""
    from jtd_ai.jobs import refresh_batch_job

    server.batches.polls = 10_000  # running until cancelled
    driver = ai.driver(provider)
    prompts = ["part one", "part two", "part three", "part four"]
    run_id = run_batch_job(driver, prompts, model=MODELS[provider], wait=False, **FAST)
    assert isinstance(run_id, str)
    assert [r.state for r in refresh_batch_job(driver, run_id)] == ["running"]
    assert [r.state for r in cancel_batch_job(driver, run_id)] == ["cancelled"]
    results = collect_batch_job(driver, run_id, **FAST)
    finished = 2 if provider == "openai" else 0  # the fake ran the first half
    assert [r.content for r in results[:finished]] == [  # type: ignore[union-attr]
        f"echo: {p}" for p in prompts[:finished]]
    assert all(isinstance(r, BatchCancelledError) for r in results[finished:])
    rows = ledger(tmp_path)
    assert len(rows) == finished and all(row[2] == "ok" for row in rows)


def test_a_timeout_leaves_the_job_to_collect_later(
        ai: AIManager, server: FakeProviderServer, provider: str) -> None:
    server.batches.polls = 10_000
    driver = ai.driver(provider)
    created = len(server.batches.created)
    with pytest.raises(TimeoutError, match="jobs collect"):
        run_batch_job(driver, ["slow job"], model=MODELS[provider], timeout=0.05, **FAST)
    server.batches.polls = 1  # the provider finishes meanwhile
    results = run_batch_job(driver, ["slow job"], model=MODELS[provider], **FAST)
    assert [r.content for r in results] == ["echo: slow job"]  # type: ignore[union-attr]
    assert len(server.batches.created) == created + 1


@pytest.mark.parametrize("case", ["unsupported model", "item too large", "two models",
                                  "no items", "no batch api"])
def test_bad_input_is_refused_before_anything_is_sent(
        ai: AIManager, server: FakeProviderServer, case: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from jtd_ai import ChatRequest, Message

    driver = ai.driver("openai")
    items: list[Any] = ["fine"]
    model: str | None = "gpt-4o-mini"
    if case == "unsupported model":
        model = "gpt-4o-realtime-preview"
    elif case == "item too large":
        monkeypatch.setattr(type(driver.protocol.batch_protocol()), "limits",
                            BatchLimits(max_requests=10, max_bytes=200))
        items = ["fine", "x" * 500]
    elif case == "two models":
        model = None
        items = [ChatRequest.build((Message.user("a"),), "gpt-4o-mini"),
                 ChatRequest.build((Message.user("b"),), "gpt-4o")]
    elif case == "no items":
        items = []
    else:
        monkeypatch.setattr(type(driver.protocol), "batch_protocol", lambda self: None)
    server.requests.clear()
    with pytest.raises(ValidationError) as raised:
        run_batch_job(driver, items, model=model, **FAST)
    assert isinstance(raised.value, AIError)
    if case == "item too large":
        assert "batch item 1" in str(raised.value)
    assert list(server.requests) == []


def test_the_store_records_every_job(ai: AIManager, server: FakeProviderServer,
                                     tmp_path: Path) -> None:
    run_batch_job(ai.driver("openai"), ["recorded"], model="gpt-4o-mini", **FAST)
    with sqlite3.connect(tmp_path / "jtd-ai.db") as conn:
        rows = conn.execute("SELECT provider, model, step, job_id, state, completed, failed, "
                            "file_id, first_index, items FROM batch_jobs").fetchall()
    assert rows == [("openai", "gpt-4o-mini", "collected", server.batches.created[-1],
                     "completed", 1, 0, rows[0][7], 0, 1)]
    assert rows[0][7] in server.batches.files


def test_send_batch_mode_provider_sync_and_async(ai: AIManager, server: FakeProviderServer,
                                                 provider: str) -> None:
    driver = ai.driver(provider)
    created = len(server.batches.created)
    heard: list[int] = []
    results = driver.send_batch(["via api one", "via api two"], model=MODELS[provider],
                                mode="provider", poll_interval=0.01,
                                on_result=lambda i, r: heard.append(i))
    assert [r.content for r in results] == [  # type: ignore[union-attr]
        "echo: via api one", "echo: via api two"]
    assert heard == [0, 1]
    again = asyncio.run(driver.asend_batch(["via api async"], model=MODELS[provider],
                                           mode="provider", poll_interval=0.01,
                                           temperature=0))
    assert [r.content for r in again] == ["echo: via api async"]  # type: ignore[union-attr]
    assert len(server.batches.created) == created + 2
    sent = [r.body for r in server.requests if r.method == "POST" and (
        "/files" in r.path or "batchGenerateContent" in r.path)][-1]
    assert b'"temperature":0' in sent.replace(b" ", b"")  # options reach the job's items


def test_send_batch_mode_is_checked(ai: AIManager, server: FakeProviderServer) -> None:
    driver = ai.driver("openai")
    server.requests.clear()
    with pytest.raises(ValidationError, match="mode"):
        driver.send_batch(["x"], mode="offline")
    with pytest.raises(ValidationError, match="cancel"):
        driver.send_batch(["x"], mode="provider", cancel=__import__("threading").Event())
    assert list(server.requests) == []


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_jobs_resume_from_either_store_engine(server: FakeProviderServer, tmp_path: Path,
                                              engine: str, request: pytest.FixtureRequest,
                                              ) -> None:
    from jtd_ai.ledger import Ledger
    from jtd_ai.store import open_store

    url = str(tmp_path / "engine.db") if engine == "sqlite" else str(
        request.getfixturevalue("pg_url"))
    store = open_store(url)
    with AIManager(providers={"gemini": {"base_url": server.base_url("gemini"),
                                         "api_key": "g-test"}},
                   config_file=False, env={}, store={"enabled": False}) as manager:
        driver = manager.driver("gemini")
        created = len(server.batches.created)
        run_id = run_batch_job(driver, ["on an engine"], model=MODELS["gemini"], store=store,
                               wait=False)
        results = run_batch_job(driver, ["on an engine"], model=MODELS["gemini"], store=store,
                                **FAST)  # the same input: the stored run, resumed
    assert [r.content for r in results] == ["echo: on an engine"]  # type: ignore[union-attr]
    assert len(server.batches.created) == created + 1
    (record,) = find_batch_jobs(store, run_id)
    assert (record.step, record.state, record.completed) == ("collected", "completed", 1)
    assert Ledger(store).total(provider="gemini").calls == 1
    store.close()


def test_async_cancel_and_collect_by_the_providers_job_id(
        ai: AIManager, server: FakeProviderServer, provider: str) -> None:
    from jtd_ai.jobs import acancel_batch_job, acollect_batch_job, arefresh_batch_job

    server.batches.polls = 10_000
    driver = ai.driver(provider)

    async def scenario() -> tuple[list[Any], list[Any], list[Any]]:
        await arun_batch_job(driver, ["async cancel"], model=MODELS[provider], wait=False)
        job_id = server.batches.created[-1]
        refreshed = await arefresh_batch_job(driver, job_id)
        cancelled = await acancel_batch_job(driver, job_id)
        return refreshed, cancelled, await acollect_batch_job(driver, job_id, **FAST)

    refreshed, cancelled, results = asyncio.run(scenario())
    assert [r.state for r in refreshed] == ["running"]
    assert [r.state for r in cancelled] == ["cancelled"]
    assert [type(r) for r in results] == [BatchCancelledError]


@pytest.mark.parametrize(("setting", "value"), [("run", "no spaces!"), ("run", "x" * 41),
                                                ("input", "sideways")])
def test_job_settings_are_checked_before_anything_is_sent(
        ai: AIManager, server: FakeProviderServer, setting: str, value: str) -> None:
    server.requests.clear()
    with pytest.raises(ValidationError, match=setting):
        run_batch_job(ai.driver("openai"), ["x"], model="gpt-4o-mini", **{setting: value})
    assert list(server.requests) == []


def test_a_named_run_is_resumed_by_its_name(ai: AIManager, server: FakeProviderServer,
                                            provider: str) -> None:
    driver = ai.driver(provider)
    run_id = run_batch_job(driver, ["named"], model=MODELS[provider], run="nightly-7",
                           wait=False)
    assert run_id == "nightly-7"
    created = len(server.batches.created)
    results = run_batch_job(driver, ["named"], model=MODELS[provider], run="nightly-7", **FAST)
    assert [r.content for r in results] == ["echo: named"]  # type: ignore[union-attr]
    assert len(server.batches.created) == created
    with pytest.raises(ValidationError, match="other items"):
        run_batch_job(driver, ["different"], model=MODELS[provider], run="nightly-7")


@pytest.mark.parametrize("fault", ["reply lost", "refused"])
def test_a_failed_create_is_never_sent_blindly_again(
        ai: AIManager, server: FakeProviderServer, provider: str, fault: str) -> None:
    create = {"openai": "/v1/batches", "gemini": ":batchGenerateContent"}[provider]
    # "reply lost": the server creates the job, then drops the connection before replying;
    # "refused": a 503 before anything is created. Either way exactly one job results.
    server.inject(Fault(reset_after=0, path_contains=create) if fault == "reply lost"
                  else Fault(status=503, path_contains=create))
    server.requests.clear()
    created = len(server.batches.created)
    results = run_batch_job(ai.driver(provider), [f"create {fault}"], model=MODELS[provider],
                            **FAST)
    assert [r.content for r in results] == [f"echo: create {fault}"]  # type: ignore[union-attr]
    assert len(server.batches.created) == created + 1
    creates = [r for r in server.requests if r.method == "POST" and create in r.path]
    assert len(creates) == (1 if fault == "reply lost" else 2)
