"""Our ChatRequest as a Gemini ``GenerateContentRequest`` body.

System messages become ``systemInstruction``; user turns ``role: "user"``; assistant turns
``role: "model"`` with their function calls; tool results ``functionResponse`` parts in a
user turn (consecutive results share one turn, as Gemini expects for parallel calls).
Gemini matches results to calls by function name, so a tool message's name comes from the
message or from the assistant call it answers. ``request.extra`` is merged in last, deeply,
so ``extra={"generationConfig": {"topK": 40}}`` adds to what is built here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from jtd_ai.errors import ValidationError
from jtd_ai.messages import ImagePart, Message, Role, TextPart, Tool, ToolCall
from jtd_ai.request import ChatRequest
from jtd_ai_gemini.callids import SIGNATURE, split_call_id
from jtd_ai_gemini.schema import fits_openapi_subset, unsupported_keyword

__all__ = ["chat_body", "deep_merge"]

_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}


def chat_body(request: ChatRequest, *, generation_defaults: Mapping[str, Any] | None = None,
              safety_settings: Any = None) -> dict[str, Any]:
    """The JSON body of ``generateContent`` / ``streamGenerateContent`` for ``request``."""
    if "contents" in request.extra:
        raise ValidationError("extra={'contents': ...} is not allowed: pass the messages as "
                              "the prompt", field="extra.contents")
    system, contents = _contents(request.messages)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    generation = deep_merge(generation_defaults or {}, _generation_config(request))
    if generation:
        body["generationConfig"] = generation
    if safety_settings:
        body["safetySettings"] = safety_settings
    if request.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(t) for t in request.tools]}]
        if request.tool_choice is not None:
            body["toolConfig"] = {"functionCallingConfig": _calling_config(request.tool_choice)}
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


def _contents(messages: Iterable[Message]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    previous_was_tool = False
    for i, message in enumerate(messages):
        is_tool = message.role is Role.TOOL
        if message.role is Role.SYSTEM:
            system.extend({"text": p.text} for p in message.parts if isinstance(p, TextPart))
        elif message.role is Role.USER:
            contents.append({"role": "user", "parts": _user_parts(message, i)})
        elif message.role is Role.ASSISTANT:
            parts = _model_parts(message, i, names)
            if parts:  # an empty reply cannot be replayed: Gemini rejects a turn without parts
                contents.append({"role": "model", "parts": parts})
        else:
            part = _result_part(message, i, names)
            if previous_was_tool:
                contents[-1]["parts"].append(part)
            else:
                contents.append({"role": "user", "parts": [part]})
        previous_was_tool = is_tool
    return system, contents


def _user_parts(message: Message, index: int) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            parts.append({"text": part.text})
        else:
            parts.append(_media_part(part, index))
    return parts


def _media_part(image: ImagePart, index: int) -> dict[str, Any]:
    if image.data is not None:
        return {"inlineData": {"mimeType": image.media_type, "data": image.data}}
    url = image.url or ""
    if url.startswith("data:"):
        media_type, data = _split_data_url(url, index)
        return {"inlineData": {"mimeType": media_type, "data": data}}
    file_data = {"fileUri": url}
    if image.media_type:
        file_data["mimeType"] = image.media_type
    return {"fileData": file_data}


def _split_data_url(url: str, index: int) -> tuple[str, str]:
    header, sep, data = url.partition(",")
    media_type = header.removeprefix("data:").removesuffix(";base64")
    if not sep or not header.endswith(";base64") or not media_type:
        raise ValidationError(
            f"messages[{index}] has an image data: URL that is not "
            f"'data:<media type>;base64,<data>'", field="messages",
        )
    return media_type, data


def _model_parts(message: Message, index: int, names: dict[str, str]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if message.text:
        parts.append({"text": message.text})
    for call in message.tool_calls:
        names[call.id] = call.name
        parts.append(_call_part(call, index))
    return parts


def _call_part(call: ToolCall, index: int) -> dict[str, Any]:
    try:
        args = json.loads(call.arguments or "{}")
    except (json.JSONDecodeError, RecursionError):
        args = None
    if not isinstance(args, dict):
        raise ValidationError(
            f"messages[{index}]: tool call {call.name!r} has arguments that are not a JSON "
            f"object; Gemini needs an object", field="messages",
        )
    sendable_id, old_signature = split_call_id(call.id)
    signature = call.metadata.get(SIGNATURE) or old_signature
    function_call: dict[str, Any] = {"name": call.name, "args": args}
    if sendable_id:
        function_call["id"] = sendable_id
    part: dict[str, Any] = {"functionCall": function_call}
    if signature:
        part["thoughtSignature"] = signature
    return part


def _result_part(message: Message, index: int, names: Mapping[str, str]) -> dict[str, Any]:
    call_id = message.tool_call_id or ""
    name = message.name or names.get(call_id)
    if not name:
        raise ValidationError(
            f"messages[{index}] answers tool call {call_id!r}, but no earlier assistant "
            f"message made that call and the message has no name; Gemini matches results "
            f"by function name, so pass name=... to Message.tool", field="messages",
        )
    response: dict[str, Any] = {"name": name, "response": _result_object(message.text)}
    sendable_id, _ = split_call_id(call_id)
    if sendable_id:
        response["id"] = sendable_id
    return {"functionResponse": response}


def _result_object(text: str) -> dict[str, Any]:
    """Gemini wants an object: a JSON object result as is, anything else under "result"."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return {"result": text}
    return value if isinstance(value, dict) else {"result": text}


def _generation_config(request: ChatRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    if request.stop:
        config["stopSequences"] = list(request.stop)
    if request.seed is not None:
        config["seed"] = request.seed
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        config["responseMimeType"] = "application/json"
        if fmt.type == "json_schema" and fmt.schema is not None:
            key = "responseSchema" if fits_openapi_subset(fmt.schema) else "responseJsonSchema"
            found = unsupported_keyword(fmt.schema) if key == "responseJsonSchema" else None
            if found is not None:
                raise ValidationError(
                    f"Gemini cannot take the response schema's {found[0]!r} (at {found[1]}): "
                    f"its structured output supports types, anyOf, $ref, enum, items, "
                    f"properties and bounds", field="response_format.schema")
            config[key] = dict(fmt.schema)
    return config


def _declaration(tool: Tool) -> dict[str, Any]:
    declaration: dict[str, Any] = {"name": tool.name}
    if tool.description:
        declaration["description"] = tool.description
    parameters = dict(tool.parameters)
    is_object = str(parameters.get("type", "object")).lower() == "object"
    # Gemini rejects an OBJECT schema with no properties: a tool without inputs sends none.
    if parameters and not (is_object and not parameters.get("properties")):
        key = "parameters" if fits_openapi_subset(parameters) else "parametersJsonSchema"
        declaration[key] = parameters
    return declaration


def _calling_config(choice: str) -> dict[str, Any]:
    mode = _TOOL_MODES.get(choice)
    if mode is not None:
        return {"mode": mode}
    return {"mode": "ANY", "allowedFunctionNames": [choice]}
