"""Fallback chains under injected faults: OpenAI's driver first, then Gemini's, then Ollama's,
all on the fake provider server over loopback, sync, async, streamed and in batches. Each test
checks what the caller got (the reply, who served it, who was tried, every chunk once), what
the wire saw (the attempts each provider received) and the usage ledger (one row per call)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from call_forms import MODES, call
from faultkit import KEY, PIECES, PROMPT, REPLY
from wrap_helpers import installed_off

from jtd_ai import (
    AIManager,
    InvalidCredentialsError,
    ModelNotFoundError,
    ProviderError,
    ProviderUnavailableError,
    QuotaExceededError,
    Response,
    TimeoutError,
    TriedProvider,
    ValidationError,
)
from jtd_ai.testing import FakeProviderServer, Fault

OPENAI = "/v1/chat/completions"
GEMINI = "/v1beta/"
OLLAMA = "/api/chat"


def manager(server: FakeProviderServer, folder: Path, *,
            fallbacks: dict[str, list[str]] | None = None,
            plugins: dict[str, dict[str, Any]] | None = None, **settings: Any) -> AIManager:
    """openai, gemini and ollama on the server, three attempts each, and their ledger."""
    base = {"api_key": KEY, "retry_attempts": 3, "retry_delay": 1, "timeout": 10,
            "deadline": 30, **settings}
    models = {"openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash",
              "ollama": "llama3.2:latest"}
    providers = {name: {"base_url": server.base_url(name), "default_model": model, **base}
                 for name, model in models.items()}
    for name, targets in (fallbacks or {}).items():
        providers[name]["fallbacks"] = targets
    return AIManager(providers=providers, default="openai", config_file=False, env={},
                     store={"path": str(folder / "jtd-ai.db")},
                     plugins={**installed_off(), **(plugins or {})})


def sent(server: FakeProviderServer) -> dict[str, int]:
    """Chat requests the server received, by provider."""
    counts = {"openai": 0, "gemini": 0, "ollama": 0}
    for request in server.requests:
        for name, path in (("openai", OPENAI), ("gemini", GEMINI), ("ollama", OLLAMA)):
            if request.method == "POST" and path in request.path and (
                    name != "gemini" or "enerateContent" in request.path):
                counts[name] += 1
    return counts


def rows(ai: AIManager) -> list[tuple[str, str, str | None, int | None]]:
    """(provider, status, error, attempts) of each ledger row, oldest first."""
    return [(r.provider, r.status, r.error, r.attempts)
            for r in reversed(ai.usage.records(limit=100))]


@pytest.mark.parametrize("mode", MODES)
def test_a_chain_falls_back_past_an_outage_and_a_rate_limit(
        server: FakeProviderServer, tmp_path: Path, mode: str) -> None:
    """openai unavailable after its retries, gemini rate-limited after its retries: ollama
    serves, the reply says so, every chunk arrives once, each attempt has its row."""
    ai = manager(server, tmp_path, fallbacks={"openai": ["gemini", "ollama:llama3.2:latest"]})
    server.inject(Fault(status=503, path_contains=OPENAI), times=3)
    server.inject(Fault(status=429, path_contains=GEMINI), times=3)
    deltas: list[str] = []
    response = call(ai, mode, PROMPT, deltas=deltas)
    assert (response.provider, response.model, response.content) == (
        "ollama", "llama3.2:latest", REPLY)
    assert response.tried == (TriedProvider("openai", "gpt-4o-mini", "ProviderUnavailableError"),
                              TriedProvider("gemini", None, "RateLimitError"))
    if mode in ("stream", "astream"):
        assert [d for d in deltas if d] == PIECES
    assert sent(server) == {"openai": 3, "gemini": 3, "ollama": 1}
    assert rows(ai) == [("openai", "error", "ProviderUnavailableError", 3),
                        ("gemini", "error", "RateLimitError", 3), ("ollama", "ok", None, 1)]
    ai.close()


@pytest.mark.parametrize(("fault", "options", "kind"), [
    (Fault(status=429, kind="insufficient_quota", message="You exceeded your current quota",
           path_contains=OPENAI), {}, QuotaExceededError),
    (None, {"model": "gpt-missing"}, ModelNotFoundError),
    (Fault(delay=2.0, path_contains=OPENAI), {"timeout": 0.3}, TimeoutError),
], ids=["quota", "model-not-found", "timeout"])
@pytest.mark.parametrize("mode", ["send", "astream"])
def test_a_call_falls_back_on_quota_timeout_and_a_missing_model(
        server: FakeProviderServer, tmp_path: Path, mode: str, fault: Fault | None,
        options: dict[str, Any], kind: type[Exception]) -> None:
    """Per-call fallbacks (the provider has none): the next target gets the call, with its
    own default model."""
    ai = manager(server, tmp_path)
    if fault is not None:
        server.inject(fault, times=3)
    deltas: list[str] = []
    response = call(ai, mode, PROMPT, deltas=deltas, fallbacks=["gemini"], **options)
    assert (response.provider, response.model, response.content) == (
        "gemini", "gemini-2.5-flash", REPLY)
    assert [t.error for t in response.tried] == [kind.__name__]
    assert [r[0:3] for r in rows(ai)] == [("openai", "error", kind.__name__),
                                         ("gemini", "ok", None)]
    ai.close()


@pytest.mark.parametrize(("fault", "kind"), [
    (Fault(status=401, path_contains=OPENAI), InvalidCredentialsError),
    (Fault(status=400, path_contains=OPENAI), ProviderError),
], ids=["credentials", "bad-request"])
@pytest.mark.parametrize("mode", ["send", "stream"])
def test_errors_that_are_no_outage_are_raised_at_once(
        server: FakeProviderServer, tmp_path: Path, mode: str, fault: Fault,
        kind: type[Exception]) -> None:
    ai = manager(server, tmp_path, fallbacks={"openai": ["gemini"]})
    server.inject(fault)
    with pytest.raises(kind) as caught:
        call(ai, mode, PROMPT)
    assert type(caught.value) is kind
    assert sent(server)["gemini"] == 0
    assert [r[0] for r in rows(ai)] == ["openai"]
    ai.close()


@pytest.mark.parametrize("mode", ["send", "astream"])
def test_when_every_target_fails_the_last_error_names_the_chain(
        server: FakeProviderServer, tmp_path: Path, mode: str) -> None:
    ai = manager(server, tmp_path, retry_attempts=1,
                 fallbacks={"openai": ["gemini", "ollama"]})
    server.inject(Fault(status=503))
    server.inject(Fault(status=503))
    server.inject(Fault(status=503))
    with pytest.raises(ProviderUnavailableError) as caught:
        call(ai, mode, PROMPT)
    assert caught.value.provider == "ollama"  # type: ignore[attr-defined]
    assert caught.value.__notes__ == [
        "fallbacks tried, in order: openai:gpt-4o-mini (ProviderUnavailableError), "
        "gemini (ProviderUnavailableError), ollama (ProviderUnavailableError)"]
    assert [r[0:2] for r in rows(ai)] == [("openai", "error"), ("gemini", "error"),
                                         ("ollama", "error")]
    ai.close()


@pytest.mark.parametrize("mode", MODES)
def test_fallbacks_that_name_each_other_end(server: FakeProviderServer, tmp_path: Path,
                                            mode: str) -> None:
    """openai falls back to gemini and gemini to openai: the call made through the fallback
    does not fall back again, so both fail once each and the error comes back."""
    ai = manager(server, tmp_path, retry_attempts=1,
                 fallbacks={"openai": ["gemini"], "gemini": ["openai"]})
    server.inject(Fault(status=503), times=2)
    with pytest.raises(ProviderUnavailableError):
        call(ai, mode, PROMPT)
    assert sent(server) == {"openai": 1, "gemini": 1, "ollama": 0}
    ai.close()


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_a_stream_that_stalls_after_its_first_chunks_does_not_fall_back(
        server: FakeProviderServer, tmp_path: Path, mode: str) -> None:
    """A TimeoutError would send a call elsewhere, but chunks already reached the caller:
    the error comes back with what arrived, and no other provider is asked."""
    ai = manager(server, tmp_path, stream_idle_timeout=0.2,
                 fallbacks={"openai": ["gemini"]})
    server.inject(Fault(stall_after=3, path_contains=OPENAI))
    deltas: list[str] = []
    with pytest.raises(TimeoutError) as caught:
        call(ai, mode, PROMPT, deltas=deltas)
    partial = caught.value.partial
    assert partial is not None and partial.content == "".join(deltas) != ""
    assert sent(server)["gemini"] == 0
    assert [r[0:3] for r in rows(ai)] == [("openai", "error", "TimeoutError")]
    ai.close()


@pytest.mark.parametrize("how", ["config", "per-call"])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_batch_falls_back_item_by_item(server: FakeProviderServer, tmp_path: Path,
                                         how: str, mode: str) -> None:
    """The item whose prompt hits an outage is served by gemini; the others by openai;
    every result is there, in order."""
    ai = manager(server, tmp_path, retry_attempts=1,
                 fallbacks={"openai": ["gemini"]} if how == "config" else None)
    server.inject(Fault(status=503, path_contains=OPENAI, body_contains="item two"))
    prompts = ["item one", "item two", "item three"]
    options: dict[str, Any] = {"fallbacks": ["gemini"]} if how == "per-call" else {}
    driver = ai.driver("openai")
    if mode == "sync":
        results = driver.send_batch(prompts, concurrency=2, **options)
    else:
        async def run() -> list[Any]:
            try:
                return await driver.asend_batch(prompts, concurrency=2, **options)
            finally:
                await driver.aclose()
                await ai.driver("gemini").aclose()
        results = asyncio.run(run())
    assert all(isinstance(r, Response) for r in results)
    assert [(r.provider, r.content) for r in results] == [
        ("openai", "echo: item one"), ("gemini", "echo: item two"),
        ("openai", "echo: item three")]
    assert sorted(r[0:2] for r in rows(ai)) == [
        ("gemini", "ok"), ("openai", "error"), ("openai", "ok"), ("openai", "ok")]
    ai.close()


def test_a_conversation_falls_back_and_keeps_the_reply(server: FakeProviderServer,
                                                      tmp_path: Path) -> None:
    ai = manager(server, tmp_path, retry_attempts=1)
    server.inject(Fault(status=503, path_contains=OPENAI))
    conversation = ai.conversation("openai").fallbacks("gemini").message(PROMPT)
    reply = conversation.send()
    assert (reply.provider, reply.content) == ("gemini", REPLY)
    assert conversation.history[-1].text == REPLY
    ai.close()


@pytest.mark.parametrize("mode", ["send", "astream"])
def test_fallbacks_turned_off_in_config_stay_off(server: FakeProviderServer, tmp_path: Path,
                                                 mode: str) -> None:
    """[plugins.fallbacks] enabled = false: the provider's list is not used, and a call's
    fallbacks= is refused before anything is sent rather than turning fallbacks on."""
    ai = manager(server, tmp_path, retry_attempts=1, fallbacks={"openai": ["gemini"]},
                 plugins={"fallbacks": {"enabled": False}})
    server.inject(Fault(status=503, path_contains=OPENAI), times=3)
    with pytest.raises(ProviderUnavailableError):
        call(ai, mode, PROMPT)
    with pytest.raises(ValidationError, match="the fallbacks plugin is disabled in config"):
        call(ai, mode, PROMPT, fallbacks=["gemini"])
    assert sent(server) == {"openai": 1, "gemini": 0, "ollama": 0}
    with pytest.raises(ProviderUnavailableError):  # still off
        call(ai, mode, PROMPT)
    assert sent(server) == {"openai": 2, "gemini": 0, "ollama": 0}
    ai.close()


def test_a_per_call_fallback_changes_no_other_call(server: FakeProviderServer,
                                                   tmp_path: Path) -> None:
    """No provider sets fallbacks: a call's fallbacks= registers the plugin, and the calls
    that name none still do not fall back."""
    ai = manager(server, tmp_path, retry_attempts=1)
    server.inject(Fault(status=503, path_contains=OPENAI), times=2)
    assert call(ai, "send", PROMPT, fallbacks=["gemini"]).provider == "gemini"
    with pytest.raises(ProviderUnavailableError):
        call(ai, "send", PROMPT)
    assert sent(server) == {"openai": 2, "gemini": 1, "ollama": 0}
    ai.close()
