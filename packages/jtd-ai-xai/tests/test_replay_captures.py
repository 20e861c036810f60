"""Replay every recorded xAI capture (outside this project) through the driver.

Requests are compared with what we build; replies, streams, errors and listings are parsed
and checked against what the recording itself says, read here independently of the driver.
Where xAI reported the call's cost (``cost_in_usd_ticks``), our usage and price table must
give the same dollars. Unknown kinds of file fail the run; no capture is silently skipped.
Skipped as a whole when the captures folder is absent (see the ``captures`` fixture).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from jtd_ai import (
    ChatRequest,
    FinishReason,
    InvalidCredentialsError,
    Message,
    ModelNotFoundError,
    ProviderConfig,
    ProviderError,
    ProviderUnavailableError,
    QuotaExceededError,
    RateLimitError,
    TokenUsage,
    ToolCall,
)
from jtd_ai.testing import CaptureFolder, error_status, sidecar_headers, sidecar_owner
from jtd_ai.wire import HttpResponse
from jtd_ai_openai.testing import replay_stream, request_from_body
from jtd_ai_xai.protocol import XAIProtocol

NOT_CHAT = {
    "tokenize_text_request.json": "token counting (POST /tokenize-text) is not a chat call",
    "tokenize_text_response.json": "token counting (POST /tokenize-text) is not a chat call",
}
PINNED: dict[str, dict[str, Any]] = {
    "chat_response.json": {"content": "Olá!", "usage": TokenUsage(165, 127, 156, 125)},
    "chat_stream.txt": {"content": "Olá!", "usage": TokenUsage(165, 131, 164, 129)},
    "tool_call_stream_parallel.txt": {"tool_calls": (
        ToolCall("call_55070233", "add", '{"a":2,"b":3}'),
        ToolCall("call_12016531", "multiply", '{"a":2,"b":3}'))},
}
_TICKS_PER_DOLLAR = Decimal(10) ** 10


def kind_of(path: Path) -> str | None:
    """Which replay a capture file gets, from its name; None for an unknown kind."""
    name = path.name
    rules = [
        (name in NOT_CHAT, "not_chat"),
        (name.endswith(".headers.json"), "headers"),
        (name.startswith("error_") and name.endswith(".json"), "error"),
        (name.startswith(("models_list", "language_models_list")) and name.endswith(".json"),
         "models"),
        (name.startswith(("model_detail", "language_model_detail")) and name.endswith(".json"),
         "model"),
        (name.endswith("_request.json"), "request"),
        (name.endswith("_response.json"), "response"),
        (name.endswith(".txt"), "stream"),
    ]
    return next((kind for matched, kind in rules if matched), None)


@pytest.fixture
def folder(captures: Callable[[str], Path]) -> CaptureFolder:
    return CaptureFolder(captures("xai"), kind_of)


@pytest.fixture
def protocol() -> XAIProtocol:
    return XAIProtocol(ProviderConfig(name="xai", driver="xai", api_key="k-replay-1",
                                      api_key_env="XAI_API_KEY",
                                      base_url="https://api.x.ai/v1"))


def a_request() -> ChatRequest:
    return ChatRequest.build([Message.user("hi")], "grok-4-fast")


# -- what a recording says, read without the driver ------------------------------------------

def expected_usage(usage: dict[str, Any]) -> TokenUsage:
    """xAI's accounting: total = prompt + completion + reasoning, so output adds reasoning."""
    prompt, completion = usage["prompt_tokens"], usage["completion_tokens"]
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    included = usage.get("total_tokens") == prompt + completion and reasoning
    return TokenUsage(prompt, completion + (0 if included else reasoning), cached, reasoning)


def check_reported_cost(protocol: XAIProtocol, name: str, model: str,
                        usage: dict[str, Any]) -> None:
    ticks = usage.get("cost_in_usd_ticks")
    if ticks is None or usage.get("num_sources_used"):
        return  # not reported, or it includes live-search charges we do not price
    pricing = protocol.pricing(model)
    assert pricing is not None, f"{name}: no price for {model}"
    assert pricing.cost(expected_usage(usage)) == Decimal(ticks) / _TICKS_PER_DOLLAR, name


def expected_from_stream(text: str) -> dict[str, Any]:
    payloads = [line[len("data: "):] for line in text.splitlines() if line.startswith("data: ")]
    content, reasoning, calls, usage, finish, model = "", "", {}, None, None, None
    for raw in payloads:
        if raw == "[DONE]":
            continue
        data = json.loads(raw)
        model = model or data.get("model")
        usage = data.get("usage") or usage
        for choice in data.get("choices", []):
            delta = choice.get("delta", {})
            content += delta.get("content") or ""
            reasoning += delta.get("reasoning_content") or ""
            finish = choice.get("finish_reason") or finish
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(call["index"], {"id": None, "name": None, "args": ""})
                slot["id"] = call.get("id") or slot["id"]
                slot["name"] = call.get("function", {}).get("name") or slot["name"]
                slot["args"] += call.get("function", {}).get("arguments") or ""
    return {"content": content, "reasoning": reasoning or None, "usage": usage, "model": model,
            "tool_calls": tuple(ToolCall(s["id"], s["name"], s["args"])
                                for _, s in sorted(calls.items())),
            "finish_reason": finish, "done": payloads[-1:] == ["[DONE]"]}


def check_pinned(name: str, response: Any) -> None:
    for field, value in PINNED.get(name, {}).items():
        assert getattr(response, field) == value, (name, field)


# -- the replays ----------------------------------------------------------------------------

