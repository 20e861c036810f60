"""What the fake provider server answers, in each provider's wire format.

Every dialect reads a request body into a :class:`Turn` (model, last user text, tools, the last
tool result) and writes replies from one deterministic rule, so tests can predict them:

- the reply text is ``"echo: <last user message>"`` (or ``"tool said: <result>"`` after a tool
  result); tokens are counted as whitespace-separated words;
- when tools are offered (and ``tool_choice`` is not ``none``) and the last turn is the user's,
  the reply is one call of the first tool with arguments ``{"query": <user text>}``;
- a model whose name contains ``missing`` does not exist (404).

The formats follow the providers' public API references; the bodies are our own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from attrs import define, field

__all__ = ["DIALECTS", "Dialect", "Reply", "Turn"]


@define
class Turn:
    model: str
    user_text: str = ""
    tool_result: str | None = None
    tools: list[str] = field(factory=list)
    tool_choice: Any = None
    stream: bool = False
    include_usage: bool = False
    prompt_tokens: int = 0


@define
class Reply:
    text: str
    tool_name: str | None
    tool_args: dict[str, Any]
    prompt_tokens: int
    completion_tokens: int

    def pieces(self) -> list[str]:
        """The text as stream deltas: one word at a time, spaces kept."""
        words = self.text.split(" ")
        return [(" " if i else "") + w for i, w in enumerate(words)] if self.text else []


def _words(text: str) -> int:
    return len(text.split())


def plan(turn: Turn) -> Reply:
    """The one deterministic reply rule shared by every dialect."""
    if turn.tools and turn.tool_choice != "none" and turn.tool_result is None:
        args = {"query": turn.user_text}
        return Reply("", turn.tools[0], args, turn.prompt_tokens, 1 + _words(turn.user_text))
    text = (f"tool said: {turn.tool_result}" if turn.tool_result is not None
            else f"echo: {turn.user_text}")
    return Reply(text, None, {}, turn.prompt_tokens, _words(text))


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _messages_turn(body: dict[str, Any], *, stream: bool, include_usage: bool) -> Turn:
    """A Turn from a ``messages`` list (OpenAI's and Ollama's shape; content is text or,
    for OpenAI, a list of parts)."""
    messages = body.get("messages") or []
    users = [m for m in messages if m.get("role") == "user"]
    last = messages[-1] if messages else {}
    tools = [t["function"]["name"] for t in body.get("tools") or [] if "function" in t]
    return Turn(
        model=body.get("model", ""),
        user_text=_text_of(users[-1].get("content")) if users else "",
        tool_result=_text_of(last.get("content")) if last.get("role") == "tool" else None,
        tools=tools, tool_choice=body.get("tool_choice"), stream=stream,
        include_usage=include_usage,
        prompt_tokens=sum(_words(_text_of(m.get("content"))) for m in messages),
    )


class Dialect:
    """One provider's wire format."""

    name = ""

    def turn(self, body: dict[str, Any], path: str, query: dict[str, str]) -> Turn:
        raise NotImplementedError

    def reply(self, turn: Turn, reply: Reply, seq: int) -> dict[str, Any]:
        raise NotImplementedError

    def stream(self, turn: Turn, reply: Reply, seq: int) -> Iterator[bytes]:
        raise NotImplementedError

    def error(self, status: int, message: str, *, kind: str = "") -> dict[str, Any]:
        raise NotImplementedError

    stream_content_type = "text/event-stream"


