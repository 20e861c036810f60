"""What the fake provider server answers, in each provider's wire format.

Every dialect reads a request body into a :class:`Turn` (model, last user text, tools, the last
tool result) and writes replies from one deterministic rule, so tests can predict them:

- the reply text is ``"echo: <last user message>"`` (or ``"tool said: <result>"`` after a tool
  result); tokens are counted as whitespace-separated words;
- when tools are offered (and ``tool_choice`` is not ``none``) and the last turn is the user's,
  the reply is one call of the first tool with arguments ``{"query": <user text>}``;
- a model whose name contains ``missing`` does not exist (404).

The shapes and framing follow the providers' real replies (OpenAI's dated model snapshots,
``usage: null`` chunks and pretty-printed JSON; Gemini's SSE or streamed JSON array; Ollama's
NDJSON); the bodies are our own.
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
    #: Gemini: stream as SSE (``?alt=sse``) rather than as one JSON array.
    sse: bool = True
    #: OpenAI: pad stream chunks with ``obfuscation`` (unless the request turned it off).
    obfuscation: bool = False
    #: The JSON schema the reply must match, when the request gave one (structured output:
    #: see :mod:`jtd_ai.testing.schema_reply`).
    schema: Any = None


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
    if isinstance(turn.schema, dict):
        from jtd_ai.testing.schema_reply import schema_reply

        text = schema_reply(turn.schema, turn.user_text if turn.tool_result is None else "",
                            text)
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


def _pretty(body: Any) -> bytes:
    """JSON as OpenAI and Google send a plain body: two-space indent, a final newline."""
    return (json.dumps(body, ensure_ascii=False, indent=2) + "\n").encode()


class Dialect:
    """One provider's wire format."""

    name = ""
    stream_content_type = "text/event-stream"
    content_type = "application/json"
    #: What replaces a stream's second event when a fault asks for a malformed one.
    broken_event = b'data: {"broken": \n\n'

    def turn(self, body: dict[str, Any], path: str, query: dict[str, str]) -> Turn:
        raise NotImplementedError

    def reply(self, turn: Turn, reply: Reply, seq: int) -> dict[str, Any]:
        raise NotImplementedError

    def stream(self, turn: Turn, reply: Reply, seq: int) -> Iterator[bytes]:
        raise NotImplementedError

    def error(self, status: int, message: str, *, kind: str = "") -> dict[str, Any]:
        raise NotImplementedError

    def dumps(self, body: Any) -> bytes:
        """A plain (not streamed) body as this provider lays it out."""
        return _pretty(body)

    def stream_type(self, turn: Turn) -> str:
        """The content type of a streamed reply to ``turn``."""
        return self.stream_content_type

    def stream_headers(self, turn: Turn) -> dict[str, str]:
        """Extra headers of a streamed reply to ``turn``."""
        return {}

    def stream_broken(self, turn: Turn) -> bytes:
        return self.broken_event


#: Aliases OpenAI resolves to a dated snapshot, named in the reply's ``model``.
OPENAI_SNAPSHOTS = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "gpt-5": "gpt-5-2025-08-07",
    "gpt-5-mini": "gpt-5-mini-2025-08-07",
    "gpt-5-nano": "gpt-5-nano-2025-08-07",
    "o3-mini": "o3-mini-2025-01-31",
    "o4-mini": "o4-mini-2025-04-16",
}


