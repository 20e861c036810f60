"""Prompts, replies and tool definitions in the GenAI conventions' message schemas, as the
JSON text recorded on a span (``record_content = true`` only: they may hold personal data).

The shapes are the conventions' input and output message schemas: a message is
``{"role", "parts": [...]}``, a part ``{"type": "text", "content"}``, ``tool_call``,
``tool_call_response``, ``reasoning``, ``uri`` or ``blob`` (an image), and each output
message carries its ``finish_reason``. Python's OpenTelemetry spans take no nested
attribute values yet, so the conventions ask for a JSON string there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from jtd_ai.messages import ImagePart, Message, Tool, ToolCall
from jtd_ai.responses import FinishReason, Response

__all__ = ["input_messages", "output_messages", "tool_definitions"]

#: Our finish reasons in the output schema's words where they differ.
_FINISH: dict[str, str] = {FinishReason.TOOL_CALLS.value: "tool_call"}


def input_messages(messages: Iterable[Message]) -> str:
    """``gen_ai.input.messages``: the messages sent, in order, system ones included (they are
    part of jtd-ai's chat history)."""
    return _dumps([_message(message) for message in messages])


def output_messages(response: Response) -> str:
    """``gen_ai.output.messages``: the reply as one assistant message (jtd-ai asks for one
    choice)."""
    parts: list[dict[str, Any]] = []
    if response.reasoning:
        parts.append({"type": "reasoning", "content": response.reasoning})
    if response.content:
        parts.append({"type": "text", "content": response.content})
    if response.refusal:
        parts.append({"type": "refusal", "content": response.refusal})
    parts.extend(_tool_call(call) for call in response.tool_calls)
    reason = response.finish_reason
    finish = "error" if reason is None else _FINISH.get(reason.value, reason.value)
    return _dumps([{"role": "assistant", "parts": parts, "finish_reason": finish}])


def tool_definitions(tools: Iterable[Tool]) -> str:
    """``gen_ai.tool.definitions``: the functions offered to the model."""
    return _dumps([{"type": "function", "name": tool.name, "description": tool.description,
                    "parameters": dict(tool.parameters)} for tool in tools])


def _message(message: Message) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if message.reasoning:
        parts.append({"type": "reasoning", "content": message.reasoning})
    for part in message.parts:
        if isinstance(part, ImagePart):
            parts.append(_image(part))
        elif message.role == "tool":
            parts.append({"type": "tool_call_response", "id": message.tool_call_id,
                          "response": part.text})
        else:
            parts.append({"type": "text", "content": part.text})
    parts.extend(_tool_call(call) for call in message.tool_calls)
    shaped: dict[str, Any] = {"role": message.role.value, "parts": parts}
    if message.name:
        shaped["name"] = message.name
    return shaped


def _image(part: ImagePart) -> dict[str, Any]:
    if part.data is not None:
        return {"type": "blob", "modality": "image", "mime_type": part.media_type,
                "content": part.data}
    url = part.url or ""
    if url.startswith("data:"):  # a data URL is inline content: the schema's blob part
        head, _, data = url.partition(",")
        mime = head.removeprefix("data:").split(";", 1)[0] or None
        return {"type": "blob", "modality": "image", "mime_type": mime, "content": data}
    return {"type": "uri", "modality": "image", "uri": url}


def _tool_call(call: ToolCall) -> dict[str, Any]:
    """A requested call; its arguments decoded where they are JSON, as the schema asks,
    else kept as the text the model produced."""
    try:
        arguments: Any = json.loads(call.arguments) if call.arguments else {}
    except ValueError:
        arguments = call.arguments
    return {"type": "tool_call", "id": call.id, "name": call.name, "arguments": arguments}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
