"""Our ChatRequest as an Ollama ``/api/chat`` body.

Messages keep their roles; content is a string and images a list of bare base64 strings
(Ollama needs the bytes: a URL image is refused before sending). Sampling options go in
``options`` (``max_tokens`` is ``num_predict``); ``response_format`` becomes ``format``
(``"json"`` or the JSON schema). Provider defaults (``options``, ``num_ctx``, ``keep_alive``,
``think``) come first, the request's own values over them, and ``request.extra`` last,
merged deeply (``extra={"options": {"top_k": 20}}`` adds one option).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from jtd_ai.errors import ValidationError
from jtd_ai.messages import ImagePart, Message, Role, ToolCall
from jtd_ai.request import ChatRequest
from jtd_ai_ollama.callids import sendable_id

__all__ = ["chat_body", "deep_merge"]

_RESERVED = {"model": "pass model=...", "messages": "pass the messages as the prompt",
             "stream": "call stream() / astream() to stream"}


def chat_body(request: ChatRequest, *, stream: bool,
              defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON body of ``POST /api/chat``. ``defaults`` holds the provider's option values:
    ``options`` (a mapping), ``num_ctx``, ``keep_alive`` and ``think``."""
    defaults = defaults or {}
    for key, hint in _RESERVED.items():
        if key in request.extra:
            raise ValidationError(f"extra={{{key!r}: ...}} is not allowed: {hint}",
                                  field=f"extra.{key}")
    body: dict[str, Any] = {
        "model": request.model,
        "messages": _messages(request.messages),
        "stream": stream,
    }
    options = deep_merge(defaults.get("options") or {}, _options(request))
    if defaults.get("num_ctx") is not None:
        options.setdefault("num_ctx", defaults["num_ctx"])
    if options:
        body["options"] = options
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        body["format"] = dict(fmt.schema) if fmt.type == "json_schema" and fmt.schema else "json"
    tools = _tools(request)
    if tools:
        body["tools"] = tools
    for key in ("keep_alive", "think"):
        if defaults.get(key) is not None:
            body[key] = defaults[key]
    return deep_merge(body, request.extra)


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` laid over it; nested mappings merge, anything else replaces."""
    merged = dict(base)
    for key, value in extra.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def _messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for i, message in enumerate(messages):
        item: dict[str, Any] = {"role": str(message.role), "content": message.text}
        if message.role is Role.USER and message.images:
            item["images"] = [_image(image, i) for image in message.images]
        elif message.role is Role.ASSISTANT and message.tool_calls:
            item["tool_calls"] = [_call(call, i, names) for call in message.tool_calls]
        elif message.role is Role.TOOL:
            name = message.name or names.get(message.tool_call_id or "")
            if name:
                item["tool_name"] = name
            call_id = sendable_id(message.tool_call_id)
            if call_id:
                item["tool_call_id"] = call_id
        out.append(item)
    return out


def _image(image: ImagePart, index: int) -> str:
    if image.data is not None:
        return image.data
    url = image.url or ""
    header, sep, data = url.partition(",")
    if url.startswith("data:") and sep and header.endswith(";base64"):
        return data
    raise ValidationError(
        f"messages[{index}] has an image given by URL ({url[:60]!r}); Ollama takes image "
        f"bytes only: use ImagePart.from_bytes(raw, 'image/png') or ImagePart(data=<base64>, "
        f"media_type=...)", field="messages",
    )


def _call(call: ToolCall, index: int, names: dict[str, str]) -> dict[str, Any]:
    names[call.id] = call.name
    try:
        arguments = json.loads(call.arguments or "{}")
    except (json.JSONDecodeError, RecursionError):
        arguments = None
    if not isinstance(arguments, dict):
        raise ValidationError(
            f"messages[{index}]: tool call {call.name!r} has arguments that are not a JSON "
            f"object; Ollama needs an object", field="messages",
        )
    item: dict[str, Any] = {"function": {"name": call.name, "arguments": arguments}}
    call_id = sendable_id(call.id)
    if call_id:
        item["id"] = call_id
    return item


def _options(request: ChatRequest) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if request.top_p is not None:
        options["top_p"] = request.top_p
    if request.seed is not None:
        options["seed"] = request.seed
    if request.stop:
        options["stop"] = list(request.stop)
    if request.max_tokens is not None:
        options["num_predict"] = request.max_tokens
    return options


def _tools(request: ChatRequest) -> list[dict[str, Any]]:
    choice = request.tool_choice
    if not request.tools or choice == "none":
        return []
    if choice not in (None, "auto"):
        raise ValidationError(
            f"ollama cannot force a tool call (tool_choice={choice!r}); use 'auto' or 'none', "
            f"or say in the prompt which tool to use", field="tool_choice",
        )
    tools = []
    for tool in request.tools:
        function: dict[str, Any] = {"name": tool.name}
        if tool.description:
            function["description"] = tool.description
        function["parameters"] = dict(tool.parameters)
        tools.append({"type": "function", "function": function})
    return tools
