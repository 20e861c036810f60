"""What a conversation is made of: messages, their content parts, tools and tool calls."""

from __future__ import annotations

import base64
import enum
import json
from collections.abc import Iterable, Mapping
from typing import Any

from attrs import field, frozen

from jtd_ai.errors import MalformedResponseError, ValidationError

__all__ = ["ImagePart", "Message", "Role", "TextPart", "Tool", "ToolCall"]


class Role(enum.StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


@frozen
class TextPart:
    text: str


@frozen
class ImagePart:
    """An image given by URL, or inline as base64 ``data`` with its ``media_type``."""

    url: str | None = None
    data: str | None = None
    media_type: str | None = None

    def __attrs_post_init__(self) -> None:
        if (self.url is None) == (self.data is None):
            raise ValidationError("an image part needs exactly one of url or data", field="image")
        if self.data is not None and not self.media_type:
            raise ValidationError(
                "an inline image needs its media_type, e.g. 'image/png'", field="image.media_type"
            )

    @classmethod
    def from_bytes(cls, raw: bytes, media_type: str) -> ImagePart:
        return cls(data=base64.b64encode(raw).decode("ascii"), media_type=media_type)

    def as_data_url(self) -> str:
        """The image as a URL: the URL itself, or a ``data:`` URL for inline data."""
        if self.url is not None:
            return self.url
        return f"data:{self.media_type};base64,{self.data}"


ContentPart = TextPart | ImagePart


@frozen
class ToolCall:
    """A call the model asked for. ``arguments`` stays the raw JSON text the provider sent."""

    id: str
    name: str
    arguments: str = "{}"

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as a dict; a clear error when the model produced invalid JSON."""
        try:
            value = json.loads(self.arguments or "{}")
        except json.JSONDecodeError as exc:
            raise MalformedResponseError(
                f"tool call {self.name!r} ({self.id}) has arguments that are not valid JSON: "
                f"{exc.msg} at position {exc.pos}; the raw text is in ToolCall.arguments"
            ) from None
        if not isinstance(value, dict):
            raise MalformedResponseError(
                f"tool call {self.name!r} ({self.id}) has arguments that are not a JSON object"
            )
        return value


@frozen
class Tool:
    """A function the model may call: its name, what it does, and a JSON schema of its input."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(factory=lambda: {"type": "object", "properties": {}})

    def __attrs_post_init__(self) -> None:
        if not self.name or not all(c.isalnum() or c in "_-" for c in self.name):
            raise ValidationError(
                f"tool name {self.name!r} must be non-empty letters, digits, '_' or '-'",
                field="tools.name",
            )


def _parts(value: Iterable[ContentPart]) -> tuple[ContentPart, ...]:
    return tuple(value)


def _calls(value: Iterable[ToolCall]) -> tuple[ToolCall, ...]:
    return tuple(value)


@frozen
class Message:
    """One turn. Build with :meth:`system`, :meth:`user`, :meth:`assistant`, :meth:`tool`."""

    role: Role = field(converter=Role)
    parts: tuple[ContentPart, ...] = field(default=(), converter=_parts)
    tool_calls: tuple[ToolCall, ...] = field(default=(), converter=_calls)
    #: For ``Role.TOOL``: which call this message answers.
    tool_call_id: str | None = None
    #: For ``Role.TOOL``: the name of the tool that produced the result.
    name: str | None = None

    @property
    def text(self) -> str:
        """All text parts joined; images are left out."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def images(self) -> tuple[ImagePart, ...]:
        return tuple(p for p in self.parts if isinstance(p, ImagePart))

    @classmethod
    def system(cls, text: str) -> Message:
        return cls(Role.SYSTEM, (TextPart(text),))

    @classmethod
    def user(cls, text: str = "", *, images: Iterable[ImagePart] = ()) -> Message:
        parts: list[ContentPart] = [TextPart(text)] if text else []
        parts.extend(images)
        return cls(Role.USER, tuple(parts))

    @classmethod
    def assistant(cls, text: str = "", *, tool_calls: Iterable[ToolCall] = ()) -> Message:
        return cls(Role.ASSISTANT, (TextPart(text),) if text else (), tuple(tool_calls))

    @classmethod
    def tool(cls, result: str | Mapping[str, Any], *, call_id: str,
             name: str | None = None) -> Message:
        """The result of a tool call, answering the call with id ``call_id``."""
        text = result if isinstance(result, str) else json.dumps(result)
        return cls(Role.TOOL, (TextPart(text),), tool_call_id=call_id, name=name)
