"""Messages and replies as JSON-able dicts and back: how the reply cache
(:mod:`jtd_ai.cache`) and the conversation log (:mod:`jtd_ai.convlog`) keep them in the store.

Every field that travels to a provider or comes back from one is kept (tool calls and their
metadata, reasoning, provider metadata); what only describes one call (``raw``, the rate-limit
state, the price table) is not.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from jtd_ai.messages import ImagePart, Message, TextPart, ToolCall
from jtd_ai.responses import FinishReason, Response, TokenUsage

if TYPE_CHECKING:
    from jtd_ai.request import ChatRequest

__all__ = ["canonical", "message_data", "message_from_data", "request_options", "response_data",
           "response_from_data", "tool_calls_data", "tool_calls_from_data", "usage_data"]

_USAGE_FIELDS = ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens",
                 "cache_write_tokens", "billed_input_tokens", "billed_output_tokens")


def canonical(value: Any) -> Any:
    """Plain JSON data for ``value``: attrs classes by the fields that take part in their
    equality (a turn's provider metadata does not), enums by value, tuples as lists."""
    if attrs.has(type(value)):
        return {f.name: canonical(getattr(value, f.name))
                for f in attrs.fields(type(value)) if f.eq}
    if isinstance(value, enum.Enum):
        return canonical(value.value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return repr(value)


def request_options(request: ChatRequest) -> dict[str, Any]:
    """The options ``request`` sets (not its messages, nor its deadline), as plain data."""
    data = canonical(request)
    return {name: value for name, value in data.items()
            if name not in ("messages", "model", "timeout") and value not in (None, [], {})}


def tool_calls_data(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    return [{"id": c.id, "name": c.name, "arguments": c.arguments,
             **({"metadata": dict(c.metadata)} if c.metadata else {})} for c in calls]


def tool_calls_from_data(data: Sequence[Mapping[str, Any]]) -> tuple[ToolCall, ...]:
    return tuple(ToolCall(c["id"], c["name"], c.get("arguments", "{}"),
                          metadata=c.get("metadata", {})) for c in data)


def usage_data(usage: TokenUsage | None) -> dict[str, int | None] | None:
    if usage is None:
        return None
    return {name: getattr(usage, name) for name in _USAGE_FIELDS}


def _part_data(part: TextPart | ImagePart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"text": part.text}
    if part.url is not None:
        return {"url": part.url}
    return {"data": part.data, "media_type": part.media_type}


def message_data(message: Message) -> dict[str, Any]:
    """``message`` as a dict: role, text, and the rest only where present."""
    data: dict[str, Any] = {"role": message.role.value, "content": message.text}
    if any(isinstance(p, ImagePart) for p in message.parts):
        # ``content`` joins the text; with images, the parts are kept in their order too.
        data["parts"] = [_part_data(p) for p in message.parts]
    if message.tool_calls:
        data["tool_calls"] = tool_calls_data(message.tool_calls)
    for name in ("tool_call_id", "name", "reasoning"):
        value = getattr(message, name)
        if value is not None:
            data[name] = value
    if message.metadata:
        data["metadata"] = dict(message.metadata)
    return data


def message_from_data(data: Mapping[str, Any]) -> Message:
    """The Message that :func:`message_data` made ``data`` from."""
    parts: list[TextPart | ImagePart] = []
    if "parts" in data:
        for part in data["parts"]:
            parts.append(TextPart(part["text"]) if "text" in part else ImagePart(
                url=part.get("url"), data=part.get("data"), media_type=part.get("media_type")))
    elif data.get("content"):
        parts.append(TextPart(data["content"]))
    return Message(data["role"], tuple(parts),
                   tool_calls_from_data(data.get("tool_calls", ())),
                   tool_call_id=data.get("tool_call_id"), name=data.get("name"),
                   reasoning=data.get("reasoning"), metadata=data.get("metadata", {}))


def response_data(response: Response) -> dict[str, Any]:
    """``response`` as a dict (its cost as exact text)."""
    return {
        "content": response.content, "model": response.model, "provider": response.provider,
        "finish_reason": (response.finish_reason.value
                          if response.finish_reason is not None else None),
        "usage": usage_data(response.usage),
        "tool_calls": tool_calls_data(response.tool_calls),
        "request_id": response.request_id, "refusal": response.refusal,
        "reasoning": response.reasoning,
        "cost": str(response.cost) if response.cost is not None else None,
        "metadata": dict(response.metadata),
    }


def response_from_data(data: Mapping[str, Any]) -> Response:
    """The Response that :func:`response_data` made ``data`` from."""
    usage = data.get("usage")
    reason = data.get("finish_reason")
    cost = data.get("cost")
    return Response(
        data["content"], data["model"], data["provider"],
        finish_reason=FinishReason(reason) if reason is not None else None,
        usage=TokenUsage(**usage) if usage is not None else None,
        tool_calls=tool_calls_from_data(data.get("tool_calls", ())),
        request_id=data.get("request_id"), refusal=data.get("refusal"),
        reasoning=data.get("reasoning"), cost=Decimal(cost) if cost is not None else None,
        metadata=data.get("metadata", {}),
    )
