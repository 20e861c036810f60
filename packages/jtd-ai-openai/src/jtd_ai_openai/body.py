"""Our messages, tools and formats in Chat Completions request JSON.

Shapes (OpenAI's ``CreateChatCompletionRequest``): text-only content is a plain string;
content with images is a list of ``text`` / ``image_url`` parts; an assistant turn that
called tools carries ``tool_calls`` (and ``content`` only if it also said something); a
tool result is ``{"role": "tool", "content", "tool_call_id"}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jtd_ai.errors import ValidationError
from jtd_ai.messages import ImagePart, Message, Role, TextPart, Tool
from jtd_ai.request import ResponseFormat
from jtd_ai_openai.strict import strict_problem

__all__ = ["wire_message", "wire_response_format", "wire_tool_choice", "wire_tools"]


def _parts(message: Message) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            parts.append({"type": "text", "text": part.text})
        elif isinstance(part, ImagePart):
            parts.append({"type": "image_url", "image_url": {"url": part.as_data_url()}})
    return parts


def wire_message(message: Message, *, index: int, system_role: str = "system") -> dict[str, Any]:
    """One message as Chat Completions JSON; ``index`` names it in validation errors."""
    role = message.role
    if message.images and role is not Role.USER:
        raise ValidationError(
            f"messages[{index}]: only user messages can carry images in Chat Completions, "
            f"not {role} messages", field="messages",
        )
    if role is Role.USER:
        content: Any = _parts(message) if message.images else message.text
        return {"role": "user", "content": content}
    if role is Role.SYSTEM:
        return {"role": system_role, "content": message.text}
    if role is Role.TOOL:
        return {"role": "tool", "content": message.text, "tool_call_id": message.tool_call_id}
    wire: dict[str, Any] = {"role": "assistant"}
    if message.text or not message.tool_calls:
        wire["content"] = message.text
    if message.tool_calls:
        wire["tool_calls"] = [
            {"id": call.id, "type": "function",
             "function": {"name": call.name, "arguments": call.arguments}}
            for call in message.tool_calls
        ]
    return wire


def wire_tools(tools: Iterable[Tool]) -> list[dict[str, Any]]:
    """Function tools; ``description`` is left out when empty."""
    result = []
    for tool in tools:
        function: dict[str, Any] = {"name": tool.name, "parameters": dict(tool.parameters)}
        if tool.description:
            function["description"] = tool.description
        result.append({"type": "function", "function": function})
    return result


def wire_tool_choice(choice: str | None) -> str | dict[str, Any] | None:
    """``auto`` / ``none`` / ``required`` as given; a tool name as a forced function call."""
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def wire_response_format(fmt: ResponseFormat | None) -> dict[str, Any] | None:
    """``{"type": "json_object"}``, or a ``json_schema`` with its name, schema and strictness:
    ``strict`` is true only when asked for and the schema meets strict mode's rules (see
    :mod:`jtd_ai_openai.strict`); a schema that does not is sent with ``strict: false``,
    which OpenAI takes as guidance rather than refusing the request."""
    if fmt is None:
        return None
    if fmt.type == "json_schema":
        schema = dict(fmt.schema or {})
        return {"type": "json_schema",
                "json_schema": {"name": fmt.name, "schema": schema,
                                "strict": fmt.strict and strict_problem(schema) is None}}
    return {"type": fmt.type}