class OpenAIDialect(Dialect):
    """OpenAI Chat Completions (also xAI's and other compatible endpoints)."""

    name = "openai"

    def turn(self, body: dict[str, Any], path: str, query: dict[str, str]) -> Turn:
        return _messages_turn(
            body, stream=bool(body.get("stream")),
            include_usage=bool((body.get("stream_options") or {}).get("include_usage")))

    def _usage(self, reply: Reply) -> dict[str, Any]:
        return {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0}}

    def _call(self, reply: Reply, seq: int) -> dict[str, Any]:
        return {"id": f"call_fake_{seq}", "type": "function",
                "function": {"name": reply.tool_name, "arguments": json.dumps(reply.tool_args)}}

    def reply(self, turn: Turn, reply: Reply, seq: int) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None,
                                   "refusal": None}
        if reply.tool_name:
            message["tool_calls"] = [self._call(reply, seq)]
        return {
            "id": f"chatcmpl-fake{seq}", "object": "chat.completion", "created": int(time.time()),
            "model": turn.model, "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": "tool_calls" if reply.tool_name else "stop"}],
            "usage": self._usage(reply),
        }

    def stream(self, turn: Turn, reply: Reply, seq: int) -> Iterator[bytes]:
        base = {"id": f"chatcmpl-fake{seq}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": turn.model, "system_fingerprint": "fp_fake"}

        def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
            return f"data: {json.dumps({**base, 'choices': choices, **extra})}\n\n".encode()

        yield event([{"index": 0, "delta": {"role": "assistant", "content": ""},
                      "finish_reason": None}])
        for piece in reply.pieces():
            yield event([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
        if reply.tool_name:
            call = self._call(reply, seq)
            args = call["function"]["arguments"]
            half = len(args) // 2
            yield event([{"index": 0, "finish_reason": None, "delta": {"tool_calls": [
                {"index": 0, "id": call["id"], "type": "function",
                 "function": {"name": reply.tool_name, "arguments": args[:half]}}]}}])
            yield event([{"index": 0, "finish_reason": None, "delta": {"tool_calls": [
                {"index": 0, "function": {"arguments": args[half:]}}]}}])
        yield event([{"index": 0, "delta": {},
                      "finish_reason": "tool_calls" if reply.tool_name else "stop"}])
        if turn.include_usage:
            yield event([], usage=self._usage(reply))
        yield b"data: [DONE]\n\n"

    def error(self, status: int, message: str, *, kind: str = "") -> dict[str, Any]:
        codes = {401: "invalid_api_key", 404: "model_not_found", 429: kind or "rate_limit_exceeded"}
        types = {401: "invalid_request_error", 404: "invalid_request_error",
                 429: "insufficient_quota" if kind == "insufficient_quota" else "requests"}
        return {"error": {"message": message, "type": types.get(status, "server_error"),
                          "param": None, "code": codes.get(status)}}

    def models(self, names: list[str]) -> dict[str, Any]:
        return {"object": "list", "data": [
            {"id": n, "object": "model", "created": 1_700_000_000, "owned_by": "fake"}
            for n in names]}


class GeminiDialect(Dialect):
    """Gemini's Generative Language API (``v1beta``)."""

    name = "gemini"

    def turn(self, body: dict[str, Any], path: str, query: dict[str, str]) -> Turn:
        contents = body.get("contents") or []
        users = [c for c in contents if c.get("role", "user") == "user"
                 and any("text" in p for p in c.get("parts", []))]
        last_parts = contents[-1].get("parts", []) if contents else []
        responses = [p["functionResponse"] for p in last_parts if "functionResponse" in p]
        tools = [d["name"] for t in body.get("tools") or []
                 for d in t.get("functionDeclarations", [])]
        mode = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")
        model = path.split("/models/", 1)[-1].split(":", 1)[0]
        return Turn(
            model=model,
            user_text="".join(p.get("text", "") for p in users[-1]["parts"]) if users else "",
            tool_result=json.dumps(responses[0].get("response")) if responses else None,
            tools=tools, tool_choice="none" if mode == "NONE" else None,
            stream=":streamGenerateContent" in path, include_usage=True,
            prompt_tokens=sum(_words(p.get("text", "")) for c in contents
                              for p in c.get("parts", [])),
        )

    def _usage(self, reply: Reply) -> dict[str, Any]:
        return {"promptTokenCount": reply.prompt_tokens,
                "candidatesTokenCount": reply.completion_tokens,
                "totalTokenCount": reply.prompt_tokens + reply.completion_tokens}

    def reply(self, turn: Turn, reply: Reply, seq: int) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [{"text": reply.text}] if reply.text else []
        if reply.tool_name:
            parts.append({"functionCall": {"name": reply.tool_name, "args": reply.tool_args}})
        return {"candidates": [{"content": {"parts": parts, "role": "model"},
                                "finishReason": "STOP", "index": 0}],
                "usageMetadata": self._usage(reply), "modelVersion": turn.model,
                "responseId": f"fake-{seq}"}

    def stream(self, turn: Turn, reply: Reply, seq: int) -> Iterator[bytes]:
        pieces = reply.pieces() or [""]
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            parts: list[dict[str, Any]] = [{"text": piece}] if piece else []
            if last and reply.tool_name:
                parts.append({"functionCall": {"name": reply.tool_name, "args": reply.tool_args}})
            candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
            if last:
                candidate["finishReason"] = "STOP"
            usage = self._usage(reply) if last else {"promptTokenCount": reply.prompt_tokens,
                                                     "totalTokenCount": reply.prompt_tokens}
            body = {"candidates": [candidate], "usageMetadata": usage,
                    "modelVersion": turn.model, "responseId": f"fake-{seq}"}
            yield f"data: {json.dumps(body)}\r\n\r\n".encode()

    def error(self, status: int, message: str, *, kind: str = "") -> dict[str, Any]:
        statuses = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                    429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
        details: list[dict[str, Any]] = []
        if kind == "API_KEY_INVALID":
            details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "API_KEY_INVALID", "domain": "googleapis.com"})
        if status == 429 and kind == "insufficient_quota":
            # A daily quota used up: waiting seconds will not clear it.
            details.append({"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                            "violations": [{
                                "quotaMetric": "generativelanguage.googleapis.com/"
                                               "generate_content_free_tier_requests",
                                "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]})
        elif status == 429 and kind:
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo",
                            "retryDelay": kind})
        return {"error": {"code": status, "message": message,
                          "status": statuses.get(status, "UNKNOWN"), "details": details}}

    def models(self, names: list[str], page: int, size: int) -> dict[str, Any]:
        chunk = names[page * size:(page + 1) * size]
        body: dict[str, Any] = {"models": [
            {"name": f"models/{n}", "version": "001", "displayName": n,
             "inputTokenLimit": 1_048_576, "outputTokenLimit": 65_536,
             "supportedGenerationMethods": (["embedContent"] if "embedding" in n
                                            else ["generateContent", "countTokens"])}
            for n in chunk]}
        if (page + 1) * size < len(names):
            body["nextPageToken"] = f"page-{page + 1}"
        return body