class OpenAIDialect(Dialect):
    """OpenAI Chat Completions (also xAI's and other compatible endpoints).

    A ``grok-*`` model is answered as xAI does: the model named as sent, and no
    ``service_tier``, ``usage: null`` or ``obfuscation`` in stream chunks.
    """

    name = "openai"
    stream_content_type = "text/event-stream; charset=utf-8"

    def turn(self, body: dict[str, Any], path: str, query: dict[str, str]) -> Turn:
        options = body.get("stream_options") or {}
        turn = _messages_turn(body, stream=bool(body.get("stream")),
                              include_usage=bool(options.get("include_usage")))
        turn.obfuscation = options.get("include_obfuscation", True) is not False
        response_format = body.get("response_format") or {}
        if response_format.get("type") == "json_schema":
            turn.schema = (response_format.get("json_schema") or {}).get("schema")
        return turn

    @staticmethod
    def is_xai(turn: Turn) -> bool:
        return turn.model.startswith("grok")

    def served_model(self, turn: Turn) -> str:
        """The model a reply names: OpenAI's dated snapshot of an alias."""
        return turn.model if self.is_xai(turn) else OPENAI_SNAPSHOTS.get(turn.model, turn.model)

    def _usage(self, reply: Reply) -> dict[str, Any]:
        return {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                              "accepted_prediction_tokens": 0,
                                              "rejected_prediction_tokens": 0}}

    def _call(self, reply: Reply, seq: int) -> dict[str, Any]:
        return {"id": f"call_fake_{seq}", "type": "function",
                "function": {"name": reply.tool_name, "arguments": json.dumps(reply.tool_args)}}

    def _chunk_head(self, turn: Turn, seq: int) -> dict[str, Any]:
        head: dict[str, Any] = {"id": f"chatcmpl-fake{seq}", "object": "chat.completion.chunk",
                                "created": int(time.time()), "model": self.served_model(turn)}
        if not self.is_xai(turn):
            head["service_tier"] = "default"
        head["system_fingerprint"] = "fp_fake"
        return head

    def reply(self, turn: Turn, reply: Reply, seq: int) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None,
                                   "refusal": None, "annotations": []}
        if reply.tool_name:
            message["tool_calls"] = [self._call(reply, seq)]
        body: dict[str, Any] = {
            "id": f"chatcmpl-fake{seq}", "object": "chat.completion", "created": int(time.time()),
            "model": self.served_model(turn),
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": "tool_calls" if reply.tool_name else "stop"}],
            "usage": self._usage(reply)}
        if not self.is_xai(turn):
            body["service_tier"] = "default"
        body["system_fingerprint"] = "fp_fake"
        return body

    def stream(self, turn: Turn, reply: Reply, seq: int) -> Iterator[bytes]:
        base = self._chunk_head(turn, seq)
        openai = not self.is_xai(turn)
        count = 0

        def event(choices: list[dict[str, Any]], usage: Any = None) -> bytes:
            nonlocal count
            count += 1
            chunk: dict[str, Any] = {**base, "choices": choices}
            if usage is not None or (turn.include_usage and openai):
                chunk["usage"] = usage  # OpenAI: null on every chunk but the last
            if turn.obfuscation and openai:
                chunk["obfuscation"] = "fake" + "x" * (count % 7)
            return f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n".encode()

        def choice(delta: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
            return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

        yield event(choice({"role": "assistant",
                            "content": None if reply.tool_name else "", "refusal": None}))
        for piece in reply.pieces():
            yield event(choice({"content": piece}))
        if reply.tool_name:
            call = self._call(reply, seq)
            args = call["function"]["arguments"]
            half = len(args) // 2
            yield event(choice({"tool_calls": [
                {"index": 0, "id": call["id"], "type": "function",
                 "function": {"name": reply.tool_name, "arguments": ""}}]}))
            for part in (args[:half], args[half:]):
                yield event(choice({"tool_calls": [{"index": 0,
                                                    "function": {"arguments": part}}]}))
        yield event(choice({}, "tool_calls" if reply.tool_name else "stop"))
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
    """Gemini's Generative Language API (``v1beta``): SSE streams with ``?alt=sse``, else one
    JSON array sent element by element."""

    name = "gemini"
    content_type = "application/json; charset=UTF-8"

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
        config = body.get("generationConfig") or {}
        return Turn(
            model=model,
            user_text="".join(p.get("text", "") for p in users[-1]["parts"]) if users else "",
            tool_result=json.dumps(responses[0].get("response")) if responses else None,
            tools=tools, tool_choice="none" if mode == "NONE" else None,
            stream=":streamGenerateContent" in path, include_usage=True,
            prompt_tokens=sum(_words(p.get("text", "")) for c in contents
                              for p in c.get("parts", [])),
            sse=query.get("alt") == "sse",
            schema=(config.get("responseJsonSchema") or config.get("responseSchema")),
        )

    def stream_type(self, turn: Turn) -> str:
        return "text/event-stream" if turn.sse else self.content_type

    def stream_headers(self, turn: Turn) -> dict[str, str]:
        return {"content-disposition": "attachment"} if turn.sse else {}

    def stream_broken(self, turn: Turn) -> bytes:
        return self.broken_event if turn.sse else b'\n,\r\n{"broken": '

    def _usage(self, reply: Reply) -> dict[str, Any]:
        return {"promptTokenCount": reply.prompt_tokens,
                "candidatesTokenCount": reply.completion_tokens,
                "totalTokenCount": reply.prompt_tokens + reply.completion_tokens,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": reply.prompt_tokens}]}

    def reply(self, turn: Turn, reply: Reply, seq: int) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [{"text": reply.text}] if reply.text else []
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"},
                                     "finishReason": "STOP", "index": 0}
        if reply.tool_name:
            parts.append({"functionCall": {"name": reply.tool_name, "args": reply.tool_args}})
            candidate["finishMessage"] = "Model generated function call(s)."
        return {"candidates": [candidate], "usageMetadata": self._usage(reply),
                "modelVersion": turn.model, "responseId": f"fake-{seq}"}

    def chunks(self, turn: Turn, reply: Reply, seq: int) -> Iterator[dict[str, Any]]:
        """The stream's objects: a text delta each, cumulative usage, the finish on the last."""
        pieces = reply.pieces() or [""]
        done = 0
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            done += _words(piece)
            parts: list[dict[str, Any]] = [{"text": piece}] if piece else []
            candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
            if last and reply.tool_name:
                parts.append({"functionCall": {"name": reply.tool_name, "args": reply.tool_args}})
                candidate["finishMessage"] = "Model generated function call(s)."
            if last:
                candidate["finishReason"] = "STOP"
            output = reply.completion_tokens if last else done
            usage = {"promptTokenCount": reply.prompt_tokens, "candidatesTokenCount": output,
                     "totalTokenCount": reply.prompt_tokens + output,
                     "promptTokensDetails": [{"modality": "TEXT",
                                              "tokenCount": reply.prompt_tokens}]}
            if not output:
                del usage["candidatesTokenCount"]
            yield {"candidates": [candidate], "usageMetadata": usage,
                   "modelVersion": turn.model, "responseId": f"fake-{seq}"}

    def stream(self, turn: Turn, reply: Reply, seq: int) -> Iterator[bytes]:
        if turn.sse:
            for chunk in self.chunks(turn, reply, seq):
                yield f"data: {json.dumps(chunk, separators=(',', ': '))}\r\n\r\n".encode()
            return
        # Without alt=sse: one pretty-printed JSON array, sent an element at a time.
        for i, chunk in enumerate(self.chunks(turn, reply, seq)):
            yield (b"[" if i == 0 else b"\n,\r\n") + json.dumps(chunk, indent=2).encode()
        yield b"\n]"

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
    """Ollama's native ``/api`` (NDJSON streams, on by default; compact JSON)."""

    name = "ollama"
    stream_content_type = "application/x-ndjson"
    content_type = "application/json; charset=utf-8"

    def turn(self, body: dict[str, Any], path: str, query: dict[str, str]) -> Turn:
        # Ollama streams unless told not to, and always reports its counts.
        turn = _messages_turn(body, stream=body.get("stream", True) is not False,
                              include_usage=True)
        if isinstance(body.get("format"), dict):
            turn.schema = body["format"]
        return turn

    def dumps(self, body: Any) -> bytes:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    def _line(self, body: dict[str, Any]) -> bytes:
        return self.dumps(body) + b"\n"

    def _calls(self, reply: Reply) -> list[dict[str, Any]]:
        return [{"function": {"name": reply.tool_name, "arguments": reply.tool_args}}]

    def _final(self, turn: Turn, reply: Reply, content: str, *,
               calls: bool) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if calls and reply.tool_name:
            message["tool_calls"] = self._calls(reply)
        return {"model": turn.model, "created_at": "2026-11-24T00:00:00Z", "message": message,
                "done_reason": "stop", "done": True, "total_duration": 1_000_000,
                "load_duration": 100_000, "prompt_eval_count": reply.prompt_tokens,
                "prompt_eval_duration": 200_000, "eval_count": reply.completion_tokens,
                "eval_duration": 700_000}

    def reply(self, turn: Turn, reply: Reply, seq: int) -> dict[str, Any]:
        return self._final(turn, reply, reply.text, calls=True)

    def stream(self, turn: Turn, reply: Reply, seq: int) -> Iterator[bytes]:
        def line(message: dict[str, Any]) -> bytes:
            return self._line({"model": turn.model, "created_at": "2026-11-24T00:00:00Z",
                               "message": {"role": "assistant", **message}, "done": False})

        for piece in reply.pieces():
            yield line({"content": piece})
        if reply.tool_name:  # whole calls on a done:false line, then the metrics line
            yield line({"content": "", "tool_calls": self._calls(reply)})
        yield self._line(self._final(turn, reply, "", calls=False))

    def error(self, status: int, message: str, *, kind: str = "") -> dict[str, Any]:
        return {"error": message}

    def _details(self) -> dict[str, Any]:
        return {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}

    def tags(self, names: list[str]) -> dict[str, Any]:
        return {"models": [
            {"name": n, "model": n, "modified_at": "2026-11-01T00:00:00Z", "size": 2_019_393_189,
             "digest": f"{i:064x}", "details": self._details()}
            for i, n in enumerate(names)]}

    def running(self, names: list[str]) -> dict[str, Any]:
        """``/api/ps``: ``names`` loaded, each with the ``num_ctx`` it runs with."""
        return {"models": [
            {"name": n, "model": n, "size": 3_487_607_808, "digest": f"{i:064x}",
             "details": self._details(), "expires_at": "2026-11-24T00:05:00Z",
             "size_vram": 3_487_607_808, "context_length": 4096}
            for i, n in enumerate(names)]}

    def show(self, name: str) -> dict[str, Any]:
        return {"details": {"format": "gguf", "family": "llama"},
                "model_info": {"general.architecture": "llama", "llama.context_length": 131_072},
                "capabilities": ["completion", "tools"], "modified_at": "2026-11-01T00:00:00Z"}


DIALECTS: dict[str, Dialect] = {
    "openai": OpenAIDialect(), "gemini": GeminiDialect(), "ollama": OllamaDialect(),
}
