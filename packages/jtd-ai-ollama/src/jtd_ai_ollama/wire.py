"""Ollama's reply payloads as attrs classes, named as on the wire (``api/types.go``).

Read with :func:`jtd_ai.convert.structure_wire`: unknown fields are ignored, a missing
required field raises MalformedResponseError naming it. Go omits zero metrics and may send
``null`` lists, so counts default to 0 and lists may be None.
"""

from __future__ import annotations

from typing import Any

from attrs import frozen

__all__ = [
    "ChatMessage",
    "ChatResponse",
    "Function",
    "ModelDetails",
    "PsResponse",
    "RunningModel",
    "ShowResponse",
    "TagModel",
    "TagsResponse",
    "WireToolCall",
]


@frozen
class Function:
    name: str
    arguments: Any = None
    index: int | None = None


@frozen
class WireToolCall:
    function: Function
    id: str | None = None


@frozen
class ChatMessage:
    role: str = "assistant"
    content: str = ""
    thinking: str | None = None
    tool_calls: tuple[WireToolCall, ...] | None = None


@frozen
class ChatResponse:
    """A whole ``/api/chat`` reply, or one NDJSON line of a stream (same shape).

    ``response``/``thinking`` are where ``/api/generate`` puts its text; they are read too
    so a generate stream decodes the same way."""

    model: str = ""
    created_at: str | None = None
    message: ChatMessage | None = None
    response: str | None = None
    thinking: str | None = None
    done: bool = False
    done_reason: str | None = None
    prompt_eval_count: int = 0
    eval_count: int = 0
    total_duration: int | None = None
    load_duration: int | None = None
    prompt_eval_duration: int | None = None
    eval_duration: int | None = None


@frozen
class ModelDetails:
    parent_model: str | None = None
    format: str | None = None
    family: str | None = None
    families: tuple[str, ...] | None = None
    parameter_size: str | None = None
    quantization_level: str | None = None
    context_length: int | None = None


@frozen
class TagModel:
    name: str
    model: str | None = None
    modified_at: str | None = None
    size: int | None = None
    digest: str | None = None
    details: ModelDetails | None = None
    capabilities: tuple[str, ...] | None = None


@frozen
class TagsResponse:
    models: tuple[TagModel, ...] | None = None


@frozen
class ShowResponse:
    capabilities: tuple[str, ...] | None = None
    details: ModelDetails | None = None
    model_info: dict[str, Any] | None = None
    parameters: str | None = None
    modified_at: str | None = None


@frozen
class RunningModel:
    name: str
    model: str | None = None
    size: int | None = None
    size_vram: int | None = None
    context_length: int | None = None
    expires_at: str | None = None
    details: ModelDetails | None = None


@frozen
class PsResponse:
    models: tuple[RunningModel, ...] | None = None
