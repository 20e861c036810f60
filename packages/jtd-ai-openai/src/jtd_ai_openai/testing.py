"""Chat Completions wire bodies for tests, written from OpenAI's documented formats.

For this driver's tests and for authors of OpenAI-compatible drivers: build a reply, a
stream or an error body, serve it from an ``httpx.MockTransport``, and check what the
driver makes of it; or replay recorded traffic (:func:`request_from_body`,
:func:`replay_stream`). Only documented fields are produced; pass ``**message`` for others.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from jtd_ai.messages import ImagePart, Message, TextPart, Tool, ToolCall
from jtd_ai.protocol import ChatProtocol
from jtd_ai.request import ChatRequest, ResponseFormat
from jtd_ai.responses import Response

__all__ = ["chunk", "completion", "error_body", "replay_stream", "request_from_body", "sse",
           "tool_call", "usage"]


def usage(prompt: int, completion: int, *, cached: int = 0, reasoning: int = 0,
          total: int | None = None) -> dict[str, Any]:
    """A ``usage`` object; ``total`` defaults to OpenAI's prompt + completion."""
    return {
        "prompt_tokens": prompt, "completion_tokens": completion,
        "total_tokens": prompt + completion if total is None else total,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
    }


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """One entry of a reply message's ``tool_calls``."""
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": arguments}}


def completion(content: str | None = "", *, model: str = "gpt-4o-mini-2024-07-18",
               finish_reason: str | None = "stop",
               tool_calls: Iterable[Mapping[str, Any]] = (), refusal: str | None = None,
               usage: Mapping[str, Any] | None = None, **message: Any) -> dict[str, Any]:
    """A non-streamed ``chat.completion`` body with one choice."""
    body_message: dict[str, Any] = {"role": "assistant", "content": content,
                                    "refusal": refusal, **message}
    calls = list(tool_calls)
    if calls:
        body_message["tool_calls"] = calls
    body: dict[str, Any] = {
        "id": "chatcmpl-test", "object": "chat.completion", "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": body_message, "logprobs": None,
                     "finish_reason": finish_reason}],
    }
    if usage is not None:
        body["usage"] = dict(usage)
    return body


def chunk(delta: Mapping[str, Any] | None = None, *, model: str = "gpt-4o-mini-2024-07-18",
          finish_reason: str | None = None, usage: Mapping[str, Any] | None = None,
          choices: bool = True) -> dict[str, Any]:
    """One ``chat.completion.chunk``; ``choices=False`` makes the final usage-only chunk."""
    body: dict[str, Any] = {"id": "chatcmpl-test", "object": "chat.completion.chunk",
                            "created": 1_700_000_000, "model": model, "choices": []}
    if choices:
        body["choices"] = [{"index": 0, "delta": dict(delta or {}), "logprobs": None,
                            "finish_reason": finish_reason}]
    body["usage"] = dict(usage) if usage is not None else None
    return body


def sse(*events: Mapping[str, Any] | str, done: bool = True) -> bytes:
    """An event-stream body: each event as ``data: <json>``, then ``data: [DONE]``."""
    lines = [e if isinstance(e, str) else json.dumps(e) for e in events]
    if done:
        lines.append("[DONE]")
    return "".join(f"data: {line}\n\n" for line in lines).encode()


def error_body(message: str, *, type: str = "invalid_request_error",
               code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error envelope."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def request_from_body(body: Mapping[str, Any]) -> tuple[ChatRequest, bool]:
    """The ChatRequest (and stream flag) that a recorded request body asked for.

    The inverse of ``OpenAIProtocol.chat_request``, for replaying captures: fields our
    ChatRequest has become its options; every other field goes to ``extra``. A function
    tool's ``strict`` flag has no place in our Tool and is dropped."""
    fields = dict(body)
    stream = bool(fields.pop("stream", False))
    if fields.get("stream_options") == {"include_usage": True} and stream:
        del fields["stream_options"]
    options: dict[str, Any] = {}
    for key in ("temperature", "top_p", "seed"):
        if key in fields:
            options[key] = fields.pop(key)
    for key in ("max_tokens", "max_completion_tokens"):
        if key in fields and "max_tokens" not in options:
            options["max_tokens"] = fields.pop(key)
    if "stop" in fields:
        options["stop"] = fields.pop("stop")
    if "tools" in fields:
        options["tools"] = [
            Tool(t["function"]["name"], t["function"].get("description", ""),
                 t["function"].get("parameters", {"type": "object", "properties": {}}))
            for t in fields.pop("tools")
        ]
    if "tool_choice" in fields:
        choice = fields.pop("tool_choice")
        options["tool_choice"] = choice if isinstance(choice, str) else choice["function"]["name"]
    if "response_format" in fields:
        options["response_format"] = _format_from_body(fields.pop("response_format"))
    messages = [_message_from_body(m) for m in fields.pop("messages")]
    model = fields.pop("model")
    return ChatRequest.build(messages, model, extra=fields, **options), stream


def _format_from_body(value: Mapping[str, Any]) -> ResponseFormat:
    if value["type"] == "json_schema":
        spec = value["json_schema"]
        return ResponseFormat.json_schema(spec.get("schema", {}), name=spec["name"],
                                          strict=bool(spec.get("strict", False)))
    return ResponseFormat(value["type"])


def _message_from_body(message: Mapping[str, Any]) -> Message:
    role: str = message["role"]
    content: Any = message.get("content")
    if role in ("system", "developer"):
        return Message.system(content)
    if role == "tool":
        return Message.tool(content, call_id=message["tool_call_id"])
    if role == "assistant":
        calls = [ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"])
                 for c in message.get("tool_calls") or ()]
        return Message.assistant(content or "", tool_calls=calls)
    if isinstance(content, str):
        return Message.user(content)
    parts: list[TextPart | ImagePart] = []
    for part in content:
        if part["type"] == "text":
            parts.append(TextPart(part["text"]))
        else:
            parts.append(_image(part["image_url"]["url"]))
    return Message(role, parts)


def _image(url: str) -> ImagePart:
    if url.startswith("data:") and ";base64," in url:
        head, data = url.split(",", 1)
        return ImagePart(data=data, media_type=head[5:].split(";", 1)[0])
    return ImagePart(url=url)


def replay_stream(protocol: ChatProtocol, body: str | bytes, request: ChatRequest) -> Response:
    """Run a recorded event-stream body through ``protocol``'s decoder, as the core does,
    and return the assembled Response (decoder errors propagate)."""
    from jtd_ai.framing import SSEFramer
    from jtd_ai.streaming import StreamAccumulator

    text = body.decode("utf-8") if isinstance(body, bytes) else body
    framer, decoder = SSEFramer(), protocol.stream_decoder(request)
    accumulator = StreamAccumulator(protocol.provider, request.model)
    for line in re.split(r"\r\n|\r|\n", text):
        event = framer.feed_line(line)
        for chunk in decoder.feed(event) if event is not None else ():
            accumulator.add(chunk)
    for chunk in decoder.end():
        accumulator.add(chunk)
    return accumulator.response()