class OllamaDialect(Dialect):
    """Ollama's native ``/api`` (NDJSON streams, on by default)."""

    name = "ollama"
    stream_content_type = "application/x-ndjson"

    def turn(self, body: dict[str, Any], path: str, query: dict[str, str]) -> Turn:
        # Ollama streams unless told not to, and always reports its counts.
        return _messages_turn(body, stream=body.get("stream", True) is not False,
                              include_usage=True)

    def _final(self, turn: Turn, reply: Reply, content: str) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if reply.tool_name:
            message["tool_calls"] = [{"function": {"name": reply.tool_name,
                                                   "arguments": reply.tool_args}}]
        return {"model": turn.model, "created_at": "2026-11-24T00:00:00Z", "message": message,
                "done_reason": "stop", "done": True, "total_duration": 1_000_000,
                "load_duration": 100_000, "prompt_eval_count": reply.prompt_tokens,
                "prompt_eval_duration": 200_000, "eval_count": reply.completion_tokens,
                "eval_duration": 700_000}

    def reply(self, turn: Turn, reply: Reply, seq: int) -> dict[str, Any]:
        return self._final(turn, reply, reply.text)

    def stream(self, turn: Turn, reply: Reply, seq: int) -> Iterator[bytes]:
        for piece in reply.pieces():
            line = {"model": turn.model, "created_at": "2026-11-24T00:00:00Z",
                    "message": {"role": "assistant", "content": piece}, "done": False}
            yield (json.dumps(line) + "\n").encode()
        yield (json.dumps(self._final(turn, reply, "")) + "\n").encode()

    def error(self, status: int, message: str, *, kind: str = "") -> dict[str, Any]:
        return {"error": message}

    def tags(self, names: list[str]) -> dict[str, Any]:
        return {"models": [
            {"name": n, "model": n, "modified_at": "2026-11-01T00:00:00Z", "size": 2_019_393_189,
             "digest": f"{i:064x}", "details": {"format": "gguf", "family": "llama",
                                                 "parameter_size": "3.2B",
                                                 "quantization_level": "Q4_K_M"}}
            for i, n in enumerate(names)]}

    def show(self, name: str) -> dict[str, Any]:
        return {"details": {"format": "gguf", "family": "llama"},
                "model_info": {"general.architecture": "llama", "llama.context_length": 131_072},
                "capabilities": ["completion", "tools"], "modified_at": "2026-11-01T00:00:00Z"}


DIALECTS: dict[str, Dialect] = {
    "openai": OpenAIDialect(), "gemini": GeminiDialect(), "ollama": OllamaDialect(),
}
