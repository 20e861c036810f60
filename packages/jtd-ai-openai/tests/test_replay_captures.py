"""Replay every recorded OpenAI capture (outside this project) through the driver, and the
captures of another server's OpenAI-compatible ``/v1`` endpoints (Ollama's), which this
driver serves as a further named provider.

Each file is fed the way it was recorded: a request body is compared with the one we build
for the same request; a reply, a stream, an error or a model listing is parsed and checked
against what the recording itself says, read here independently of the driver. A file of
a kind this module does not know fails the run, so no capture is silently skipped.
Skipped as a whole when the captures folder is absent (see the ``captures`` fixture).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jtd_ai import (
    ChatRequest,
    FinishReason,
    InvalidCredentialsError,
    Message,
    ModelNotFoundError,
    ProviderError,
    ProviderUnavailableError,
    QuotaExceededError,
    RateLimitError,
    TokenUsage,
    ToolCall,
)
from jtd_ai.convert import structure_wire
from jtd_ai.testing import CaptureFolder, error_status, sidecar_headers, sidecar_owner
from jtd_ai.wire import HttpResponse
from jtd_ai_openai.protocol import OpenAIProtocol
from jtd_ai_openai.testing import replay_stream, request_from_body
from jtd_ai_openai.wire import ModelEntry

#: Captures of endpoints this Chat Completions driver does not call, and why.
NOT_CHAT = {
    "input_tokens_request.json": "Responses API token counting (POST /responses/input_tokens)",
    "input_tokens_response.json": "Responses API token counting (POST /responses/input_tokens)",
}
#: Facts read off particular recordings by hand, checked on top of the generic checks.
PINNED: dict[str, dict[str, Any]] = {
    "chat_response.json": {"content": "Olá!", "usage": TokenUsage(20, 2)},
    "chat_stream.txt": {"content": "Olá!", "usage": TokenUsage(20, 2)},
    "tool_call_stream.txt": {"tool_calls": (ToolCall(
        "call_qLFv8oQOs68qRuEVmG8TuEJp", "weather", '{"location":"Florence,Italy"}'),)},
    "tool_call_response.json": {"tool_calls": (ToolCall(
        "call_15X0Q2MmkK1IeFfiol9LFlqb", "weather", '{"location":"Florence, Italy"}'),)},
}


def kind_of(path: Path) -> str | None:
    """Which replay a capture file gets, from its name; None for an unknown kind.
    (``v1_`` marks captures of another server's OpenAI-compatible ``/v1`` endpoints.)"""
    name = path.name.removeprefix("v1_")
    rules = [
        (name in NOT_CHAT, "not_chat"),
        (name.endswith(".headers.json"), "headers"),
        (name.startswith("error_") and name.endswith(".json"), "error"),
        (name.startswith("models_list") and name.endswith(".json"), "models"),
        (name.startswith("model_detail") and name.endswith(".json"), "model"),
        (name.endswith("_request.json"), "request"),
        (name.endswith("_response.json"), "response"),
        (name.endswith(".txt"), "stream"),
    ]
    return next((kind for matched, kind in rules if matched), None)


@pytest.fixture
def folder(captures: Callable[[str], Path]) -> CaptureFolder:
    return CaptureFolder(captures("openai"), kind_of)


@pytest.fixture
def compatible(captures: Callable[[str], Path]) -> CaptureFolder:
    """Ollama's OpenAI-compatible endpoint, which this driver serves as a further provider."""
    folder = captures("ollama") / "openai_compat"
    if not folder.is_dir():
        pytest.skip(f"no captures of an OpenAI-compatible server at {folder}")
    return CaptureFolder(folder, kind_of)


@pytest.fixture
def protocol(protocol: Callable[..., OpenAIProtocol]) -> OpenAIProtocol:
    return protocol()


def a_request(model: str = "gpt-4o-mini") -> ChatRequest:
    return ChatRequest.build([Message.user("hi")], model)


# -- what a recording says, read without the driver ------------------------------------------

def expected_usage(usage: dict[str, Any]) -> TokenUsage:
    """OpenAI's accounting: completion_tokens already includes reasoning tokens."""
    details_in = usage.get("prompt_tokens_details") or {}
    details_out = usage.get("completion_tokens_details") or {}
    return TokenUsage(usage["prompt_tokens"], usage["completion_tokens"],
                      details_in.get("cached_tokens") or 0, details_out.get("reasoning_tokens") or 0)


def expected_from_stream(text: str) -> dict[str, Any]:
    payloads = [line[len("data: "):] for line in text.splitlines() if line.startswith("data: ")]
    content, calls, usage, finish = "", {}, None, None
    for raw in payloads:
        if raw == "[DONE]":
            continue
        data = json.loads(raw)
        if data.get("usage"):
            usage = expected_usage(data["usage"])
        for choice in data.get("choices", []):
            delta = choice.get("delta", {})
            content += delta.get("content") or ""
            finish = choice.get("finish_reason") or finish
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(call["index"], {"id": None, "name": None, "args": ""})
                slot["id"] = call.get("id") or slot["id"]
                fn = call.get("function", {})
                slot["name"] = fn.get("name") or slot["name"]
                slot["args"] += fn.get("arguments") or ""
    tool_calls = tuple(ToolCall(s["id"], s["name"], s["args"]) for _, s in sorted(calls.items()))
    return {"content": content, "tool_calls": tool_calls, "usage": usage,
            "finish_reason": finish, "done": payloads[-1:] == ["[DONE]"]}


def check_pinned(name: str, response: Any) -> None:
    for field, value in PINNED.get(name, {}).items():
        assert getattr(response, field) == value, (name, field)


# -- the replays ----------------------------------------------------------------------------

def replay_request(protocol: OpenAIProtocol, path: Path) -> None:
    recorded = json.loads(path.read_text())
    request, stream = request_from_body(recorded)
    built = protocol.chat_request(request, stream=stream).json
    for tool in recorded.get("tools", []):
        # Our Tool has no strictness; false is OpenAI's default, which we leave out.
        if tool["function"].get("strict") is False:
            del tool["function"]["strict"]
    if recorded.get("stream") is False:
        del recorded["stream"]  # false is the default; we leave it out
    for message in recorded["messages"]:
        # Thinking text of earlier turns: our Message does not carry it back.
        message.pop("reasoning", None)
        message.pop("reasoning_content", None)
    assert built == recorded, path.name


def replay_reply(protocol: OpenAIProtocol, path: Path) -> None:
    data = json.loads(path.read_bytes())
    reply = protocol.parse_chat(HttpResponse(200, {}, path.read_bytes()), a_request())
    message = data["choices"][0]["message"]
    calls = tuple(ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"])
                  for c in message.get("tool_calls") or [])
    assert reply.content == (message["content"] or ""), path.name
    assert reply.tool_calls == calls, path.name
    assert reply.model == data["model"], path.name
    assert reply.finish_reason == FinishReason(data["choices"][0]["finish_reason"])
    assert reply.usage == expected_usage(data["usage"]), path.name
    assert reply.refusal == message.get("refusal"), path.name
    thinking = message.get("reasoning_content") or message.get("reasoning")
    assert reply.reasoning == (thinking or None), path.name
    check_pinned(path.name, reply)


def replay_stream_file(protocol: OpenAIProtocol, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    expected = expected_from_stream(text)
    if not expected["done"]:
        with pytest.raises(ProviderError):
            replay_stream(protocol, text, a_request())
        return
    reply = replay_stream(protocol, text, a_request())
    for field in ("content", "tool_calls", "usage"):
        assert getattr(reply, field) == expected[field], (path.name, field)
    assert reply.finish_reason == FinishReason(expected["finish_reason"]), path.name
    check_pinned(path.name, reply)


def expected_error(name: str, status: int) -> type[ProviderError]:
    if "insufficient_quota" in name:
        return QuotaExceededError
    if "invalid_api_key" in name or status in (401, 403):
        return InvalidCredentialsError
    if "model_not_found" in name or status == 404:
        return ModelNotFoundError
    if status == 429:
        return RateLimitError
    if status >= 500:
        return ProviderUnavailableError
    return ProviderError


def replay_error(protocol: OpenAIProtocol, path: Path) -> None:
    status, headers = error_status(path.name.removeprefix("v1_")), sidecar_headers(path)
    error = protocol.parse_error(HttpResponse(status, headers, path.read_bytes()))
    wanted = expected_error(path.name, status)
    assert type(error) is wanted, (path.name, type(error))
    assert error.status == status
    assert json.loads(path.read_bytes())["error"]["message"][:20] in error.message, path.name
    assert error.retryable is (wanted in (RateLimitError, ProviderUnavailableError))
    if "retry-after" in headers:
        assert error.retry_after == float(headers["retry-after"]), path.name
    if any(h.startswith("x-ratelimit-") for h in headers):
        assert error.rate_limit is not None, path.name
        assert error.rate_limit.limit_requests == int(headers["x-ratelimit-limit-requests"])
    if "x-request-id" in headers:
        assert error.request_id == headers["x-request-id"]


def replay_headers(protocol: OpenAIProtocol, path: Path) -> None:
    owner = sidecar_owner(path)
    assert owner.exists() and kind_of(owner) == "error", path.name


def replay_models(protocol: OpenAIProtocol, path: Path) -> None:
    data = json.loads(path.read_bytes())
    page = protocol.parse_models(HttpResponse(200, {}, path.read_bytes()))
    assert [m.id for m in page.models] == [m["id"] for m in data["data"]], path.name
    assert [m.owned_by for m in page.models] == [m["owned_by"] for m in data["data"]]
    assert all(m.provider == "openai" for m in page.models)


def replay_model(protocol: OpenAIProtocol, path: Path) -> None:
    data = json.loads(path.read_bytes())
    entry = structure_wire(data, ModelEntry, provider="openai")
    info = protocol.model_info(entry.id, created=entry.created, owned_by=entry.owned_by)
    assert (info.id, info.owned_by) == (data["id"], data["owned_by"]), path.name
    assert info.created is not None and info.created.timestamp() == data["created"]


def replay_not_chat(protocol: OpenAIProtocol, path: Path) -> None:
    data = json.loads(path.read_bytes())
    assert "messages" not in data and "choices" not in data, (path.name, NOT_CHAT[path.name])


REPLAYS: dict[str, Callable[[OpenAIProtocol, Path], None]] = {
    "request": replay_request, "response": replay_reply, "stream": replay_stream_file,
    "error": replay_error, "headers": replay_headers, "models": replay_models,
    "model": replay_model, "not_chat": replay_not_chat,
}


def replay_folder(protocol: OpenAIProtocol, folder: CaptureFolder, kind: str) -> None:
    for path in folder.files(kind):
        REPLAYS[kind](protocol, path)


def test_every_capture_has_a_replay(folder: CaptureFolder) -> None:
    folder.check_every_file_is_known()


@pytest.mark.parametrize("kind", list(REPLAYS))
def test_openai_captures(folder: CaptureFolder, protocol: OpenAIProtocol, kind: str) -> None:
    replay_folder(protocol, folder, kind)


def test_every_compatible_capture_has_a_replay(compatible: CaptureFolder) -> None:
    compatible.check_every_file_is_known()


@pytest.mark.parametrize("kind", list(REPLAYS))
def test_compatible_server_captures(compatible: CaptureFolder, protocol: OpenAIProtocol,
                                    kind: str) -> None:
    replay_folder(protocol, compatible, kind)