def test_every_capture_has_a_replay(folder: CaptureFolder) -> None:
    folder.check_every_file_is_known()


def test_requests_are_what_we_build(folder: CaptureFolder, protocol: XAIProtocol) -> None:
    for path in folder.files("request"):
        recorded = json.loads(path.read_text())
        request, stream = request_from_body(recorded)
        for tool in recorded.get("tools", []):
            # Our Tool has no strictness; xAI ignores the flag, and false is the default.
            if tool["function"].get("strict") is False:
                del tool["function"]["strict"]
        assert protocol.chat_request(request, stream=stream).json == recorded, path.name


def test_replies_parse(folder: CaptureFolder, protocol: XAIProtocol) -> None:
    for path in folder.files("response"):
        data = json.loads(path.read_bytes())
        reply = protocol.parse_chat(HttpResponse(200, {}, path.read_bytes()), a_request())
        message = data["choices"][0]["message"]
        calls = tuple(ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"])
                      for c in message.get("tool_calls") or [])
        assert reply.content == (message.get("content") or ""), path.name
        assert reply.reasoning == (message.get("reasoning_content") or None), path.name
        assert reply.tool_calls == calls, path.name
        assert reply.model == data["model"], path.name
        assert reply.finish_reason == FinishReason(data["choices"][0]["finish_reason"])
        assert reply.usage == expected_usage(data["usage"]), path.name
        check_reported_cost(protocol, path.name, data["model"], data["usage"])
        check_pinned(path.name, reply)


def test_streams_decode(folder: CaptureFolder, protocol: XAIProtocol) -> None:
    for path in folder.files("stream"):
        text = path.read_text(encoding="utf-8")
        expected = expected_from_stream(text)
        if not expected["done"]:
            with pytest.raises(ProviderError):
                replay_stream(protocol, text, a_request())
            continue
        reply = replay_stream(protocol, text, a_request())
        for field in ("content", "reasoning", "tool_calls", "model"):
            assert getattr(reply, field) == expected[field], (path.name, field)
        assert reply.finish_reason == FinishReason(expected["finish_reason"]), path.name
        if expected["usage"] is not None:
            assert reply.usage == expected_usage(expected["usage"]), path.name
            check_reported_cost(protocol, path.name, expected["model"], expected["usage"])
        check_pinned(path.name, reply)


def expected_error(name: str, status: int, message: str) -> type[ProviderError]:
    text = message.lower()
    if status == 429 and ("credits" in text or "spending limit" in text):
        return QuotaExceededError
    if status in (401, 403) or (status == 400 and ("api key" in text
                                                   or "invalid_api_key" in name)):
        return InvalidCredentialsError
    if status == 404:
        return ModelNotFoundError
    if status == 429:
        return RateLimitError
    if status >= 500:
        return ProviderUnavailableError
    return ProviderError


def test_errors_are_typed(folder: CaptureFolder, protocol: XAIProtocol) -> None:
    for path in folder.files("error"):
        status, headers = error_status(path.name), sidecar_headers(path)
        body = json.loads(path.read_bytes())
        error = protocol.parse_error(HttpResponse(status, headers, path.read_bytes()))
        wanted = expected_error(path.name, status, body["error"])
        assert type(error) is wanted, (path.name, type(error))
        assert (error.status, error.code) == (status, body["code"]), path.name
        assert body["error"][:30] in error.message, path.name
        assert error.retryable is (wanted in (RateLimitError, ProviderUnavailableError))


def test_every_header_sidecar_belongs_to_an_error(folder: CaptureFolder) -> None:
    for path in folder.files("headers"):
        owner = sidecar_owner(path)
        assert owner.exists() and kind_of(owner) == "error", path.name


def listed(protocol: XAIProtocol, data: dict[str, Any]) -> list[Any]:
    page = protocol.parse_models(HttpResponse(200, {}, json.dumps(data).encode()))
    return list(page.models)


def check_listed(protocol: XAIProtocol, name: str, entries: list[dict[str, Any]],
                 models: list[Any]) -> None:
    assert [m.id for m in models] == [e["id"] for e in entries], name
    for entry, model in zip(entries, models, strict=True):
        assert model.owned_by == entry["owned_by"], name
        if "prompt_text_token_price" not in entry:
            continue
        # Cents per 100 million tokens, in dollars per million.
        assert model.pricing.input == Decimal(entry["prompt_text_token_price"]) / 10_000
        assert model.pricing.output == Decimal(entry["completion_text_token_price"]) / 10_000
        if entry.get("cached_prompt_text_token_price") is not None:
            assert model.pricing.cached_input == Decimal(
                entry["cached_prompt_text_token_price"]) / 10_000
        for alias in entry.get("aliases", []):
            assert protocol.pricing(alias) == model.pricing, (name, alias)
        if "input_modalities" in entry:
            assert model.capabilities.vision is ("image" in entry["input_modalities"])


def test_model_listings_parse(folder: CaptureFolder, protocol: XAIProtocol) -> None:
    for path in folder.files("models"):
        data = json.loads(path.read_bytes())
        entries = data.get("models", data.get("data"))
        check_listed(protocol, path.name, entries, listed(protocol, data))
    for path in folder.files("model"):
        entry = json.loads(path.read_bytes())
        check_listed(protocol, path.name, [entry], listed(protocol, {"models": [entry]}))


def test_captures_of_other_endpoints_are_what_we_say(folder: CaptureFolder) -> None:
    for path in folder.files("not_chat"):
        data = json.loads(path.read_bytes())
        assert "messages" not in data and "choices" not in data, (path.name, NOT_CHAT[path.name])
